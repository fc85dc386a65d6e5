import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One live audit file (as given to kube-apiserver's `--audit-log-path`) and
/// the files that hold its history, oldest first: rotated backups still to
/// be read, then the live file itself.
public final class LogSource {
    public let livePath: String
    /// Open files, oldest first. Reading proceeds through them in order.
    public var files: [TailedFile] = []

    public init(livePath: String) { self.livePath = livePath }

    public var directory: String { (livePath as NSString).deletingLastPathComponent }
    public var liveName: String { (livePath as NSString).lastPathComponent }
}

/// What a file on disk turned out to be.
enum FileVerdict {
    /// Being read (open under some TailedFile).
    case open
    /// Fully shipped before (a complete record matches it).
    case done
    /// Not to be read (a compressed twin of an open or complete file, or unreadable).
    case ignored
}

/// Reads the first bytes of a file (uncompressed for gzip) to fingerprint it.
struct FilePrefix {
    var bytes: [UInt8]
    var isGzip: Bool
    /// Which file this was read from, and its change time then.
    var stamp: FileStamp
    var size: Int64

    init(path: String) throws {
        let file = try OpenFile(path: path)
        let (_, size) = try file.identity()
        self.stamp = try file.stamp()
        self.size = size
        var head = [UInt8](repeating: 0, count: 2)
        let n = try file.read(into: &head, at: 0)
        isGzip = n == 2 && head[0] == 0x1F && head[1] == 0x8B
        if isGzip {
            let reader = try GzipFileReader(file: file)
            var buf = [UInt8](repeating: 0, count: FileIdentity.maxFingerprintBytes)
            let got = (try? reader.read(into: &buf, at: 0)) ?? 0
            bytes = Array(buf.prefix(got))
        } else {
            var buf = [UInt8](repeating: 0, count: Int(min(Int64(FileIdentity.maxFingerprintBytes), size)))
            let got = try file.read(into: &buf, at: 0)
            bytes = Array(buf.prefix(got))
        }
    }

    /// True when the first `length` bytes hash to `fingerprint`.
    func matches(_ fingerprint: String, length: Int) -> Bool {
        guard bytes.count >= length else { return false }
        let h = bytes.withUnsafeBytes { FileIdentity.fnv1a(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
        return FileIdentity.hex(h) == fingerprint
    }

    var fingerprint: String { FileIdentity.hex(bytes.withUnsafeBytes { FileIdentity.fnv1a($0) }) }
}

/// A file as `stat` tells it apart: device, inode and change time.
///
/// Device and inode alone do not name a file for long: when a rotated backup is deleted,
/// the filesystem may give its inode to the next file it creates, very often the new live
/// file. Creating a file (and every write) sets its change time, so a cache entry that
/// also remembers the change time can tell the new file from the old one.
struct FileStamp: Equatable {
    var device: UInt64
    var inode: UInt64
    var changeSeconds: Int64
    var changeNanoseconds: Int64

    init(device: UInt64, inode: UInt64, changeSeconds: Int64, changeNanoseconds: Int64) {
        self.device = device
        self.inode = inode
        self.changeSeconds = changeSeconds
        self.changeNanoseconds = changeNanoseconds
    }

    init(_ st: stat) {
        self.init(device: UInt64(st.st_dev), inode: UInt64(st.st_ino),
                  changeSeconds: Int64(st.st_ctim.tv_sec), changeNanoseconds: Int64(st.st_ctim.tv_nsec))
    }

    /// The same file, not changed since (a cached reading of it still holds).
    func isUnchanged(since earlier: FileStamp) -> Bool { self == earlier }
}

/// Lists a directory's entry names; empty when it cannot be read.
func directoryEntries(_ dir: String) -> [String] {
    (try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir)) ?? []
}
