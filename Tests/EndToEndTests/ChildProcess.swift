import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with posix_spawn and reaped with waitpid.
///
/// Foundation's `Process` is not used: on Linux its exit notification can be missed while the
/// test process's other threads are busy, leaving a test waiting forever on a child that has
/// long exited (seen as a `<defunct>` child under load).
final class ChildProcess: Sendable {
    let processIdentifier: Int32
    private let status = Mutex<Int32?>(nil)

    /// Starts `executable` with `arguments`; standard input is /dev/null, standard output goes
    /// to `output` (created or truncated) and so does standard error unless `errorToOutput` is false
    /// (then it stays the test's own).
    /// `standardInput`, when given, is a descriptor (the read end of a pipe, say) the child reads as its standard input.
    /// `environment` adds to (or replaces in) the test's own environment.
    init(executable: String, arguments: [String], output: String, errorToOutput: Bool = true, standardInput: Int32? = nil,
         environment: [String: String] = [:]) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let standardInput {
            posix_spawn_file_actions_adddup2(&actions, standardInput, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if errorToOutput { posix_spawn_file_actions_adddup2(&actions, 1, 2) }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc: Int32
        if environment.isEmpty {
            rc = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        } else {
            var merged = ProcessInfo.processInfo.environment
            for (k, v) in environment { merged[k] = v }
            let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer { for p in envp { free(p) } }
            rc = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        }
        guard rc == 0 else { throw HarnessError("cannot start \(executable): \(String(cString: strerror(rc)))") }
        processIdentifier = pid
    }

    /// Reaps the child if it has exited; true while it runs.
    var isRunning: Bool {
        status.withLock { s in
            if s != nil { return false }
            var raw: Int32 = 0
            let r = waitpid(processIdentifier, &raw, WNOHANG)
            if r == processIdentifier { s = Self.decode(raw); return false }
            return r == 0
        }
    }

    func waitUntilExit() {
        status.withLock { s in
            guard s == nil else { return }
            var raw: Int32 = 0
            while true {
                let r = waitpid(processIdentifier, &raw, 0)
                if r == processIdentifier { s = Self.decode(raw); return }
                if r < 0 && errno != EINTR { s = -1; return }
            }
        }
    }

    /// The exit status, or the number of the signal that ended the child (as Foundation's
    /// `Process.terminationStatus`); -1 when it could not be known.
    var terminationStatus: Int32 {
        waitUntilExit()
        return status.withLock { $0 ?? -1 }
    }

    private static func decode(_ raw: Int32) -> Int32 {
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : signal
    }
}
