import AuditBlock
import AuditChain
import Foundation
import GRDB
import OpenSSLKit

/// The hash chain in the SQLite store (schema v4, Protocols/integrity.md):
/// - `chain_blocks(cluster, height, previous, created_at, leaf_count, leaves_root, hash, min_ts, max_ts,
///   batch_id, leaves)`, unique on `(cluster, height)`: one block per committed batch that stored events,
///   written in the batch's transaction.
/// - `chain_checkpoints(cluster, height, head, signed_at, pruned_before, key_id, signature)`.
/// - `chain_keys(key_id, public_key, recorded_at)`: signers' public keys, for convenience only.
/// - `chain_state(id = 1, pruned_before, unchained_through, max_id)`: retention's watermark, the last
///   ingest id stored before the chain existed, and the greatest ingest id ever given out (ids are
///   never reused, even after retention deleted the newest rows).
extension SQLiteStore: ChainCheckpointStore {
    static func registerChainMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v4-chain") { db in
            try db.execute(sql: """
                CREATE TABLE chain_blocks(
                    cluster TEXT NOT NULL,
                    height INTEGER NOT NULL,
                    previous BLOB NOT NULL,
                    created_at INTEGER NOT NULL,
                    leaf_count INTEGER NOT NULL,
                    leaves_root BLOB NOT NULL,
                    hash BLOB NOT NULL,
                    min_ts INTEGER NOT NULL,
                    max_ts INTEGER NOT NULL,
                    batch_id TEXT NOT NULL,
                    first_id INTEGER NOT NULL,
                    last_id INTEGER NOT NULL,
                    leaves BLOB NOT NULL
                );
                CREATE UNIQUE INDEX chain_blocks_height ON chain_blocks(cluster, height);
                CREATE INDEX chain_blocks_ids ON chain_blocks(cluster, last_id);
                CREATE TABLE chain_checkpoints(
                    cluster TEXT NOT NULL,
                    height INTEGER NOT NULL,
                    head BLOB NOT NULL,
                    signed_at INTEGER NOT NULL,
                    pruned_before INTEGER NOT NULL,
                    key_id TEXT NOT NULL,
                    signature BLOB NOT NULL,
                    PRIMARY KEY (cluster, height, key_id, signed_at)
                );
                CREATE TABLE chain_keys(
                    key_id TEXT PRIMARY KEY,
                    public_key TEXT NOT NULL,
                    recorded_at INTEGER NOT NULL
                );
                CREATE TABLE chain_state(
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    pruned_before INTEGER NOT NULL,
                    unchained_through INTEGER NOT NULL,
                    max_id INTEGER NOT NULL
                );
                INSERT INTO chain_state(id, pruned_before, unchained_through, max_id)
                    SELECT 1, 0, coalesce(max(id), 0), coalesce(max(id), 0) FROM events;
                """)
        }
    }

    /// The greatest ingest id given out so far (never lower than the newest row's).
    func chainMaxID(_ db: Database) throws -> Int64 {
        let stored = try Int64.fetchOne(db, sql: "SELECT first_id + count - 1 FROM blocks ORDER BY first_id DESC LIMIT 1") ?? 0
        let issued = try Int64.fetchOne(db, sql: "SELECT max_id FROM chain_state WHERE id = 1") ?? 0
        return max(stored, issued)
    }

    /// Appends the block of a batch's newly stored events (inside the batch's transaction).
    func appendBlock(_ db: Database, cluster: String, leaves: [UInt8], firstID: Int64, lastID: Int64, maxID: Int64, batchID: String) throws {
        try db.execute(sql: "UPDATE chain_state SET max_id = max(max_id, ?) WHERE id = 1", arguments: [maxID])
        guard !leaves.isEmpty else { return }
        let head = try Row.fetchOne(db, sql: "SELECT height, hash FROM chain_blocks WHERE cluster = ? ORDER BY height DESC LIMIT 1", arguments: [cluster])
        let height: Int64 = head?[0] ?? 0
        let previous: [UInt8] = (head?[1] as Data?).map { [UInt8]($0) } ?? ChainFormat.zeroHash
        let block = ChainBlock.next(cluster: cluster, afterHeight: height, previous: previous,
                                    createdAt: Int64(Date().timeIntervalSince1970 * 1_000_000), leaves: leaves, batchID: batchID)
        // The leaves are not stored: `chainBlocks` rebuilds them from the events' blocks; their
        // fingerprints say which event a mismatch is about (integrity.md §3).
        try db.execute(sql: """
            INSERT INTO chain_blocks(cluster, height, previous, created_at, leaf_count, leaves_root, hash, min_ts, max_ts, batch_id,
                                     first_id, last_id, leaves, fingerprints)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [cluster, block.height, Data(block.previous), block.createdAt, block.leafCount, Data(block.leavesRoot),
                             Data(block.hash), block.minTimestamp, block.maxTimestamp, batchID, firstID, lastID, Data(),
                             Data(LeafFingerprint.encode(leaves: leaves))])
    }

    /// Raises retention's watermark (inside the deleting transaction).
    func raisePrunedBefore(_ db: Database, _ cutoff: Int64) throws {
        try db.execute(sql: "UPDATE chain_state SET pruned_before = max(pruned_before, ?) WHERE id = 1", arguments: [cutoff])
    }

    public func chainClusters() async throws -> [String] {
        try await pool.read { db in
            try String.fetchAll(db, sql: """
                SELECT value FROM dims WHERE kind = 1 UNION SELECT cluster FROM chain_blocks UNION SELECT cluster FROM chain_checkpoints ORDER BY 1
                """)
        }
    }

    public func chainHeads() async throws -> [ChainHead] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT b.cluster, b.height, b.hash FROM chain_blocks b
                JOIN (SELECT cluster, max(height) AS h FROM chain_blocks GROUP BY cluster) m ON m.cluster = b.cluster AND m.h = b.height
                ORDER BY b.cluster
                """).map { ChainHead(cluster: $0[0], height: $0[1], hash: [UInt8]($0[2] as Data)) }
        }
    }

    public func chainBlocks(cluster: String, from: Int64, through: Int64, leaves: Bool) async throws -> [ChainBlock] {
        try await pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT cluster, height, previous, created_at, leaf_count, leaves_root, hash, min_ts, max_ts, batch_id,
                       \(leaves ? "leaves, fingerprints" : "NULL, NULL")
                FROM chain_blocks WHERE cluster = ? AND height BETWEEN ? AND ? ORDER BY height
                """, arguments: [cluster, from, through])
            return try rows.map { r in
                var block = ChainBlock(cluster: r[0], height: r[1], previous: [UInt8](r[2] as Data), createdAt: r[3], leafCount: r[4],
                                       leavesRoot: [UInt8](r[5] as Data), hash: [UInt8](r[6] as Data), minTimestamp: r[7], maxTimestamp: r[8],
                                       batchID: r[9], leaves: (r[10] as Data?).map { [UInt8]($0) })
                if let data = r[11] as Data? {
                    // Damaged fingerprints leave the root to speak alone (an empty list never matches a block with events).
                    let fingerprints = LeafFingerprint.decode([UInt8](data)) ?? []
                    block.fingerprints = fingerprints
                    block.leaves = try self.rebuildLeaves(db, fingerprints.map(\.id))
                }
                return block
            }
        }
    }

    /// The leaves of the stored events with these ids, in this order (missing ones are left out).
    func rebuildLeaves(_ db: Database, _ ids: [Int64]) throws -> [UInt8] {
        var blob: [UInt8] = []
        blob.reserveCapacity(ids.count * ChainFormat.leafSize)
        var meta: BlockMeta?
        var rows: [BlockRow] = []
        var events: [[UInt8]] = []
        var cluster = ""
        for id in ids {
            if meta?.contains(id) != true {
                guard let m = try block(db, containing: id) else { continue }
                meta = m
                rows = try blockRows(db, m)
                events = try blockEvents(db, m)
                cluster = try clusterName(db, m.clusterID)
            }
            guard let m = meta, m.contains(id) else { continue }
            let i = Int(id - m.firstID)
            ChainFormat.appendLeaf(&blob, id: id, timestamp: rows[i].time,
                                   eventHash: ChainFormat.eventHash(cluster: cluster, node: rows[i].node, digest: SHA256.hash(events[i])))
        }
        return blob
    }

    public func chainFirstHeight(cluster: String, eventsSince: Int64) async throws -> Int64? {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT min(height) FROM chain_blocks WHERE cluster = ? AND max_ts >= ?", arguments: [cluster, eventsSince])
        }
    }

    public func chainBlocksContaining(cluster: String, id: Int64) async throws -> [(chain: String, height: Int64)] {
        // One writer, one chain per cluster: its name is the cluster's.
        try await pool.read { db in
            try Int64.fetchAll(db, sql: "SELECT height FROM chain_blocks WHERE cluster = ? AND last_id >= ? AND first_id <= ? ORDER BY height",
                               arguments: [cluster, id, id]).map { (chain: cluster, height: $0) }
        }
    }

    public func chainEvents(ids: [Int64]) async throws -> [ChainEventRow] {
        guard !ids.isEmpty else { return [] }
        return try await pool.read { db in
            var out: [ChainEventRow] = []
            var blocks: [Int64: (meta: BlockMeta, ids: [Int64])] = [:]
            for id in ids {
                guard let meta = try self.block(db, containing: id) else { continue }
                blocks[meta.firstID, default: (meta, [])].ids.append(id)
            }
            for (_, b) in blocks.sorted(by: { $0.key < $1.key }) {
                let rows = try self.blockRows(db, b.meta)
                let events = try self.blockEvents(db, b.meta)
                let cluster = try self.clusterName(db, b.meta.clusterID)
                for id in b.ids {
                    let i = Int(id - b.meta.firstID)
                    out.append(ChainEventRow(id: id, cluster: cluster, node: rows[i].node, timestamp: rows[i].time, raw: events[i]))
                }
            }
            return out
        }
    }

    public func chainEventIDs(cluster: String, since: Int64?) async throws -> [Int64] {
        try await pool.read { db in
            guard let c = try Int64.fetchOne(db, sql: "SELECT id FROM dims WHERE kind = 1 AND value = ?", arguments: [cluster]) else { return [] }
            var out: [Int64] = []
            let metas = try Row.fetchAll(db, sql: "SELECT \(Self.blockMetaColumns) FROM blocks WHERE cluster = ? AND max_ts >= ? ORDER BY first_id",
                                         arguments: [c, since ?? Int64.min]).map(BlockMeta.init)
            for meta in metas {
                if let since, meta.minTS < since {
                    for (i, row) in try self.blockRows(db, meta).enumerated() where row.time >= since { out.append(meta.firstID + Int64(i)) }
                } else {
                    out.append(contentsOf: meta.firstID...meta.lastID)
                }
            }
            return out
        }
    }

    public func chainCheckpoints(cluster: String) async throws -> [Checkpoint] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT cluster, height, head, signed_at, pruned_before, key_id, signature FROM chain_checkpoints
                WHERE cluster = ? ORDER BY height, signed_at
                """, arguments: [cluster]).map { r in
                Checkpoint(cluster: r[0], height: r[1], head: [UInt8](r[2] as Data), signedAt: r[3], prunedBefore: r[4],
                           keyID: r[5], signature: [UInt8](r[6] as Data))
            }
        }
    }

    public func chainKeys() async throws -> [String: String] {
        try await pool.read { db in
            var out: [String: String] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT key_id, public_key FROM chain_keys") { out[r[0]] = r[1] }
            return out
        }
    }

    public func chainWatermark() async throws -> Int64 { try await lastSequence() }

    public func chainIssuedThrough() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT max_id FROM chain_state WHERE id = 1") ?? 0 }
    }

    public func chainState() async throws -> ChainState {
        try await pool.read { db in
            let r = try Row.fetchOne(db, sql: "SELECT pruned_before, unchained_through FROM chain_state WHERE id = 1")
            return ChainState(prunedBefore: r?[0] ?? 0, unchainedThrough: r?[1] ?? 0)
        }
    }

    public func saveCheckpoints(_ checkpoints: [Checkpoint], keyID: String, publicKeyPEM: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO chain_keys(key_id, public_key, recorded_at) VALUES (?, ?, ?)",
                           arguments: [keyID, publicKeyPEM, Int64(Date().timeIntervalSince1970 * 1_000_000)])
            for cp in checkpoints {
                try db.execute(sql: """
                    INSERT OR IGNORE INTO chain_checkpoints(cluster, height, head, signed_at, pruned_before, key_id, signature)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [cp.cluster, cp.height, Data(cp.head), cp.signedAt, cp.prunedBefore, cp.keyID, Data(cp.signature)])
            }
        }
    }
}
