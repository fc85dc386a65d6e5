#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What makes a file the same file across renames: device, inode, and a
/// fingerprint of its first bytes (which catches an inode reused by a new file).
public struct FileIdentity: Sendable, Hashable, Codable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64
    /// Hex of the first `fingerprintLength` bytes' FNV-1a 64-bit hash.
    public var fingerprint: String
    /// How many bytes the fingerprint covers (less than the maximum for small files).
    public var fingerprintLength: Int

    /// Bytes hashed into the fingerprint, at most.
    public static let maxFingerprintBytes = 1024

    public var description: String { "dev=\(device) ino=\(inode) fp=\(fingerprint)/\(fingerprintLength)" }

    /// True when `other` is the same file, allowing for it having grown since
    /// this fingerprint was taken.
    public func sameFile(as other: FileIdentity) -> Bool {
        guard device == other.device, inode == other.inode else { return false }
        let n = min(fingerprintLength, other.fingerprintLength)
        if n == fingerprintLength && n == other.fingerprintLength { return fingerprint == other.fingerprint }
        return true  // caller rechecks over the common length with `matchesPrefix`
    }

    static func fnv1a(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// A file-system failure with the path and the system's reason.
public struct FileError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var operation: String
    public var errno: Int32

    public init(path: String, operation: String, errno: Int32) {
        self.path = path
        self.operation = operation
        self.errno = errno
    }

    public var description: String { "\(operation) '\(path)' failed: \(String(cString: strerror(errno))) (errno \(errno))" }

    public var isNotFound: Bool { errno == ENOENT }
}

/// An open file read with `pread`, closed on deinit.
public final class OpenFile {
    public let path: String
    let fd: Int32

    public init(path: String) throws(FileError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, operation: "open", errno: errno) }
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// Size and identity (fingerprint over up to the first 1 KiB).
    public func identity() throws(FileError) -> (identity: FileIdentity, size: Int64) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileError(path: path, operation: "fstat", errno: errno) }
        let size = Int64(st.st_size)
        let n = Int(min(Int64(FileIdentity.maxFingerprintBytes), size))
        var buffer = [UInt8](repeating: 0, count: n)
        let got = try read(into: &buffer, at: 0)
        let fp = buffer.withUnsafeBytes { FileIdentity.fnv1a(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
        return (FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), fingerprint: FileIdentity.hex(fp), fingerprintLength: got), size)
    }

    /// Device, inode and change time of the open file.
    func stamp() throws(FileError) -> FileStamp {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileError(path: path, operation: "fstat", errno: errno) }
        return FileStamp(st)
    }

    /// Hash of the first `length` bytes (to compare with a shorter fingerprint taken earlier).
    public func fingerprint(length: Int) throws(FileError) -> String {
        var buffer = [UInt8](repeating: 0, count: length)
        let got = try read(into: &buffer, at: 0)
        return FileIdentity.hex(buffer.withUnsafeBytes { FileIdentity.fnv1a(UnsafeRawBufferPointer(rebasing: $0[0..<got])) })
    }

    /// Reads up to `buffer.count` bytes at `offset`; returns how many were read (0 at end of file).
    public func read(into buffer: inout [UInt8], at offset: Int64) throws(FileError) -> Int {
        var total = 0
        while total < buffer.count {
            let n = buffer.withUnsafeMutableBytes { p -> Int in
                guard let base = p.baseAddress else { return 0 }
                return pread(fd, base + total, p.count - total, off_t(offset) + off_t(total))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, operation: "read", errno: errno)
            }
            if n == 0 { break }
            total += n
        }
        return total
    }
}
