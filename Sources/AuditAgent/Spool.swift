import Foundation
import Gzip
#if canImport(Glibc)
import Glibc
#endif

/// A batch waiting in the spool: its compressed body and where its events came from.
public struct SpooledBatch: Sendable {
    /// The file name without `.batch` (sorts in delivery order).
    public var key: String
    public var batchID: String
    /// The compressed NDJSON body (gzip or zstd, told apart by its first bytes), exactly as it will be sent.
    public var body: [UInt8]
    public var eventCount: Int
    /// For each event (in order): index into `paths` and the line number.
    public var paths: [String]
    public var sources: [[Int64]]
    public var storedBytes: Int
}

/// The agent's on-disk spool: batches that could not be delivered yet, in order.
///
/// While no aggregator answers, the agent keeps reading its files and spools
/// what it read, so that kube-apiserver deleting old backups cannot destroy
/// unshipped events; a file's checkpoint moves once its events are durably
/// in the spool, and a spooled batch is deleted only after an aggregator
/// acknowledged it.
///
/// Format: one file per batch, `STATE/spool/SEQUENCE.batch` (20-digit decimal
/// sequence, so names sort in order; a batch split after a 413 becomes
/// `SEQUENCE.0.batch` and `SEQUENCE.1.batch`, which sort in its place),
/// written with a temporary name, fsynced,
/// renamed, and the directory fsynced. Content:
///
///     "ASP1" | u32 header length | u32 body length | u32 CRC-32 of header+body | header JSON | body
///
/// (integers little-endian). The header is `{"batchID","events","paths","sources"}`.
/// A file that fails its checks (torn by a crash before the rename is not
/// possible; a damaged disk is) is moved to `spool/damaged/`, logged and counted.
///
/// Thread-safe: the agent's compressing thread appends while its delivery thread
/// reads and removes the head. A batch's sequence is reserved when it is cut, so
/// a batch spooled late (after a failed attempt) still sorts before later ones.
public final class Spool: @unchecked Sendable {
    public let directory: String
    public let maxBytes: Int64
    private let lock = NSLock()
    // Guarded by `lock`.
    private var files: [(key: String, size: Int64)] = []
    private var nextSequence: UInt64 = 1
    private var storedBytes: Int64 = 0
    private var damagedNames: [String] = []

    /// Bytes on disk.
    public var bytes: Int64 { lock.withLock { storedBytes } }
    /// Files set aside as damaged, oldest first.
    public var damaged: [String] { lock.withLock { damagedNames } }

    struct Header: Codable {
        var batchID: String
        var events: Int
        var paths: [String]
        var sources: [[Int64]]
    }

    public init(directory: String, maxBytes: Int64) throws {
        self.directory = directory
        self.maxBytes = maxBytes
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            if name.hasSuffix(".tmp") { try? FileManager.default.removeItem(atPath: directory + "/" + name); continue }
            guard name.hasSuffix(".batch") else { continue }
            let key = String(name.dropLast(6))
            guard let top = UInt64(key.split(separator: ".").first ?? "") else { continue }
            let attributes = try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)
            let size = Int64((attributes?[.size] as? Int) ?? 0)
            files.append((key, size))
            storedBytes += size
            nextSequence = max(nextSequence, top + 1)
        }
        files.sort { $0.key < $1.key }
    }

    public var isEmpty: Bool { lock.withLock { files.isEmpty } }
    public var count: Int { lock.withLock { files.count } }
    public var isFull: Bool { lock.withLock { storedBytes >= maxBytes } }

    /// The sequence of the oldest batch, or nil when the spool is empty.
    public var headSequence: UInt64? {
        lock.withLock { files.first.flatMap { UInt64($0.key.split(separator: ".").first ?? "") } }
    }

    /// Reserves the sequence a batch will have if it is spooled (its place in the order).
    public func reserveSequence() -> UInt64 {
        lock.withLock {
            defer { nextSequence += 1 }
            return nextSequence
        }
    }

    /// Durably appends a batch, with a new sequence.
    public func append(batchID: String, body: [UInt8], eventCount: Int, paths: [String], sources: [[Int64]]) throws {
        try append(sequence: reserveSequence(), batchID: batchID, body: body, eventCount: eventCount, paths: paths, sources: sources)
    }

    /// Durably writes a batch under a reserved sequence, in its place in the order.
    public func append(sequence: UInt64, batchID: String, body: [UInt8], eventCount: Int, paths: [String], sources: [[Int64]]) throws {
        let key = String(format: "%020llu", sequence)
        let size = try write(key: key, batchID: batchID, body: body, eventCount: eventCount, paths: paths, sources: sources)
        lock.withLock {
            let at = files.firstIndex { $0.key > key } ?? files.endIndex
            files.insert((key, size), at: at)
            storedBytes += size
        }
    }

    private func write(key: String, batchID: String, body: [UInt8], eventCount: Int, paths: [String], sources: [[Int64]]) throws -> Int64 {
        let record = try Spool.encodeRecord(batchID: batchID, body: body, eventCount: eventCount, paths: paths, sources: sources)
        try Durable.write(Data(record), to: directory + "/" + key + ".batch")
        return Int64(record.count)
    }

    /// The oldest batch, or nil. Damaged files are set aside (and reported in `damaged`).
    /// Only one thread (the delivery thread) takes, removes or splits the head.
    public func head() -> SpooledBatch? {
        while let first = lock.withLock({ files.first }) {
            let path = directory + "/" + first.key + ".batch"
            if let batch = read(path, key: first.key) { return batch }
            let damagedDir = directory + "/damaged"
            try? FileManager.default.createDirectory(atPath: damagedDir, withIntermediateDirectories: true)
            _ = rename(path, damagedDir + "/" + first.key + ".batch")
            lock.withLock {
                damagedNames.append(first.key + ".batch")
                files.removeAll { $0.key == first.key }
                storedBytes -= first.size
            }
        }
        return nil
    }

    /// Deletes the oldest batch (after it was acknowledged).
    public func removeHead() throws {
        guard let first = lock.withLock({ files.first }) else { return }
        try FileManager.default.removeItem(atPath: directory + "/" + first.key + ".batch")
        try Durable.syncDirectory(directory)
        lock.withLock {
            files.removeAll { $0.key == first.key }
            storedBytes -= first.size
        }
    }

    /// Replaces the oldest batch with two halves in its place (after a 413).
    public func splitHead(_ halves: [(batchID: String, body: [UInt8], eventCount: Int, paths: [String], sources: [[Int64]])]) throws {
        guard let first = lock.withLock({ files.first }) else { return }
        var added: [(key: String, size: Int64)] = []
        for (i, h) in halves.enumerated() {
            let key = first.key + ".\(i)"
            added.append((key, try write(key: key, batchID: h.batchID, body: h.body, eventCount: h.eventCount, paths: h.paths, sources: h.sources)))
        }
        try FileManager.default.removeItem(atPath: directory + "/" + first.key + ".batch")
        try Durable.syncDirectory(directory)
        lock.withLock {
            files.removeAll { $0.key == first.key }
            storedBytes -= first.size
            let at = files.firstIndex { $0.key > first.key } ?? files.endIndex
            files.insert(contentsOf: added, at: at)
            storedBytes += added.reduce(0) { $0 + $1.size }
        }
    }

    private func read(_ path: String, key: String) -> SpooledBatch? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? Spool.decodeRecord([UInt8](data), key: key).get()
    }

    /// Why a spool record cannot be used.
    public struct RecordError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Decodes one spool record (the content of a `.batch` file). Pure: the agent's
    /// reader and the fuzz target call this. A record that decodes is consistent:
    /// one source per event, each naming a path of the record.
    public static func decodeRecord(_ bytes: [UInt8], key: String) -> Result<SpooledBatch, RecordError> {
        func fail(_ m: String) -> Result<SpooledBatch, RecordError> { .failure(RecordError(message: m)) }
        guard bytes.count >= 16 else { return fail("record of \(bytes.count) bytes is shorter than its 16-byte header") }
        guard bytes[0..<4].elementsEqual([0x41, 0x53, 0x50, 0x31]) else { return fail("record does not start with ASP1") }
        func u32(_ at: Int) -> Int { Int(UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24) }
        let headerLength = u32(4), bodyLength = u32(8), crc = UInt32(u32(12))
        guard 16 + headerLength + bodyLength == bytes.count else {
            return fail("record is \(bytes.count) bytes, its header says \(16 + headerLength + bodyLength)")
        }
        let payload = Array(bytes[16...])
        guard Gzip.crc32(payload) == crc else { return fail("record fails its CRC-32") }
        guard let header = try? JSONDecoder().decode(Header.self, from: Data(payload[0..<headerLength])) else {
            return fail("record header is not the expected JSON")
        }
        guard header.events >= 0, header.sources.count == header.events else {
            return fail("record header counts \(header.events) events but has \(header.sources.count) sources")
        }
        for source in header.sources {
            guard source.count == 2, source[0] >= 0, source[0] < Int64(header.paths.count), source[1] >= 0 else {
                return fail("record header has a source \(source) that does not name one of its \(header.paths.count) paths and a line")
            }
        }
        return .success(SpooledBatch(key: key, batchID: header.batchID, body: Array(payload[headerLength...]),
                                     eventCount: header.events, paths: header.paths, sources: header.sources, storedBytes: bytes.count))
    }

    /// Encodes a record (the inverse of ``decodeRecord(_:key:)``).
    public static func encodeRecord(batchID: String, body: [UInt8], eventCount: Int, paths: [String], sources: [[Int64]]) throws -> [UInt8] {
        let header = try JSONEncoder().encode(Header(batchID: batchID, events: eventCount, paths: paths, sources: sources))
        var record: [UInt8] = Array("ASP1".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { record.append(contentsOf: $0) } }
        u32(UInt32(header.count))
        u32(UInt32(body.count))
        var payload = [UInt8](header)
        payload.append(contentsOf: body)
        u32(Gzip.crc32(payload))
        record.append(contentsOf: payload)
        return record
    }
}
