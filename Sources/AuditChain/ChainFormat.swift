import OpenSSLKit

/// The hash chain's byte formats (Protocols/integrity.md §2). Pure functions: the store
/// computes them at ingest, `verify` and third parties recompute them.
///
/// - An event's hash commits to its tags and its stored bytes:
///   `SHA-256("auditship-event-v1" 0x00 ‖ str(cluster) ‖ str(node) ‖ SHA-256(raw))`,
///   where `str(s)` is the UTF-8 length as a big-endian u16 followed by the bytes.
/// - A leaf is 48 bytes: ingest id (i64 BE), order timestamp in µs (i64 BE), event hash.
///   A block's leaves are its stored events in ingest order; `leavesRoot = SHA-256(leaves)`.
/// - A block's hash: `SHA-256("auditship-block-v1" 0x00 ‖ str(cluster) ‖ u64 height ‖ prev (32)
///   ‖ i64 createdAt µs ‖ u32 leaf count ‖ leavesRoot)`. Height 1 has 32 zero bytes as `prev`.
public enum ChainFormat {
    public static let leafSize = 48
    public static let zeroHash = [UInt8](repeating: 0, count: 32)

    /// The hash of an event: its tags and the SHA-256 of its stored bytes (`digest`).
    public static func eventHash(cluster: String, node: String, digest: [UInt8]) -> [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(64 + cluster.utf8.count + node.utf8.count)
        b.append(contentsOf: "auditship-event-v1".utf8)
        b.append(0)
        appendString(&b, cluster)
        appendString(&b, node)
        b.append(contentsOf: digest)
        return SHA256.hash(b)
    }

    /// Appends one leaf to a leaves blob.
    public static func appendLeaf(_ blob: inout [UInt8], id: Int64, timestamp: Int64, eventHash: [UInt8]) {
        appendInt64(&blob, id)
        appendInt64(&blob, timestamp)
        blob.append(contentsOf: eventHash.prefix(32))
        if eventHash.count < 32 { blob.append(contentsOf: [UInt8](repeating: 0, count: 32 - eventHash.count)) }
    }

    /// The leaves of a blob; nil when its length is not a multiple of 48.
    public static func leaves(_ blob: [UInt8]) -> [ChainLeaf]? {
        guard blob.count % leafSize == 0 else { return nil }
        var out: [ChainLeaf] = []
        out.reserveCapacity(blob.count / leafSize)
        var i = 0
        while i < blob.count {
            out.append(ChainLeaf(id: readInt64(blob, i), timestamp: readInt64(blob, i + 8), eventHash: Array(blob[(i + 16)..<(i + 48)])))
            i += leafSize
        }
        return out
    }

    /// The block hash of a header.
    public static func blockHash(cluster: String, height: Int64, previous: [UInt8], createdAt: Int64, leafCount: Int, leavesRoot: [UInt8]) -> [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(128)
        b.append(contentsOf: "auditship-block-v1".utf8)
        b.append(0)
        appendString(&b, cluster)
        appendInt64(&b, height)
        b.append(contentsOf: previous)
        appendInt64(&b, createdAt)
        let n = UInt32(clamping: leafCount)
        b.append(contentsOf: [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)])
        b.append(contentsOf: leavesRoot)
        return SHA256.hash(b)
    }

    static func appendString(_ b: inout [UInt8], _ s: String) {
        let n = UInt16(clamping: s.utf8.count)
        b.append(UInt8(n >> 8))
        b.append(UInt8(n & 0xFF))
        b.append(contentsOf: s.utf8.prefix(Int(n)))
    }

    static func appendInt64(_ b: inout [UInt8], _ v: Int64) {
        let u = UInt64(bitPattern: v)
        for shift in stride(from: 56, through: 0, by: -8) { b.append(UInt8((u >> UInt64(shift)) & 0xFF)) }
    }

    static func readInt64(_ b: [UInt8], _ at: Int) -> Int64 {
        var u: UInt64 = 0
        for k in 0..<8 { u = (u << 8) | UInt64(b[at + k]) }
        return Int64(bitPattern: u)
    }
}

/// One event's entry in a block.
public struct ChainLeaf: Sendable, Hashable {
    public var id: Int64
    /// The event's order timestamp, microseconds (what retention prunes by).
    public var timestamp: Int64
    public var eventHash: [UInt8]
    public init(id: Int64, timestamp: Int64, eventHash: [UInt8]) {
        self.id = id
        self.timestamp = timestamp
        self.eventHash = eventHash
    }
}

/// A block as stored: the header, the stored hash, and (when asked for) the leaves.
public struct ChainBlock: Sendable, Hashable {
    public var cluster: String
    public var height: Int64
    public var previous: [UInt8]
    /// When the block was committed (ingest time), µs since the epoch.
    public var createdAt: Int64
    public var leafCount: Int
    public var leavesRoot: [UInt8]
    /// The hash the store recorded (the next block's `previous`).
    public var hash: [UInt8]
    /// Smallest and largest order timestamp of the block's events (to find blocks by time).
    public var minTimestamp: Int64
    public var maxTimestamp: Int64
    /// The batch id the client sent (informational, not hashed).
    public var batchID: String
    /// The leaves blob, when fetched.
    public var leaves: [UInt8]?
    /// When the store rebuilds `leaves` from the events it holds instead of storing them: what it
    /// recorded of each leaf at ingest, to say which event a mismatch is about (`LeafFingerprint`).
    public var fingerprints: [LeafFingerprint]?

    public init(cluster: String, height: Int64, previous: [UInt8], createdAt: Int64, leafCount: Int, leavesRoot: [UInt8],
                hash: [UInt8], minTimestamp: Int64, maxTimestamp: Int64, batchID: String, leaves: [UInt8]? = nil) {
        self.cluster = cluster
        self.height = height
        self.previous = previous
        self.createdAt = createdAt
        self.leafCount = leafCount
        self.leavesRoot = leavesRoot
        self.hash = hash
        self.minTimestamp = minTimestamp
        self.maxTimestamp = maxTimestamp
        self.batchID = batchID
        self.leaves = leaves
    }

    /// The hash recomputed from the header fields.
    public var computedHash: [UInt8] {
        ChainFormat.blockHash(cluster: cluster, height: height, previous: previous, createdAt: createdAt,
                              leafCount: leafCount, leavesRoot: leavesRoot)
    }

    /// The next block of a chain whose head is (`height`, `hash`), holding `leaves` (a leaves blob).
    public static func next(cluster: String, afterHeight height: Int64, previous: [UInt8], createdAt: Int64,
                            leaves: [UInt8], batchID: String) -> ChainBlock {
        let count = leaves.count / ChainFormat.leafSize
        let root = SHA256.hash(leaves)
        var minTs = Int64.max, maxTs = Int64.min
        var i = 8
        while i < leaves.count {
            let ts = ChainFormat.readInt64(leaves, i)
            minTs = min(minTs, ts)
            maxTs = max(maxTs, ts)
            i += ChainFormat.leafSize
        }
        if count == 0 { minTs = 0; maxTs = 0 }
        let h = ChainFormat.blockHash(cluster: cluster, height: height + 1, previous: previous, createdAt: createdAt,
                                      leafCount: count, leavesRoot: root)
        return ChainBlock(cluster: cluster, height: height + 1, previous: previous, createdAt: createdAt, leafCount: count,
                          leavesRoot: root, hash: h, minTimestamp: minTs, maxTimestamp: maxTs, batchID: batchID, leaves: leaves)
    }
}

/// The head of one cluster's chain.
public struct ChainHead: Sendable, Hashable {
    public var cluster: String
    public var height: Int64
    public var hash: [UInt8]
    public init(cluster: String, height: Int64, hash: [UInt8]) {
        self.cluster = cluster
        self.height = height
        self.hash = hash
    }
}

/// Chain names. A cluster's first chain is named by the cluster; a PostgreSQL store whose
/// writers of one cluster commit at the same time opens more, *lanes*, named `CLUSTER~N`
/// (N ≥ 1). Cluster names hold only `[a-z0-9._-]`, so `~` cannot be part of one.
public enum ChainName {
    public static func name(cluster: String, lane: Int) -> String { lane == 0 ? cluster : "\(cluster)~\(lane)" }

    /// The cluster a chain belongs to.
    public static func cluster(of name: String) -> String {
        name.firstIndex(of: "~").map { String(name[..<$0]) } ?? name
    }

    /// The chain's lane (0 for the cluster's first chain; `Int.max` for a name that is not a lane's).
    public static func lane(of name: String) -> Int {
        guard let i = name.firstIndex(of: "~") else { return 0 }
        return Int(name[name.index(after: i)...]).flatMap { $0 > 0 ? $0 : nil } ?? .max
    }

    /// Cluster, then lane.
    public static func order(_ a: String, _ b: String) -> Bool {
        (cluster(of: a), lane(of: a)) < (cluster(of: b), lane(of: b))
    }
}

/// What a store keeps of a chain block's leaves when it can rebuild them from the events it holds
/// (the SQLite store's blocks): each leaf's id, order timestamp and the first 8 bytes of its
/// event hash. The root in the block's header is checked against the rebuilt leaves; the
/// fingerprints only say which event a mismatch is about (modified, deleted, moved), never decide
/// that a block is intact.
public struct LeafFingerprint: Sendable, Hashable {
    public var id: Int64
    public var timestamp: Int64
    /// The first 8 bytes of the leaf's event hash.
    public var prefix: [UInt8]

    public init(id: Int64, timestamp: Int64, prefix: [UInt8]) {
        self.id = id
        self.timestamp = timestamp
        self.prefix = prefix
    }

    public static let prefixSize = 8

    /// The fingerprints of a leaves blob, encoded: count, then per leaf the id and timestamp as
    /// zigzag varint deltas from the previous leaf's (from 0 for the first), then the prefixes.
    public static func encode(leaves blob: [UInt8]) -> [UInt8] {
        let leaves = ChainFormat.leaves(blob) ?? []
        var out: [UInt8] = []
        out.reserveCapacity(leaves.count * (prefixSize + 4) + 4)
        Varint.append(UInt64(leaves.count), to: &out)
        var id: Int64 = 0, ts: Int64 = 0
        for l in leaves {
            Varint.append(Varint.zigzag(l.id &- id), to: &out)
            Varint.append(Varint.zigzag(l.timestamp &- ts), to: &out)
            id = l.id
            ts = l.timestamp
        }
        for l in leaves { out.append(contentsOf: l.eventHash.prefix(prefixSize)) }
        return out
    }

    /// Decodes `encode`'s bytes; nil when they are not well formed.
    public static func decode(_ bytes: [UInt8]) -> [LeafFingerprint]? {
        var i = 0
        guard let n = Varint.read(bytes, at: &i), n <= UInt64(bytes.count) else { return nil }
        var out: [LeafFingerprint] = []
        out.reserveCapacity(Int(n))
        var id: Int64 = 0, ts: Int64 = 0
        for _ in 0..<n {
            guard let d = Varint.read(bytes, at: &i), let t = Varint.read(bytes, at: &i) else { return nil }
            id = id &+ Varint.unzigzag(d)
            ts = ts &+ Varint.unzigzag(t)
            out.append(LeafFingerprint(id: id, timestamp: ts, prefix: []))
        }
        guard bytes.count - i == out.count * prefixSize else { return nil }
        for k in out.indices {
            out[k].prefix = Array(bytes[i..<i + prefixSize])
            i += prefixSize
        }
        return out
    }
}
