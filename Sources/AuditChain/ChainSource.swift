/// A stored event as `verify` reads it: the row's tags, indexed timestamp and bytes.
public struct ChainEventRow: Sendable, Hashable {
    public var id: Int64
    public var cluster: String
    public var node: String
    public var timestamp: Int64
    public var raw: [UInt8]
    public init(id: Int64, cluster: String, node: String, timestamp: Int64, raw: [UInt8]) {
        self.id = id
        self.cluster = cluster
        self.node = node
        self.timestamp = timestamp
        self.raw = raw
    }
}

/// Store-wide chain facts.
public struct ChainState: Sendable, Hashable {
    /// Retention's watermark: events with an order timestamp before this may have been deleted (µs; 0: none).
    public var prunedBefore: Int64
    /// Events with an ingest id up to this were stored before the store had a chain (0: none).
    public var unchainedThrough: Int64
    public init(prunedBefore: Int64 = 0, unchainedThrough: Int64 = 0) {
        self.prunedBefore = prunedBefore
        self.unchainedThrough = unchainedThrough
    }
}

/// What `verify` and the checkpoint signer read from a store. Both stores implement it;
/// the store-contract tests run the same tamper cases against each.
public protocol ChainSource: Sendable {
    /// Chain names (ChainName: a cluster, or a lane CLUSTER~N) and clusters with stored events, sorted.
    func chainClusters() async throws -> [String]
    /// The newest block of each chain (a cluster's, and its lanes).
    func chainHeads() async throws -> [ChainHead]
    /// Blocks of `cluster` with `from ≤ height ≤ through`, by height; leaves only when asked.
    func chainBlocks(cluster: String, from: Int64, through: Int64, leaves: Bool) async throws -> [ChainBlock]
    /// The lowest height of a block of `cluster` holding an event with order timestamp ≥ `eventsSince`.
    func chainFirstHeight(cluster: String, eventsSince: Int64) async throws -> Int64?
    /// The blocks of `cluster`'s chains (all its lanes) whose ingest-id range includes `id` (the block holding it is among them).
    func chainBlocksContaining(cluster: String, id: Int64) async throws -> [(chain: String, height: Int64)]
    /// The stored rows with these ingest ids (of any cluster; missing ids are absent).
    func chainEvents(ids: [Int64]) async throws -> [ChainEventRow]
    /// Ingest ids of `cluster`'s stored events (with order timestamp ≥ `since`), in any order.
    func chainEventIDs(cluster: String, since: Int64?) async throws -> [Int64]
    /// Signed checkpoints of `cluster` stored in the store, by height.
    func chainCheckpoints(cluster: String) async throws -> [Checkpoint]
    /// Public keys (PEM) the store recorded for its signers, by key id. Not trusted by `verify` unless no key is given.
    func chainKeys() async throws -> [String: String]
    func chainState() async throws -> ChainState
    /// The ingest watermark: every event with an ingest id up to it is committed, with its block.
    func chainWatermark() async throws -> Int64
    /// The greatest ingest id ingest has given out: a stored id above it was not written by ingest.
    func chainIssuedThrough() async throws -> Int64
}

/// A store whose chain heads an aggregator signs.
public protocol ChainCheckpointStore: ChainSource {
    /// Stores checkpoints and records the signer's public key.
    func saveCheckpoints(_ checkpoints: [Checkpoint], keyID: String, publicKeyPEM: String) async throws
}
