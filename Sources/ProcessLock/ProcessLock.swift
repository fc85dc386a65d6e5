#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive lock held for a process's life on a lock file: one agent or backfill per state
/// directory, one aggregator per SQLite store it writes.
///
/// `flock(2)` on an open file: the kernel releases it when the process dies, however it dies,
/// so a stale lock file left by a killed process never blocks a restart. The holder writes its
/// process id and what it is into the file, so a second process can say who holds it.
public final class ProcessLock: Sendable {
    /// The lock file.
    public let path: String
    private let descriptor: Int32

    /// Why a lock could not be taken; the description names the lock file and the holder.
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public var path: String
        /// What the lock guards, for the message ("state directory /var/lib/auditship").
        public var guarding: String
        /// The holder's process id and role, as it wrote them; nil when unreadable.
        public var holderPID: Int32?
        public var holderRole: String?
        /// Set when the file could not be opened or locked at all (not held by another process).
        public var systemError: String?

        public var description: String {
            if let systemError {
                return "cannot lock \(guarding): \(path): \(systemError)"
            }
            var holder = "another process"
            if let pid = holderPID { holder = "process \(pid)" + (holderRole.map { " (\($0))" } ?? "") }
            return "\(guarding) is in use by \(holder), which holds \(path); only one process may use it at a time: stop that one first"
        }
    }

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Takes the lock at once or throws a `Refusal` naming the holder; never waits.
    /// - Parameters:
    ///   - path: the lock file, created if missing (mode 0600).
    ///   - guarding: what it guards, for messages ("state directory /x").
    ///   - role: what this process is, written for the next one ("auditship agent").
    public static func acquire(path: String, guarding: String, role: String) throws(Refusal) -> ProcessLock {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw Refusal(path: path, guarding: guarding, systemError: String(cString: strerror(errno)))
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            let holder = readHolder(fd)
            close(fd)
            if code == EWOULDBLOCK || code == EAGAIN {
                throw Refusal(path: path, guarding: guarding, holderPID: holder.pid, holderRole: holder.role)
            }
            throw Refusal(path: path, guarding: guarding, systemError: String(cString: strerror(code)))
        }
        let record = Array("\(getpid()) \(role)\n".utf8)
        _ = ftruncate(fd, 0)
        _ = record.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return ProcessLock(path: path, descriptor: fd)
    }

    /// The lock file for a state directory, and the lock taken on it.
    public static func acquire(stateDirectory: String, role: String) throws(Refusal) -> ProcessLock {
        try acquire(path: stateDirectory + "/lock", guarding: "state directory \(stateDirectory)", role: role)
    }

    /// Reads "PID ROLE" as the holder wrote it.
    static func readHolder(_ fd: Int32) -> (pid: Int32?, role: String?) {
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return (nil, nil) }
        let text = String(decoding: buffer[..<n], as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
        let parts = text.split(separator: " ", maxSplits: 1)
        guard let first = parts.first, let pid = Int32(first), pid > 0 else { return (nil, nil) }
        return (pid, parts.count > 1 ? String(parts[1]) : nil)
    }
}
