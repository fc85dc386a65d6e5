import AuditChain
import AuditStore
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The hash chain in the PostgreSQL store (schema version 3; Protocols/integrity.md §5).
///
/// Chains per cluster (lanes), serialised by the database: an ingest transaction, after inserting
/// its events, takes the head row of a lane of its cluster that no other transaction holds (see
/// `appendBlock`), appends the block and moves the head, then commits. Each lane is gapless and
/// every block names its predecessor, whichever aggregator wrote it; batches of one cluster that
/// commit at the same time use different lanes. The head lock is the last one a transaction
/// takes, so it cannot take part in a deadlock.
extension PostgresStore: ChainCheckpointStore {
    static let chainStatements = [
        """
        CREATE TABLE chain_blocks(
            cluster TEXT COLLATE "C" NOT NULL,
            height BIGINT NOT NULL,
            previous BYTEA NOT NULL,
            created_at BIGINT NOT NULL,
            leaf_count INTEGER NOT NULL,
            leaves_root BYTEA NOT NULL,
            hash BYTEA NOT NULL,
            min_ts BIGINT NOT NULL,
            max_ts BIGINT NOT NULL,
            batch_id TEXT NOT NULL,
            first_id BIGINT NOT NULL,
            last_id BIGINT NOT NULL,
            leaves BYTEA NOT NULL,
            PRIMARY KEY (cluster, height)
        )
        """,
        "CREATE INDEX chain_blocks_ids ON chain_blocks(cluster, last_id)",
        """
        CREATE TABLE chain_heads(
            cluster TEXT COLLATE "C" PRIMARY KEY,
            base TEXT COLLATE "C" NOT NULL,
            lane INTEGER NOT NULL,
            height BIGINT NOT NULL,
            hash BYTEA NOT NULL,
            UNIQUE (base, lane)
        )
        """,
        """
        CREATE TABLE chain_checkpoints(
            cluster TEXT COLLATE "C" NOT NULL,
            height BIGINT NOT NULL,
            head BYTEA NOT NULL,
            signed_at BIGINT NOT NULL,
            pruned_before BIGINT NOT NULL,
            key_id TEXT NOT NULL,
            signature BYTEA NOT NULL,
            PRIMARY KEY (cluster, height, key_id, signed_at)
        )
        """,
        """
        CREATE TABLE chain_keys(
            key_id TEXT PRIMARY KEY,
            public_key TEXT NOT NULL,
            recorded_at BIGINT NOT NULL
        )
        """,
        """
        CREATE TABLE chain_state(
            id INTEGER PRIMARY KEY CHECK (id = 1),
            pruned_before BIGINT NOT NULL,
            unchained_through BIGINT NOT NULL
        )
        """,
        "INSERT INTO chain_state(id, pruned_before, unchained_through) SELECT 1, 0, CASE WHEN is_called THEN last_value ELSE 0 END FROM events_id_seq",
    ]

    /// Most chains (lanes) a cluster gets; a transaction that finds all of them busy waits for one.
    static let maxLanes = 16

    /// Appends the block of a batch's newly stored events; inside the batch's transaction, last.
    ///
    /// It takes the head of a lane of the cluster that no other transaction holds
    /// (`FOR UPDATE SKIP LOCKED`, lowest lane first), opening the next lane when all are busy (up to
    /// `maxLanes`, then it waits for the first lane). The head row stays locked until the commit,
    /// so each lane is a gapless chain, while batches of one cluster committing at the same time
    /// use different lanes and their commits overlap.
    static func appendBlock(_ conn: PostgresConnection, cluster: String, leaves: [UInt8], firstID: Int64, lastID: Int64,
                            batchID: String, logger: Logger) async throws {
        guard !leaves.isEmpty else { return }
        func head(_ rows: [PostgresRow]) throws -> (String, Int64, ByteBuffer)? {
            try rows.first.map { try $0.decode((String, Int64, ByteBuffer).self) }
        }
        var taken = try head(try await exec(conn, """
            SELECT cluster, height, hash FROM chain_heads WHERE base = \(cluster) ORDER BY lane LIMIT 1 FOR UPDATE SKIP LOCKED
            """, logger))
        if taken == nil {
            let next = try await exec(conn, "SELECT coalesce(max(lane) + 1, 0)::int4 FROM chain_heads WHERE base = \(cluster)", logger)
                .first?.decode(Int32.self) ?? 0
            if next < maxLanes {
                let name = ChainName.name(cluster: cluster, lane: Int(next))
                var b = PostgresBindings(capacity: 4)
                b.append(name); b.append(cluster); b.append(next); b.append(ByteBuffer(bytes: ChainFormat.zeroHash))
                // Another transaction opening the same lane at once: this insert waits for it, then does nothing.
                taken = try head(try await exec(conn, PostgresQuery(unsafeSQL: """
                    INSERT INTO chain_heads(cluster, base, lane, height, hash) VALUES ($1, $2, $3, 0, $4)
                    ON CONFLICT DO NOTHING RETURNING cluster, height, hash
                    """, binds: b), logger))
            }
            if taken == nil {
                // Lost the race to open that lane, or at the limit: a lane may have come free meanwhile.
                taken = try head(try await exec(conn, """
                    SELECT cluster, height, hash FROM chain_heads WHERE base = \(cluster) ORDER BY lane LIMIT 1 FOR UPDATE SKIP LOCKED
                    """, logger))
            }
            if taken == nil {
                taken = try head(try await exec(conn, """
                    SELECT cluster, height, hash FROM chain_heads WHERE base = \(cluster) ORDER BY lane LIMIT 1 FOR UPDATE
                    """, logger))
            }
        }
        guard let (chain, height, hash) = taken else { throw StoreError("no chain head of cluster '\(cluster)' could be taken") }
        let block = ChainBlock.next(cluster: chain, afterHeight: height, previous: Array(hash.readableBytesView),
                                    createdAt: Int64(Date().timeIntervalSince1970 * 1_000_000), leaves: leaves, batchID: batchID)
        var i = PostgresBindings(capacity: 13)
        i.append(chain); i.append(block.height); i.append(ByteBuffer(bytes: block.previous)); i.append(block.createdAt)
        i.append(Int32(clamping: block.leafCount)); i.append(ByteBuffer(bytes: block.leavesRoot)); i.append(ByteBuffer(bytes: block.hash))
        i.append(block.minTimestamp); i.append(block.maxTimestamp); i.append(batchID); i.append(ByteBuffer(bytes: leaves))
        i.append(firstID); i.append(lastID)
        try await exec(conn, PostgresQuery(unsafeSQL: """
            WITH b AS (
                INSERT INTO chain_blocks(cluster, height, previous, created_at, leaf_count, leaves_root, hash, min_ts, max_ts, batch_id, leaves,
                                         first_id, last_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            )
            UPDATE chain_heads SET height = $2, hash = $7 WHERE cluster = $1
            """, binds: i), logger)
    }

    /// Raises retention's watermark before deleting (committed on its own: a crash between the two
    /// leaves a watermark above events that are still there, which `verify` accepts).
    static func raisePrunedBefore(_ conn: PostgresConnection, _ cutoff: Int64, logger: Logger) async throws {
        try await exec(conn, "UPDATE chain_state SET pruned_before = greatest(pruned_before, \(cutoff)) WHERE id = 1", logger)
    }

    private func rows(_ what: String, _ query: PostgresQuery) async throws -> [PostgresRow] {
        try await mapErrors(what) {
            try await self.client.query(query, logger: self.logger).collect()
        }
    }

    public func chainClusters() async throws -> [String] {
        try await rows("listing chains", """
            SELECT value FROM dims WHERE kind = 1 UNION SELECT DISTINCT cluster FROM chain_blocks
            UNION SELECT DISTINCT cluster FROM chain_checkpoints UNION SELECT cluster FROM chain_heads ORDER BY 1
            """)
            .map { try $0.decode(String.self) }
    }

    public func chainHeads() async throws -> [ChainHead] {
        try await rows("reading chain heads", "SELECT DISTINCT ON (cluster) cluster, height, hash FROM chain_blocks ORDER BY cluster, height DESC")
            .map { r in
                let (c, h, hash) = try r.decode((String, Int64, ByteBuffer).self)
                return ChainHead(cluster: c, height: h, hash: Array(hash.readableBytesView))
            }
    }

    public func chainBlocks(cluster: String, from: Int64, through: Int64, leaves: Bool) async throws -> [ChainBlock] {
        try await rows("reading chain blocks", """
            SELECT cluster, height, previous, created_at, leaf_count, leaves_root, hash, min_ts, max_ts, batch_id, \(unescaped: leaves ? "leaves" : "NULL::bytea")
            FROM chain_blocks WHERE cluster = \(cluster) AND height BETWEEN \(from) AND \(through) ORDER BY height
            """).map { r in
            let (c, h, prev, created, count, root, hash, minTs, maxTs, batch, blob) =
                try r.decode((String, Int64, ByteBuffer, Int64, Int32, ByteBuffer, ByteBuffer, Int64, Int64, String, ByteBuffer?).self)
            return ChainBlock(cluster: c, height: h, previous: Array(prev.readableBytesView), createdAt: created, leafCount: Int(count),
                              leavesRoot: Array(root.readableBytesView), hash: Array(hash.readableBytesView), minTimestamp: minTs,
                              maxTimestamp: maxTs, batchID: batch, leaves: blob.map { Array($0.readableBytesView) })
        }
    }

    public func chainFirstHeight(cluster: String, eventsSince: Int64) async throws -> Int64? {
        try await rows("finding blocks by time", "SELECT min(height) FROM chain_blocks WHERE cluster = \(cluster) AND max_ts >= \(eventsSince)")
            .first?.decode(Int64?.self)
    }

    public func chainBlocksContaining(cluster: String, id: Int64) async throws -> [(chain: String, height: Int64)] {
        try await rows("finding an event's block", """
            SELECT cluster, height FROM chain_blocks
            WHERE (cluster = \(cluster) OR left(cluster, \(Int32(cluster.utf8.count + 1))) = \(cluster + "~"))
              AND last_id >= \(id) AND first_id <= \(id) ORDER BY cluster, height
            """).map { let (c, h) = try $0.decode((String, Int64).self); return (chain: c, height: h) }
    }

    public func chainEvents(ids: [Int64]) async throws -> [ChainEventRow] {
        guard !ids.isEmpty else { return [] }
        return try await rows("reading events to verify", """
            SELECT e.id, c.value, n.value, e.ts, e.raw FROM events e
            LEFT JOIN dims c ON c.id = e.cluster LEFT JOIN dims n ON n.id = e.node
            WHERE e.id = ANY(\(ids))
            """).map { r in
            let (id, c, n, ts, raw) = try r.decode((Int64, String?, String?, Int64, ByteBuffer).self)
            return ChainEventRow(id: id, cluster: c ?? "", node: n ?? "", timestamp: ts, raw: Array(raw.readableBytesView))
        }
    }

    public func chainEventIDs(cluster: String, since: Int64?) async throws -> [Int64] {
        let q: PostgresQuery = since.map {
            "SELECT e.id FROM events e JOIN dims c ON c.id = e.cluster AND c.kind = 1 WHERE c.value = \(cluster) AND e.ts >= \($0)"
        } ?? "SELECT e.id FROM events e JOIN dims c ON c.id = e.cluster AND c.kind = 1 WHERE c.value = \(cluster)"
        return try await mapErrors("listing events to verify") {
            var out: [Int64] = []
            for try await id in try await self.client.query(q, logger: self.logger).decode(Int64.self) { out.append(id) }
            return out
        }
    }

    public func chainCheckpoints(cluster: String) async throws -> [Checkpoint] {
        try await rows("reading checkpoints", """
            SELECT cluster, height, head, signed_at, pruned_before, key_id, signature FROM chain_checkpoints
            WHERE cluster = \(cluster) ORDER BY height, signed_at
            """).map { r in
            let (c, h, head, at, pruned, key, sig) = try r.decode((String, Int64, ByteBuffer, Int64, Int64, String, ByteBuffer).self)
            return Checkpoint(cluster: c, height: h, head: Array(head.readableBytesView), signedAt: at, prunedBefore: pruned,
                              keyID: key, signature: Array(sig.readableBytesView))
        }
    }

    public func chainKeys() async throws -> [String: String] {
        var out: [String: String] = [:]
        for r in try await rows("reading signer keys", "SELECT key_id, public_key FROM chain_keys") {
            let (k, pem) = try r.decode((String, String).self)
            out[k] = pem
        }
        return out
    }

    public func chainWatermark() async throws -> Int64 { try await lastSequence() }

    public func chainIssuedThrough() async throws -> Int64 {
        try await rows("reading the ingest sequence", "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_id_seq")
            .first?.decode(Int64.self) ?? 0
    }

    public func chainState() async throws -> ChainState {
        guard let r = try await rows("reading the chain state", "SELECT pruned_before, unchained_through FROM chain_state WHERE id = 1").first else {
            return ChainState()
        }
        let (p, u) = try r.decode((Int64, Int64).self)
        return ChainState(prunedBefore: p, unchainedThrough: u)
    }

    public func saveCheckpoints(_ checkpoints: [Checkpoint], keyID: String, publicKeyPEM: String) async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        try await mapErrors("storing checkpoints") {
            _ = try await self.client.query("""
                INSERT INTO chain_keys(key_id, public_key, recorded_at) VALUES (\(keyID), \(publicKeyPEM), \(now)) ON CONFLICT DO NOTHING
                """, logger: self.logger).collect()
            guard !checkpoints.isEmpty else { return }
            var b = PostgresBindings(capacity: 7)
            b.append(checkpoints.map(\.cluster)); b.append(checkpoints.map(\.height))
            b.append(checkpoints.map { ByteBuffer(bytes: $0.head) }); b.append(checkpoints.map(\.signedAt))
            b.append(checkpoints.map(\.prunedBefore)); b.append(checkpoints.map(\.keyID))
            b.append(checkpoints.map { ByteBuffer(bytes: $0.signature) })
            _ = try await self.client.query(PostgresQuery(unsafeSQL: """
                INSERT INTO chain_checkpoints(cluster, height, head, signed_at, pruned_before, key_id, signature)
                SELECT * FROM unnest($1::text[], $2::int8[], $3::bytea[], $4::int8[], $5::int8[], $6::text[], $7::bytea[])
                ON CONFLICT DO NOTHING
                """, binds: b), logger: self.logger).collect()
        }
    }
}
