import AuditChain
import AuditModel
import Foundation
import GRDB
import Synchronization

/// The embedded store: one SQLite file in WAL mode.
///
/// Durability: `journal_mode=WAL` with `synchronous=FULL` fsyncs the WAL at
/// every commit, so a committed batch survives a crash of the process and a
/// power loss of the machine. Readers in other processes see committed data
/// while the aggregator writes.
///
/// Schema (version 1):
/// - `dims(id, kind, value)`: dictionary of repeated strings (cluster, node,
///   user, verb, resource, subresource, namespace), so event rows hold small integers.
/// - `events(id, cluster, node, digest, ts, rts, audit_id, stage, user, verb,
///   resource, subresource, namespace, code, raw)`: `id` is the ingest order; `digest` is
///   SHA-256 of `raw`, and `(cluster, digest)` is unique: the de-duplication key;
///   `ts`/`rts` are stageTimestamp/requestReceivedTimestamp in microseconds.
/// - `batches(id, cluster, node, batch_id, received_at, events, stored, duplicates)`.
public final class SQLiteStore: EventStore {
    enum DimKind: Int {
        case cluster = 1, node, user, verb, resource, subresource, namespace
    }
    struct DimKey: Hashable { var kind: Int; var value: String }

    let pool: DatabasePool
    private let dims = Mutex<[DimKey: Int64]>([:])
    /// Group commit of ingest batches (set once in init).
    private let committerBox = Mutex<GroupCommitter?>(nil)
    private var committer: GroupCommitter {
        committerBox.withLock { box in
            if let c = box { return c }
            let c = GroupCommitter { [weak self] batches in
                guard let self else { return batches.map { _ in .failure(StoreError("the store was closed")) } }
                return await self.commitGroup(batches)
            }
            box = c
            return c
        }
    }
    public let path: String

    /// Whether ingest appends hash-chain blocks. Always, except in `auditship bench`'s measurement
    /// of what the chain costs.
    let hashChain: Bool

    /// Opens (creating and migrating when needed) the store at `path`.
    /// - Parameter readOnly: open for queries only, without migrating.
    public convenience init(path: String, readOnly: Bool = false) throws {
        try self.init(path: path, readOnly: readOnly, hashChain: true)
    }

    /// For `auditship bench` only: `hashChain: false` stores without chain blocks, to measure the chain's cost.
    package init(path: String, readOnly: Bool, hashChain: Bool) throws {
        self.hashChain = hashChain
        self.path = path
        var config = Configuration()
        config.readonly = readOnly
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            // Page caches: 64 MiB for the writer (ingest touches the newest pages of every index),
            // 16 MiB for each reader connection of the pool (up to five), so that the aggregator's
            // memory stays bounded at about 144 MiB of cache whatever the store's size.
            try db.execute(sql: db.configuration.readonly ? "PRAGMA cache_size = -16384" : "PRAGMA cache_size = -65536")
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        if readOnly {
            guard FileManager.default.fileExists(atPath: path) else {
                throw StoreError("no store at '\(path)': start an aggregator with --store sqlite:\(path) first")
            }
        } else {
            let dir = (path as NSString).deletingLastPathComponent
            if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        }
        pool = try DatabasePool(path: path, configuration: config)
        if !readOnly {
            try SQLiteStore.migrator.migrate(pool)
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE dims(
                    id INTEGER PRIMARY KEY,
                    kind INTEGER NOT NULL,
                    value TEXT NOT NULL,
                    UNIQUE(kind, value)
                );
                CREATE TABLE events(
                    id INTEGER PRIMARY KEY,
                    cluster INTEGER NOT NULL,
                    node INTEGER NOT NULL,
                    digest BLOB NOT NULL,
                    ts INTEGER NOT NULL,
                    rts INTEGER NOT NULL,
                    audit_id TEXT NOT NULL,
                    stage INTEGER NOT NULL,
                    user INTEGER NOT NULL,
                    verb INTEGER NOT NULL,
                    resource INTEGER NOT NULL,
                    subresource INTEGER NOT NULL,
                    namespace INTEGER NOT NULL,
                    code INTEGER,
                    raw BLOB NOT NULL
                );
                CREATE UNIQUE INDEX events_dedup ON events(cluster, digest);
                CREATE INDEX events_ts ON events(ts);
                CREATE TABLE batches(
                    id INTEGER PRIMARY KEY,
                    cluster INTEGER NOT NULL,
                    node INTEGER NOT NULL,
                    batch_id TEXT NOT NULL,
                    received_at INTEGER NOT NULL,
                    events INTEGER NOT NULL,
                    stored INTEGER NOT NULL,
                    duplicates INTEGER NOT NULL
                );
                """)
        }
        m.registerMigration("v2-collisions") { db in
            try db.execute(sql: """
                ALTER TABLE events ADD COLUMN collision INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX events_audit ON events(cluster, audit_id, stage);
                CREATE INDEX events_collisions ON events(cluster, audit_id, stage) WHERE collision = 1;
                """)
        }
        registerAlertMigrations(&m)
        registerChainMigrations(&m)
        return m
    }

    private func dimID(_ db: Database, _ kind: DimKind, _ value: String) throws -> Int64 {
        let key = DimKey(kind: kind.rawValue, value: value)
        if let id = dims.withLock({ $0[key] }) { return id }
        try db.execute(sql: "INSERT OR IGNORE INTO dims(kind, value) VALUES (?, ?)", arguments: [kind.rawValue, value])
        guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM dims WHERE kind = ? AND value = ?", arguments: [kind.rawValue, value]) else {
            throw StoreError("dictionary entry for \(kind) '\(value)' vanished")
        }
        dims.withLock { $0[key] = id }
        return id
    }

    private func lookupDim(_ db: Database, _ kind: DimKind, _ value: String) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT id FROM dims WHERE kind = ? AND value = ?", arguments: [kind.rawValue, value])
    }

    /// Stores a batch; returns after the transaction holding it committed durably. Batches that
    /// arrive while another transaction commits are written together in the next one (group
    /// commit), each in a savepoint of its own, so one batch's failure is its own.
    public func ingest(_ batch: IngestBatch) async throws -> IngestResult {
        try await committer.submit(batch)
    }

    /// Writes a group of batches in one transaction: one result per batch, in order.
    func commitGroup(_ batches: [IngestBatch]) async -> [Result<IngestResult, any Error>] {
        // A batch that hit a full disk may leave SQLite to roll the whole transaction back, and the
        // commit then fails with another code: the full disk is what every batch must hear.
        let diskFull = Mutex<(any Error)?>(nil)
        do {
            return try await pool.write { db in
                var results: [Result<IngestResult, any Error>] = []
                for batch in batches {
                    do {
                        var result = IngestResult(stored: 0, duplicates: 0)
                        try db.inSavepoint {
                            result = try self.ingest(db, batch)
                            return .commit
                        }
                        results.append(.success(result))
                    } catch {
                        // Dictionary ids cached inside the rolled-back savepoint would be stale.
                        self.dims.withLock { $0.removeAll() }
                        if DiskFull.sqlite(error) != nil { diskFull.withLock { $0 = $0 ?? error } }
                        results.append(.failure(error))
                    }
                }
                return results
            }
        } catch {
            self.dims.withLock { $0.removeAll() }
            let reported = diskFull.withLock { $0 } ?? error
            return batches.map { _ in .failure(reported) }
        }
    }

    private func ingest(_ db: Database, _ batch: IngestBatch) throws -> IngestResult {
        let cluster = try dimID(db, .cluster, batch.cluster)
        let node = try dimID(db, .node, batch.node)
        let insert = try db.cachedStatement(sql: """
            INSERT INTO events(id, cluster, node, digest, ts, rts, audit_id, stage, user, verb, resource, subresource, namespace, code, raw)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(cluster, digest) DO NOTHING
            """)
        var stored = 0
        var collisions = 0
        let sameKey = try db.cachedStatement(sql: "SELECT count(*) FROM events WHERE cluster = ? AND audit_id = ? AND stage = ?")
        let markCollision = try db.cachedStatement(sql: "UPDATE events SET collision = 1 WHERE cluster = ? AND audit_id = ? AND stage = ?")
        // Ingest ids are given out here, above any ever given (SQLite would reuse a deleted newest rowid).
        var lastID = try chainMaxID(db)
        let firstID = lastID + 1
        var leaves: [UInt8] = []
        leaves.reserveCapacity(batch.events.count * ChainFormat.leafSize)
        for event in batch.events {
            let s = event.summary
            let user = try dimID(db, .user, s.username ?? "")
            let verb = try dimID(db, .verb, s.verb)
            let resource = try dimID(db, .resource, s.resource)
            let subresource = try dimID(db, .subresource, s.subresource)
            let namespace = try dimID(db, .namespace, s.namespace)
            insert.setUncheckedArguments([
                lastID + 1, cluster, node, Data(event.digest), s.orderTimestamp.microseconds,
                (s.requestReceivedTimestamp ?? s.orderTimestamp).microseconds,
                s.auditID, StageCode.code(s.stage), user, verb, resource, subresource, namespace,
                s.responseCode, Data(event.bytes),
            ])
            try insert.execute()
            let inserted = db.changesCount
            stored += inserted
            if inserted == 1 {
                lastID += 1
                if hashChain {
                    ChainFormat.appendLeaf(&leaves, id: lastID, timestamp: s.orderTimestamp.microseconds,
                                       eventHash: ChainFormat.eventHash(cluster: batch.cluster, node: batch.node, digest: event.digest))
                }
                // Another event with this auditID and stage but other bytes: keep both, flag both.
                let stage = StageCode.code(s.stage)
                sameKey.setUncheckedArguments([cluster, s.auditID, stage])
                if let n = try Int.fetchOne(sameKey), n > 1 {
                    collisions += 1
                    markCollision.setUncheckedArguments([cluster, s.auditID, stage])
                    try markCollision.execute()
                }
            }
        }
        try appendBlock(db, cluster: batch.cluster, leaves: leaves, firstID: firstID, lastID: lastID, maxID: lastID, batchID: batch.batchID)
        let duplicates = batch.events.count - stored
        try db.execute(
            sql: "INSERT INTO batches(cluster, node, batch_id, received_at, events, stored, duplicates) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [cluster, node, batch.batchID, Int64(Date().timeIntervalSince1970 * 1_000_000), batch.events.count, stored, duplicates])
        return IngestResult(stored: stored, duplicates: duplicates, collisions: collisions)
    }

    /// Builds the WHERE clause; returns nil when a filter names a value the store has never seen.
    private func whereClause(_ db: Database, _ q: EventQuery) throws -> (String, StatementArguments)? {
        var conditions: [String] = []
        var args = StatementArguments()
        func dim(_ kind: DimKind, _ value: String?, _ column: String) throws -> Bool {
            guard let value else { return true }
            guard let id = try lookupDim(db, kind, value) else { return false }
            conditions.append("e.\(column) = ?")
            _ = args.append(contentsOf: [id])
            return true
        }
        guard try dim(.cluster, q.cluster, "cluster"), try dim(.node, q.node, "node"),
              try dim(.user, q.user, "user"), try dim(.verb, q.verb, "verb"),
              try dim(.namespace, q.namespace, "namespace") else { return nil }
        if let r = q.resource {
            let parts = r.split(separator: "/", maxSplits: 1).map(String.init)
            guard try dim(.resource, parts.first ?? r, "resource") else { return nil }
            if parts.count == 2, try !dim(.subresource, parts[1], "subresource") { return nil }
        }
        if let since = q.since { conditions.append("e.ts >= ?"); _ = args.append(contentsOf: [since.microseconds]) }
        if let until = q.until { conditions.append("e.ts < ?"); _ = args.append(contentsOf: [until.microseconds]) }
        if let c = q.after {
            conditions.append("(e.ts, e.rts, e.audit_id, e.stage, e.id) > (?, ?, ?, ?, ?)")
            _ = args.append(contentsOf: [c.timestamp, c.received, c.auditID, c.stage, c.sequence])
        }
        if let seq = q.ingestedAfter { conditions.append("e.id > ?"); _ = args.append(contentsOf: [seq]) }
        return (conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "), args)
    }

    public func events(_ query: EventQuery) async throws -> [StoredEvent] {
        try await pool.read { db in
            guard let (whereSQL, args) = try self.whereClause(db, query) else { return [] }
            let order = query.ingestOrder ? "e.id" : "e.ts, e.rts, e.audit_id, e.stage, e.id"
            var sql = """
                SELECT e.id, c.value, n.value, e.raw, e.ts, e.rts, e.audit_id, e.stage, e.collision FROM events e
                JOIN dims c ON c.id = e.cluster JOIN dims n ON n.id = e.node
                \(whereSQL) ORDER BY \(order)
                """
            if let limit = query.limit { sql += " LIMIT \(max(0, limit))" }
            var out: [StoredEvent] = []
            let rows = try Row.fetchCursor(db, sql: sql, arguments: args)
            while let row = try rows.next() {
                let raw: Data = row[3]
                let cursor = EventCursor(timestamp: row[4], received: row[5], auditID: row[6], stage: row[7], sequence: row[0])
                out.append(StoredEvent(sequence: row[0], cluster: row[1], node: row[2], bytes: [UInt8](raw),
                                       timestamp: Timestamp(microseconds: row[4]), cursor: cursor, collision: (row[8] as Int) != 0))
            }
            return out
        }
    }

    public func count(_ query: EventQuery) async throws -> Int {
        try await pool.read { db in
            guard let (whereSQL, args) = try self.whereClause(db, query) else { return 0 }
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM events e \(whereSQL)", arguments: args) ?? 0
        }
    }

    public func collisions(_ query: EventQuery) async throws -> [AuditIDCollision] {
        try await pool.read { db in
            guard let (whereSQL, args) = try self.whereClause(db, query) else { return [] }
            let extra = whereSQL.isEmpty ? "WHERE e.collision = 1" : whereSQL + " AND e.collision = 1"
            let rows = try Row.fetchAll(db, sql: """
                SELECT c.value, e.audit_id, e.stage, count(*) FROM events e JOIN dims c ON c.id = e.cluster
                \(extra) GROUP BY e.cluster, e.audit_id, e.stage ORDER BY min(e.ts)
                """, arguments: args)
            return rows.map { AuditIDCollision(cluster: $0[0], auditID: $0[1], stage: StageCode.name($0[2]), events: $0[3]) }
        }
    }

    public func statistics(_ query: EventQuery) async throws -> StoreStatistics {
        try await pool.read { db in
            guard let (whereSQL, args) = try self.whereClause(db, query) else { return StoreStatistics() }
            func group(_ column: String) throws -> [String: Int] {
                let rows = try Row.fetchAll(db, sql: "SELECT d.value, count(*) FROM events e JOIN dims d ON d.id = e.\(column) \(whereSQL) GROUP BY e.\(column)", arguments: args)
                var out: [String: Int] = [:]
                for r in rows { out[r[0], default: 0] += r[1] }
                return out
            }
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM events e \(whereSQL)", arguments: args) ?? 0
            return StoreStatistics(total: total, byCluster: try group("cluster"), byNode: try group("node"), byUser: try group("user"),
                                   byVerb: try group("verb"), byResource: try group("resource"))
        }
    }

    /// Deletes in chunks of 10,000 rows per transaction, so that ingest is never blocked for long.
    public func deleteEvents(before cutoff: Timestamp) async throws -> Int {
        var total = 0
        while true {
            let n = try await pool.write { db -> Int in
                try self.raisePrunedBefore(db, cutoff.microseconds)
                try db.execute(sql: "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < ? LIMIT 10000)", arguments: [cutoff.microseconds])
                return db.changesCount
            }
            total += n
            if n < 10_000 { return total }
            await Task.yield()
        }
    }

    public func lastSequence() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) FROM events") ?? 0 }
    }

    public func close() async throws {
        try pool.close()
    }

    /// Closes the database (checkpointing the WAL), synchronously.
    public func closeNow() throws {
        try pool.close()
    }
}

extension SQLiteStore {
    /// Totals over the ingest log: batches committed, events sent, stored, duplicates refused.
    public struct IngestTotals: Sendable, Hashable {
        public var batches: Int
        public var events: Int
        public var stored: Int
        public var duplicates: Int
    }

    public func ingestTotals() async throws -> IngestTotals {
        try await pool.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT count(*), coalesce(sum(events),0), coalesce(sum(stored),0), coalesce(sum(duplicates),0) FROM batches")
            return IngestTotals(batches: row?[0] ?? 0, events: row?[1] ?? 0, stored: row?[2] ?? 0, duplicates: row?[3] ?? 0)
        }
    }

    /// Stored events per (cluster, node).
    public func countsByNode() async throws -> [(cluster: String, node: String, events: Int)] {
        try await pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT c.value, n.value, count(*) FROM events e JOIN dims c ON c.id = e.cluster JOIN dims n ON n.id = e.node
                GROUP BY e.cluster, e.node ORDER BY c.value, n.value
                """)
            return rows.map { (cluster: $0[0], node: $0[1], events: $0[2]) }
        }
    }

    /// Every stored event's digest with its cluster, for whole-store comparisons.
    public func digests() async throws -> [(cluster: String, digest: [UInt8])] {
        try await pool.read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT c.value, e.digest FROM events e JOIN dims c ON c.id = e.cluster")
            var out: [(cluster: String, digest: [UInt8])] = []
            while let row = try rows.next() {
                let d: Data = row[1]
                out.append((cluster: row[0], digest: [UInt8](d)))
            }
            return out
        }
    }
}
