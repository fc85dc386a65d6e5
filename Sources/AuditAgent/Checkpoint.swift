import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One file's progress: everything up to `offset` has been acknowledged by an aggregator.
public struct CheckpointRecord: Codable, Sendable, Hashable {
    /// Path the file was last seen at.
    public var path: String
    public var identity: FileIdentity
    /// Offset after the last acknowledged byte.
    public var offset: Int64
    /// Lines (newlines) before `offset`, for error messages naming file:line.
    public var line: Int64
    /// True when the file was rotated away and shipped to its end (absent means false).
    public var complete: Bool?
    /// True for the old content of a truncated file: a copy of it may sit beside the file
    /// (copytruncate) and is read from `offset`; if none turns up, lines may have been lost.
    public var beforeTruncation: Bool?

    public init(path: String, identity: FileIdentity, offset: Int64, line: Int64) {
        self.path = path
        self.identity = identity
        self.offset = offset
        self.line = line
    }
}

/// The on-disk checkpoint file, `STATE/checkpoints.json`.
///
/// Format (JSON): `{"version":1,"records":[CheckpointRecord…],"checksum":"…"}`
/// where `checksum` is FNV-1a 64 over the canonical encoding of `records`.
/// Written to a temporary file, fsynced, renamed over the stable name, and
/// the directory fsynced; the previous good copy is kept as
/// `checkpoints.json.prev`. A corrupt or truncated file is detected by its
/// checksum and the previous copy is used, never a crash loop.
public struct CheckpointFile: Sendable {
    public static let currentVersion = 1
    public let directory: String
    public var path: String { directory + "/checkpoints.json" }
    public var previousPath: String { directory + "/checkpoints.json.prev" }

    /// The content this value last wrote, so that the next save knows the current file is good
    /// by comparing bytes instead of decoding and checksumming it again (a save per acknowledgement).
    private let lastWritten = LastWritten()

    public init(directory: String) { self.directory = directory }

    private final class LastWritten: @unchecked Sendable {
        // Only the agent's reading thread saves; the lock keeps the value safe anyway.
        private let lock = NSLock()
        private var data: Data?
        func get() -> Data? { lock.withLock { data } }
        func set(_ d: Data?) { lock.withLock { data = d } }
    }

    struct Envelope: Codable {
        var version: Int
        var records: [CheckpointRecord]
        var checksum: String
    }

    /// What loading found.
    public struct Loaded: Sendable {
        public var records: [CheckpointRecord]
        /// Problems met on the way (a corrupt current file, say): log them.
        public var warnings: [String]
    }

    static func canonical(_ records: [CheckpointRecord]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(records)
    }

    static func checksum(_ records: [CheckpointRecord]) throws -> String {
        let data = try canonical(records)
        return FileIdentity.hex(data.withUnsafeBytes { FileIdentity.fnv1a($0) })
    }

    /// Loads the newest valid copy; no file at all is an empty checkpoint.
    public func load() -> Loaded {
        var warnings: [String] = []
        for candidate in [path, previousPath] {
            guard let data = FileManager.default.contents(atPath: candidate) else { continue }
            switch CheckpointFile.decode(data) {
            case .success(let records): return Loaded(records: records, warnings: warnings)
            case .failure(let problem): warnings.append("checkpoint '\(candidate)' \(problem.message); using the previous copy")
            }
        }
        return Loaded(records: [], warnings: warnings)
    }

    /// Why a checkpoint file's content cannot be used.
    public struct DecodeError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Decodes the content of a checkpoint file. Pure: `load()` and the fuzz target call it.
    /// Records that decode have non-negative offsets and line numbers.
    public static func decode(_ data: Data) -> Result<[CheckpointRecord], DecodeError> {
        let envelope: Envelope
        do {
            envelope = try JSONDecoder().decode(Envelope.self, from: data)
        } catch {
            return .failure(DecodeError(message: "is unreadable (\(error))"))
        }
        guard envelope.version <= CheckpointFile.currentVersion else {
            return .failure(DecodeError(message: "has version \(envelope.version), newer than this agent understands (\(CheckpointFile.currentVersion))"))
        }
        guard (try? CheckpointFile.checksum(envelope.records)) == envelope.checksum else {
            return .failure(DecodeError(message: "fails its checksum (damaged by a crash?)"))
        }
        for r in envelope.records where r.offset < 0 || r.line < 0 {
            return .failure(DecodeError(message: "has a record for '\(r.path)' with a negative offset or line"))
        }
        return .success(envelope.records)
    }

    /// Encodes records as a checkpoint file's content (the inverse of ``decode(_:)``).
    public static func encode(_ records: [CheckpointRecord]) throws -> Data {
        let envelope = Envelope(version: CheckpointFile.currentVersion, records: records, checksum: try CheckpointFile.checksum(records))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(envelope)
    }

    /// Writes the records durably (temp file, fsync, rename, fsync directory).
    public func save(_ records: [CheckpointRecord]) throws {
        let data = try CheckpointFile.encode(records)
        // Keep the current file as the previous copy only when it is itself good,
        // so that a damaged file never replaces the last good one.
        let known = lastWritten.get()
        let currentIsGood = FileManager.default.contents(atPath: path).flatMap { current -> Bool? in
            if let known, current == known { return true }
            if case .success = CheckpointFile.decode(current) { return true }
            return false
        } ?? false
        lastWritten.set(nil)
        try Durable.write(data, to: path, keepingPreviousAt: currentIsGood ? previousPath : nil)
        lastWritten.set(data)
    }
}

/// Durable file replacement.
public enum Durable {
    /// Writes `data` to `path` atomically and durably. When `previous` is
    /// given, the old content of `path` is first moved there.
    public static func write(_ data: Data, to path: String, keepingPreviousAt previous: String? = nil) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError(path: tmp, operation: "create", errno: errno) }
        var ok = true
        var err: Int32 = 0
        data.withUnsafeBytes { p in
            var done = 0
            while done < p.count, let base = p.baseAddress {
                let n = Glibc.write(fd, base + done, p.count - done)
                if n < 0 { if errno == EINTR { continue }; ok = false; err = errno; return }
                done += n
            }
        }
        if ok && fsync(fd) != 0 { ok = false; err = errno }
        close(fd)
        guard ok else { throw FileError(path: tmp, operation: "write", errno: err) }
        if let previous, access(path, F_OK) == 0 {
            // A hard link keeps the old copy without a window where `path` is missing.
            unlink(previous)
            if link(path, previous) != 0 { _ = rename(path, previous) }
        }
        guard rename(tmp, path) == 0 else { throw FileError(path: path, operation: "rename into place", errno: errno) }
        try syncDirectory(dir.isEmpty ? "." : dir)
    }

    /// fsyncs a directory so that a rename in it is durable.
    public static func syncDirectory(_ dir: String) throws {
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw FileError(path: dir, operation: "open directory", errno: errno) }
        defer { close(dfd) }
        guard fsync(dfd) == 0 else { throw FileError(path: dir, operation: "fsync directory", errno: errno) }
    }
}
