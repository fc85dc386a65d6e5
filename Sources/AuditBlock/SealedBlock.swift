import AuditChain
import AuditModel
import OpenSSLKit
import Zstd

/// A sealed block: the exact bytes of up to a few thousand events of one cluster, compressed
/// together, with their search columns, index postings and hourly rollup, ready for a store to
/// persist as one row (plus posting and rollup rows) and to read back without any per-event row.
///
/// This type is pure apart from zstd and SHA-256: stores only persist and fetch what it makes.
public struct SealedBlock: Sendable {
    /// The format's version, stored with the block: 2 since the raw part is cut into frames read
    /// alone (`FramedRaw`); a reader takes both, telling them apart by the part's first byte.
    public static let formatVersion: UInt8 = 2
    /// Most events a block takes.
    public static let maxEvents = 65_536
    /// zstd level for both parts (3: zstd's default, about 400 MB/s a core on audit logs).
    public static let defaultLevel: Int32 = 3

    public var cluster: String
    public var count: Int
    /// Smallest and largest order timestamps, microseconds.
    public var minTime: Int64
    public var maxTime: Int64
    /// Size of the events' bytes, uncompressed (what free-text search reads).
    public var rawBytes: Int
    /// Event count, each event's length, then the events' bytes in order, in zstd frames that can
    /// be read alone (`FramedRaw`).
    public var raw: [UInt8]
    /// zstd frame of `BlockColumns`.
    public var columns: [UInt8]
    /// The block index (`BlockField.indexed`), sorted by field then value.
    public var postings: [BlockPosting]
    /// Event counts per hour and (verb, user, resource, namespace, code class).
    public var rollup: [(key: RollupKey, count: Int)]
    /// Event counts per minute (minute start, microseconds), sorted: for time histograms.
    public var minutes: [(minute: Int64, count: Int)]

    /// Seals events (exact bytes and the fields read from them) in the order given.
    public static func seal(cluster: String, events: [(bytes: [UInt8], row: BlockRow)], level: Int32 = defaultLevel,
                            framing: RawFraming = .standard) throws(ZstdError) -> SealedBlock {
        try seal(cluster: cluster, bytes: events.map(\.bytes), rows: events.map(\.row), level: level, framing: framing)
    }

    /// Seals events given as their bytes and their rows, in the same order.
    public static func seal(cluster: String, bytes: [[UInt8]], rows: [BlockRow], level: Int32 = defaultLevel,
                            framing: RawFraming = .standard) throws(ZstdError) -> SealedBlock {
        precondition(bytes.count == rows.count, "a block has one row per event")
        precondition(bytes.count <= maxEvents, "a block holds at most \(maxEvents) events")
        var minTime = Int64.max, maxTime = Int64.min
        for i in rows.indices {
            minTime = min(minTime, rows[i].time)
            maxTime = max(maxTime, rows[i].time)
        }
        var rawBytes = 0
        for b in bytes { rawBytes += b.count }
        var payload = ByteWriter(capacity: rawBytes + bytes.count * 3 + 8)
        payload.varint(bytes.count)
        for b in bytes { payload.varint(b.count) }
        let start = payload.bytes.count
        var ends: [Int] = []
        ends.reserveCapacity(bytes.count)
        for b in bytes {
            payload.raw(b)
            ends.append(payload.bytes.count - start)
        }
        return SealedBlock(
            cluster: cluster, count: bytes.count,
            minTime: rows.isEmpty ? 0 : minTime, maxTime: rows.isEmpty ? 0 : maxTime,
            rawBytes: rawBytes,
            raw: try FramedRaw.encode(payload: payload.bytes, start: start, ends: ends, level: level,
                                      headEvents: framing.headEvents, eventsPerFrame: framing.eventsPerFrame),
            columns: try Zstd.compress(BlockColumns.encode(rows), level: level),
            postings: BlockPosting.index(rows),
            rollup: RollupKey.rollup(rows),
            minutes: RollupKey.minutes(rows.map(\.time)))
    }

    /// The bytes a store keeps for this block: both compressed parts and the encoded postings.
    public var storedBytes: Int {
        raw.count + columns.count + postings.reduce(0) { $0 + $1.encodedPositions.count + $1.value.utf8.count + 2 }
    }
}

/// How a raw part is cut into frames (`FramedRaw`): the events frame 0 holds besides the lengths
/// (what every later frame may refer to), and the events of each later frame.
public struct RawFraming: Sendable, Equatable {
    public var headEvents: Int
    public var eventsPerFrame: Int
    public init(headEvents: Int, eventsPerFrame: Int) {
        self.headEvents = max(1, headEvents)
        self.eventsPerFrame = max(1, eventsPerFrame)
    }
    /// 128 and 128: measured on generated events in blocks of 4,096, the block parts take 89.4
    /// bytes an event where one raw frame took 86.4 (64-event frames: 90.9; without the shared
    /// content 64-event frames took 23 bytes more), and reading one event decompresses about
    /// 200 KB instead of the whole part (3 MB).
    public static let standard = RawFraming(headEvents: 128, eventsPerFrame: 128)
}

/// Reads the parts of a stored block, never producing more than the limits allow.
public enum BlockReader {
    /// The events' exact bytes, in block order, from a `raw` part.
    /// - Parameter maxBytes: the most the part may decompress to (a store knows `rawBytes`).
    public static func events(raw: [UInt8], maxBytes requested: Int, maxEvents requestedEvents: Int = SealedBlock.maxEvents) throws(BlockFormatError) -> [[UInt8]] {
        try events(raw: raw, maxBytes: requested, maxEvents: requestedEvents, only: nil).map { $0 ?? [] }
    }

    /// A `raw` part decompressed and its lengths read: the payload, where the events start, and
    /// each event's end offset relative to that start.
    static func rawPayload(_ raw: [UInt8], maxBytes requested: Int, maxEvents requestedEvents: Int) throws(BlockFormatError)
        -> (payload: [UInt8], start: Int, ends: [Int]) {
        // Limits come from stored rows: clamp them so that no arithmetic below can overflow.
        let maxBytes = min(max(0, requested), 1 << 40)
        let maxEvents = min(max(0, requestedEvents), SealedBlock.maxEvents)
        if FramedRaw.isFramed(raw) { return try FramedRaw.payload(raw, maxBytes: maxBytes, maxEvents: maxEvents) }
        let payload: [UInt8]
        do {
            // Lengths take at most 10 bytes per event beyond the events' own bytes.
            payload = try Zstd.decompress(raw, limit: maxBytes + 10 * (maxEvents + 1))
        } catch {
            throw BlockFormatError(.compression, part: "raw", offset: 0, error.description)
        }
        var r = ByteReader(payload, part: "raw")
        let (start, ends) = try lengths(&r, maxBytes: maxBytes, maxEvents: maxEvents)
        let total = ends.last ?? 0
        guard payload.count - start >= total else { throw r.error(.truncated, "the events need \(total) bytes, \(payload.count - start) are left") }
        guard payload.count - start == total else {
            throw BlockFormatError(.invalid, part: "raw", offset: start + total, "\(payload.count - start - total) bytes after the last event")
        }
        return (payload, start, ends)
    }

    /// A payload's event count and lengths: where the events' bytes start, and each event's end
    /// relative to that start.
    static func lengths(_ r: inout ByteReader, maxBytes: Int, maxEvents: Int) throws(BlockFormatError) -> (start: Int, ends: [Int]) {
        let n = try r.count(atMost: maxEvents, "the event count")
        guard n <= r.bytes.count else { throw r.error(.truncated, "\(n) events announced in \(r.bytes.count) bytes") }
        var ends: [Int] = []
        ends.reserveCapacity(n)
        var total = 0
        for _ in 0..<n {
            let length = try r.count(atMost: maxBytes, "an event's length")
            total += length
            guard total <= maxBytes else { throw r.error(.invalid, "the events add up to more than \(maxBytes) bytes") }
            ends.append(total)
        }
        return (r.offset, ends)
    }

    /// The bytes of the events at `only` (all when nil; the others are nil), in block order. A
    /// format-1 part is checked whole; of a framed part, frame 0 and the frames holding the events
    /// asked for are read.
    public static func events(raw: [UInt8], maxBytes requested: Int, maxEvents requestedEvents: Int = SealedBlock.maxEvents,
                              only: Set<Int>?) throws(BlockFormatError) -> [[UInt8]?] {
        if let only, FramedRaw.isFramed(raw) {
            return try FramedRaw.events(raw, maxBytes: min(max(0, requested), 1 << 40),
                                        maxEvents: min(max(0, requestedEvents), SealedBlock.maxEvents), only: only)
        }
        let (payload, start, ends) = try rawPayload(raw, maxBytes: requested, maxEvents: requestedEvents)
        var out: [[UInt8]?] = []
        out.reserveCapacity(ends.count)
        var from = start
        for (i, end) in ends.enumerated() {
            out.append(only.map { $0.contains(i) } ?? true ? Array(payload[from..<start + end]) : nil)
            from = start + end
        }
        return out
    }

    /// How many events the part holds, and the positions of those whose bytes hold `needle`, found
    /// with one search over the decompressed part (a match running from one event into the next does
    /// not count).
    public static func positions(raw: [UInt8], maxBytes requested: Int, maxEvents requestedEvents: Int = SealedBlock.maxEvents,
                                 holding needle: ByteNeedle) throws(BlockFormatError) -> (events: Int, positions: [Int]) {
        let (payload, start, ends) = try rawPayload(raw, maxBytes: requested, maxEvents: requestedEvents)
        let n = ends.count
        let total = ends.last ?? 0
        var out: [Int] = []
        payload.withUnsafeBufferPointer { all in
            var event = 0
            var from = start
            while event < n, let hit = needle.firstOffset(in: all, from: from) {
                let offset = hit - start
                while event < n, ends[event] <= offset { event += 1 }
                guard event < n else { break }
                if offset + needle.bytes.count <= ends[event] {
                    out.append(event)
                    event += 1
                    from = start + (event < n ? ends[event - 1] : total)
                } else {
                    from = hit + 1
                }
            }
        }
        return (n, out)
    }

    /// The order timestamps of a `columns` part, in block order.
    public static func times(columns: [UInt8], maxBytes: Int = 64 << 20, maxRows: Int = SealedBlock.maxEvents) throws(BlockFormatError) -> [Int64] {
        try BlockColumns.decodeTimes(try columnsPayload(columns, maxBytes: maxBytes), maxRows: maxRows)
    }

    /// The rows of a `columns` part.
    public static func rows(columns: [UInt8], maxBytes: Int = 64 << 20, maxRows: Int = SealedBlock.maxEvents) throws(BlockFormatError) -> [BlockRow] {
        try BlockColumns.decode(try columnsPayload(columns, maxBytes: maxBytes), maxRows: maxRows)
    }

    /// A `columns` part decompressed, never past `maxBytes`.
    private static func columnsPayload(_ columns: [UInt8], maxBytes: Int) throws(BlockFormatError) -> [UInt8] {
        do {
            return try Zstd.decompress(columns, limit: min(max(0, maxBytes), 1 << 40))
        } catch {
            throw BlockFormatError(.compression, part: "columns", offset: 0, error.description)
        }
    }
}

/// The hash chain's view of a block: the same 48-byte leaves the chain has always hashed (ingest
/// id, order timestamp, event hash over cluster, node and the bytes' SHA-256), recomputed from
/// what the block holds, so that a block needs to store none of them and a chain block over a
/// sealed block hashes exactly as one over rows did (old checkpoints keep verifying).
public enum BlockChainView {
    /// The leaves blob of a block whose events were given consecutive ingest ids from `firstID`.
    public static func leaves(cluster: String, firstID: Int64, events: [[UInt8]], rows: [BlockRow]) -> [UInt8] {
        precondition(events.count == rows.count, "a block has one row per event")
        var blob: [UInt8] = []
        blob.reserveCapacity(events.count * ChainFormat.leafSize)
        for i in events.indices {
            let hash = ChainFormat.eventHash(cluster: cluster, node: rows[i].node, digest: SHA256.hash(events[i]))
            ChainFormat.appendLeaf(&blob, id: firstID + Int64(i), timestamp: rows[i].time, eventHash: hash)
        }
        return blob
    }
}
