import AuditChain
import AuditModel
import AuditStore
import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization

/// The shared store: PostgreSQL through postgres-nio, for several aggregators on one database.
///
/// Lifecycle: `PostgresStore.connect(url:passwordFile:logger:)` starts the
/// connection pool (its `run()` loop in a task the store owns), applies the
/// schema migrations and returns a ready store; `close()` stops the pool and
/// waits for it. Nothing else needs running. Several stores (in one process or
/// in several aggregators) may share one database: the database alone
/// coordinates them.
///
/// Semantics are those of `SQLiteStore`, exactly:
/// - De-duplication by (cluster, SHA-256 of the bytes) through a unique index and
///   `INSERT … ON CONFLICT DO NOTHING`; a batch is one transaction, acknowledged
///   (the call returns) only after COMMIT, with `synchronous_commit=on` forced for
///   the session, so an acknowledged batch is on the server's disk (and on its
///   synchronous standbys, if the operator configured any).
/// - auditID collisions counted, flagged on every event involved and listed by
///   `collisions()`, also when two aggregators write the two events at once
///   (the `audit_keys` primary key serialises them).
/// - Order (ts, rts, audit_id, stage, id) with `COLLATE "C"` (byte order, like SQLite).
/// - Retention drops whole daily partitions (see `deleteEvents(before:)`).
///
/// Ingest order and `--follow`: ingest ids come from a sequence, and with
/// several concurrent transactions (several batches at once, or several
/// aggregators) ids are not committed in id order: id 10 may become visible
/// after id 11. A follower that remembered "11" would never see 10. So this store
/// publishes a *watermark*: `lastSequence()` returns the highest id W such that
/// every id ≤ W is committed or will never exist, and `events()` with
/// `ingestedAfter` returns only ids ≤ W. A follower that pages with
/// `ingestedAfter: last id seen` therefore misses nothing and sees nothing twice,
/// at the cost of seeing an event only once the transactions that drew
/// smaller ids have finished (milliseconds). How W is computed: each ingest
/// transaction, before it draws ids, takes a shared transaction advisory lock
/// whose key holds the sequence value it saw; W is the current sequence value,
/// lowered to the smallest such key still held (see `lastSequence()`).
public final class PostgresStore: EventStore {
    enum DimKind: Int16 {
        case cluster = 1, node, user, verb, resource, subresource, namespace
    }
    struct DimKey: Hashable, Sendable { var kind: Int16; var value: String }

    static let microsPerDay: Int64 = 86_400_000_000

    public let location: PostgresLocation
    let client: PostgresClient
    private let runner: Mutex<Task<Void, Never>?>
    let logger: Logger
    private let dims = Mutex<[DimKey: Int32]>([:])
    /// Days (since the epoch, UTC) whose partition is known to exist.
    private let partitions = Mutex<Set<Int64>>([])

    /// Whether ingest appends hash-chain blocks. Always, except in `auditship bench`'s measurement of what the chain costs.
    let hashChain: Bool

    private init(location: PostgresLocation, client: PostgresClient, runner: Task<Void, Never>, logger: Logger, hashChain: Bool) {
        self.hashChain = hashChain
        self.location = location
        self.client = client
        self.runner = Mutex(runner)
        self.logger = logger
    }

    /// Opens the store at `url` (`postgres://USER@HOST:PORT/DB[?sslmode=require|disable][&pool=N]`),
    /// migrating the schema when needed.
    /// - Parameters:
    ///   - passwordFile: a file whose first line is the password; when nil, `PGPASSWORD` is used if set.
    ///   - logger: for the store's own messages (never event content, never the password).
    public static func connect(url: String, passwordFile: String?, logger: Logger = Logger(label: "auditship.store.postgres")) async throws -> PostgresStore {
        let location = try PostgresLocation(url)
        let password = try PostgresLocation.password(file: passwordFile)
        return try await connect(location: location, password: password, logger: logger)
    }

    /// Opens the store at `location` with `password`.
    /// - Parameter migrate: apply the schema migrations (false for read-only users: `query --store`).
    public static func connect(location: PostgresLocation, password: String?, logger: Logger = Logger(label: "auditship.store.postgres"),
                               migrate: Bool = true, connectTimeout: Duration = .seconds(30)) async throws -> PostgresStore {
        try await connect(location: location, password: password, logger: logger, migrate: migrate, connectTimeout: connectTimeout, hashChain: true)
    }

    /// For `auditship bench` only: `hashChain: false` stores without chain blocks, to measure the chain's cost.
    package static func connect(location: PostgresLocation, password: String?, logger: Logger, migrate: Bool,
                                connectTimeout: Duration, hashChain: Bool) async throws -> PostgresStore {
        let client = makeClient(location: location, password: password, logger: logger)
        let runner = Task { await client.run() }
        let store = PostgresStore(location: location, client: client, runner: runner, logger: logger, hashChain: hashChain)
        do {
            try await withTimeout(connectTimeout, what: "connecting to \(location)") {
                if migrate {
                    try await PostgresSchema.migrate(client, logger: logger)
                } else {
                    _ = try await client.query("SELECT 1 FROM schema_migrations LIMIT 1", logger: logger).collect()
                }
            }
            try await store.refreshPartitions()
        } catch {
            runner.cancel()
            await runner.value
            throw StoreError("cannot open the PostgreSQL store \(location): \(describe(error))")
        }
        logger.info("opened PostgreSQL store", metadata: ["store": "\(location)"])
        return store
    }

    static func makeClient(location: PostgresLocation, password: String?, logger: Logger) -> PostgresClient {
        let tls: PostgresClient.Configuration.TLS
        switch location.tls {
        case .disable: tls = .disable
        case .require: tls = .require(TLSConfiguration.makeClientConfiguration())  // system trust roots, host name verified
        }
        var config = PostgresClient.Configuration(host: location.host, port: location.port, username: location.user,
                                                  password: password, database: location.database, tls: tls)
        config.options.maximumConnections = location.poolSize
        config.options.minimumConnections = 0
        config.options.connectTimeout = .seconds(10)
        // Acknowledge only what is on disk, whatever the server's default.
        config.options.additionalStartupParameters = [("synchronous_commit", "on"), ("application_name", "auditship")]
        return PostgresClient(configuration: config, backgroundLogger: logger)
    }

    /// Creates database `name` on the server at `server` (connecting to `server.database`),
    /// unless it exists. For tests and first-time setup.
    public static func createDatabase(_ name: String, server: PostgresLocation, password: String?,
                                      logger: Logger = Logger(label: "auditship.store.postgres"),
                                      timeout: Duration = .seconds(30)) async throws {
        guard !name.isEmpty, name.utf8.count < 64, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw StoreError("database name '\(name)' must be 1 to 63 ASCII letters, digits or underscores")
        }
        let client = makeClient(location: server, password: password, logger: logger)
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        do {
            try await withTimeout(timeout, what: "connecting to \(server)") {
                let exists = try await client.query("SELECT 1 FROM pg_database WHERE datname = \(name)", logger: logger).collect()
                if exists.isEmpty {
                    do {
                        _ = try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: logger).collect()
                    } catch where sqlState(error) == "42P04" {}  // created meanwhile by someone else
                }
            }
        } catch {
            throw StoreError("cannot create database '\(name)' on \(server): \(describe(error))")
        }
    }

    // MARK: - Ingest

    private struct Row {
        var index: Int
        var ts: Int64
        var rts: Int64
        var stage: Int16
        var digest: [UInt8]
    }

    public func ingest(_ batch: IngestBatch) async throws -> IngestResult {
        var attempt = 0
        while true {
            do {
                return try await ingestOnce(batch)
            } catch {
                let state = Self.sqlState(error)
                // Deadlock or serialization failure (nothing committed: retry), or a partition
                // dropped by another aggregator's retention since we cached it (recreate and retry).
                guard attempt < 8, let state, ["40P01", "40001", "23514", "55P03"].contains(state) else {
                    if error is StoreError { throw error }
                    throw StoreError("storing batch '\(batch.batchID)' from \(batch.cluster)/\(batch.node) failed: \(Self.describe(error))")
                }
                if state == "23514" { partitions.withLock { $0.removeAll() } }
                attempt += 1
                logger.debug("retrying ingest transaction", metadata: ["batch": "\(batch.batchID)", "sqlstate": "\(state)", "attempt": "\(attempt)"])
                try await Task.sleep(for: .milliseconds(Int64(5 * attempt * attempt)))
            }
        }
    }

    private func ingestOnce(_ batch: IngestBatch) async throws -> IngestResult {
        let n = batch.events.count
        // Dictionary ids, created outside the transaction (an unused entry is harmless, and the
        // cache can never hold an id that a rollback removed).
        var keys = Set<DimKey>()
        keys.insert(DimKey(kind: DimKind.cluster.rawValue, value: batch.cluster))
        keys.insert(DimKey(kind: DimKind.node.rawValue, value: batch.node))
        for e in batch.events {
            let s = e.summary
            keys.insert(DimKey(kind: DimKind.user.rawValue, value: s.username ?? ""))
            keys.insert(DimKey(kind: DimKind.verb.rawValue, value: s.verb))
            keys.insert(DimKey(kind: DimKind.resource.rawValue, value: s.resource))
            keys.insert(DimKey(kind: DimKind.subresource.rawValue, value: s.subresource))
            keys.insert(DimKey(kind: DimKind.namespace.rawValue, value: s.namespace))
        }
        let ids = try await resolveDims(keys)
        func id(_ kind: DimKind, _ value: String) throws -> Int32 {
            guard let v = ids[DimKey(kind: kind.rawValue, value: value)] else { throw StoreError("dictionary entry for \(kind) '\(value)' vanished") }
            return v
        }
        let cluster = try id(.cluster, batch.cluster)
        let node = try id(.node, batch.node)

        var rows: [Row] = []
        rows.reserveCapacity(n)
        var days = Set<Int64>()
        for (i, e) in batch.events.enumerated() {
            let s = e.summary
            let ts = s.orderTimestamp.microseconds
            rows.append(Row(index: i, ts: ts, rts: (s.requestReceivedTimestamp ?? s.orderTimestamp).microseconds,
                            stage: Int16(StageCode.code(s.stage)), digest: e.digest))
            days.insert(Self.day(of: ts))
        }
        // Tomorrow's partition is made ahead, so that midnight does not wait for one.
        days.insert(Self.day(of: Int64(Date().timeIntervalSince1970 * 1_000_000)) + 1)
        try await ensurePartitions(days)

        // Insert in one global key order (ts, digest) so that two transactions inserting
        // overlapping events wait on each other in the same order and cannot deadlock.
        let order = rows.indices.sorted { a, b in
            let x = rows[a], y = rows[b]
            if x.ts != y.ts { return x.ts < y.ts }
            if x.digest != y.digest { return x.digest.lexicographicallyPrecedes(y.digest) }
            return x.index < y.index
        }
        var colDigest: [ByteBuffer] = [], colTs: [Int64] = [], colRts: [Int64] = [], colAudit: [String] = []
        var colStage: [Int16] = [], colUser: [Int32] = [], colVerb: [Int32] = [], colRes: [Int32] = []
        var colSub: [Int32] = [], colNs: [Int32] = [], colCode: [Int32] = [], colRaw: [ByteBuffer] = []
        var colOrd: [Int32] = []
        for i in order {
            let r = rows[i]
            let e = batch.events[r.index]
            let s = e.summary
            colOrd.append(Int32(r.index))
            colDigest.append(ByteBuffer(bytes: e.digest))
            colTs.append(r.ts)
            colRts.append(r.rts)
            colAudit.append(s.auditID)
            colStage.append(r.stage)
            colUser.append(try id(.user, s.username ?? ""))
            colVerb.append(try id(.verb, s.verb))
            colRes.append(try id(.resource, s.resource))
            colSub.append(try id(.subresource, s.subresource))
            colNs.append(try id(.namespace, s.namespace))
            colCode.append(s.responseCode.flatMap { Int32(exactly: $0) } ?? Int32.min)
            colRaw.append(ByteBuffer(bytes: e.bytes))
        }
        let logger = self.logger
        let batchID = batch.batchID
        let receivedAt = Int64(Date().timeIntervalSince1970 * 1_000_000)
        let events = batch.events
        let clusterName = batch.cluster
        let hashChain = self.hashChain

        return try await client.withConnection { conn in
            try await Self.exec(conn, "BEGIN", logger)
            do {
                // Announce the sequence value seen before drawing ids (see lastSequence()).
                try await Self.exec(conn, """
                    SELECT pg_advisory_xact_lock_shared((\(PostgresSchema.inflightTag)::int8 << 48)
                        | (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_id_seq))
                    """, logger)
                // Ingest ids in batch order (the order of the agent's file), whatever the insert order.
                var seq: [Int64] = []
                seq.reserveCapacity(n)
                for row in try await Self.exec(conn, "SELECT nextval('events_id_seq') FROM generate_series(1, \(n))", logger) {
                    seq.append(try row.decode(Int64.self))
                }
                seq.sort()
                guard seq.count == n else { throw StoreError("the database returned \(seq.count) ingest ids for \(n) events") }
                let colID = colOrd.map { seq[Int($0)] }
                var binds = PostgresBindings(capacity: 16)
                binds.append(cluster); binds.append(node); binds.append(colID); binds.append(colDigest)
                binds.append(colTs); binds.append(colRts); binds.append(colAudit); binds.append(colStage)
                binds.append(colUser); binds.append(colVerb); binds.append(colRes); binds.append(colSub)
                binds.append(colNs); binds.append(colCode); binds.append(colRaw)
                let inserted = try await Self.exec(conn, PostgresQuery(unsafeSQL: """
                    INSERT INTO events(id, cluster, node, digest, ts, rts, audit_id, stage, usr, verb, resource, subresource, namespace, code, raw)
                    SELECT u.id, $1, $2, u.digest, u.ts, u.rts, u.audit_id, u.stage, u.usr, u.verb, u.resource, u.subresource,
                           u.namespace, NULLIF(u.code, -2147483648), u.raw
                    FROM unnest($3::int8[], $4::bytea[], $5::int8[], $6::int8[], $7::text[], $8::int2[], $9::int4[], $10::int4[],
                                $11::int4[], $12::int4[], $13::int4[], $14::int4[], $15::bytea[])
                         WITH ORDINALITY AS u(id, digest, ts, rts, audit_id, stage, usr, verb, resource, subresource, namespace, code, raw, ord)
                    ORDER BY u.ord
                    ON CONFLICT (cluster, digest, ts) DO NOTHING
                    RETURNING id
                    """, binds: binds), logger)
                var storedIDs = Set<Int64>()
                for row in inserted { storedIDs.insert(try row.decode(Int64.self)) }

                // The newly stored events, by (auditID, stage).
                struct New { var m = 0; var ts: Int64 = .min; var id: Int64 = 0; var members: [(ts: Int64, id: Int64)] = [] }
                struct AKey: Hashable { var audit: String; var stage: Int16 }
                var news: [AKey: New] = [:]
                for k in colID.indices where storedIDs.contains(colID[k]) {
                    let key = AKey(audit: colAudit[k], stage: colStage[k])
                    var v = news[key] ?? New()
                    v.m += 1
                    v.members.append((colTs[k], colID[k]))
                    if colTs[k] > v.ts || (colTs[k] == v.ts && colID[k] > v.id) { v.ts = colTs[k]; v.id = colID[k] }
                    news[key] = v
                }
                var leaves: [UInt8] = []
                leaves.reserveCapacity(storedIDs.count * ChainFormat.leafSize)
                var firstID = Int64.max, lastID = Int64.min
                for i in 0..<n where hashChain && storedIDs.contains(seq[i]) {
                    firstID = min(firstID, seq[i])
                    lastID = max(lastID, seq[i])
                    ChainFormat.appendLeaf(&leaves, id: seq[i], timestamp: rows[i].ts,
                                           eventHash: ChainFormat.eventHash(cluster: batch.cluster, node: batch.node, digest: events[i].digest))
                }
                let collisions = try await Self.recordAuditKeys(conn, cluster: cluster, node: node, news: news.map { ($0.key.audit, $0.key.stage, $0.value.m, $0.value.ts, $0.value.id, $0.value.members) },
                                                                batchID: batchID, receivedAt: receivedAt, events: events.count, stored: storedIDs.count, logger: logger)
                try await Self.appendBlock(conn, cluster: clusterName, leaves: leaves, firstID: firstID, lastID: lastID, batchID: batchID, logger: logger)
                try await Self.exec(conn, "COMMIT", logger)
                return IngestResult(stored: storedIDs.count, duplicates: events.count - storedIDs.count, collisions: collisions)
            } catch {
                _ = try? await Self.exec(conn, "ROLLBACK", logger)
                throw error
            }
        }
    }

    /// Records the (auditID, stage) keys of newly stored events and the batch; flags and counts collisions.
    /// Per key with `m` new events: `m - 1` collisions when no other event holds the key, else `m`
    /// (as SQLite counts them, one insert at a time).
    private static func recordAuditKeys(_ conn: PostgresConnection, cluster: Int32, node: Int32,
                                        news: [(audit: String, stage: Int16, m: Int, ts: Int64, id: Int64, members: [(ts: Int64, id: Int64)])],
                                        batchID: String, receivedAt: Int64, events: Int, stored: Int, logger: Logger) async throws -> Int {
        var binds = PostgresBindings(capacity: 12)
        binds.append(cluster)
        binds.append(news.map(\.audit)); binds.append(news.map(\.stage)); binds.append(news.map(\.ts)); binds.append(news.map(\.id))
        binds.append(node); binds.append(batchID); binds.append(receivedAt)
        binds.append(Int32(clamping: events)); binds.append(Int32(clamping: stored)); binds.append(Int32(clamping: events - stored))
        // Keys inserted in one order (sorted) so that concurrent writers cannot deadlock.
        let fresh = try await exec(conn, PostgresQuery(unsafeSQL: """
            WITH b AS (
                INSERT INTO batches(cluster, node, batch_id, received_at, events, stored, duplicates)
                VALUES ($1, $6, $7, $8, $9, $10, $11)
            )
            INSERT INTO audit_keys(cluster, audit_id, stage, ts, id)
            SELECT $1, u.a, u.s, u.t, u.i FROM unnest($2::text[], $3::int2[], $4::int8[], $5::int8[]) AS u(a, s, t, i)
            ORDER BY u.a COLLATE "C", u.s
            ON CONFLICT DO NOTHING
            RETURNING audit_id, stage
            """, binds: binds), logger)
        struct AKey: Hashable { var audit: String; var stage: Int16 }
        var freshKeys = Set<AKey>()
        for row in fresh {
            let (a, s) = try row.decode((String, Int16).self)
            freshKeys.insert(AKey(audit: a, stage: s))
        }
        var collisions = 0
        var flag: [(ts: Int64, id: Int64)] = []
        // Key rows to update: collided flag, and the held event with the greatest ts.
        var keyUpdates: [(audit: String, stage: Int16, collided: Bool, ts: Int64, id: Int64)] = []
        var held: [(audit: String, stage: Int16, m: Int, ts: Int64, id: Int64, members: [(ts: Int64, id: Int64)])] = []
        for k in news {
            if freshKeys.contains(AKey(audit: k.audit, stage: k.stage)) {
                if k.m > 1 {
                    collisions += k.m - 1
                    flag += k.members
                    keyUpdates.append((k.audit, k.stage, true, k.ts, k.id))
                }
            } else {
                held.append(k)
            }
        }
        if !held.isEmpty {
            // Keys another event holds (or held: retention may have deleted it). The insert above
            // waited for any concurrent writer of the key to commit, so its events are visible now.
            var b = PostgresBindings(capacity: 3)
            b.append(cluster); b.append(held.map(\.audit)); b.append(held.map(\.stage))
            let rows = try await exec(conn, PostgresQuery(unsafeSQL: """
                SELECT k.audit_id, k.stage, k.ts, k.id,
                       EXISTS (SELECT 1 FROM events e WHERE e.ts = k.ts AND e.id = k.id)
                       OR (k.collided AND EXISTS (SELECT 1 FROM events e WHERE e.cluster = k.cluster AND e.audit_id = k.audit_id
                                                   AND e.stage = k.stage AND e.collision))
                FROM audit_keys k JOIN unnest($2::text[], $3::int2[]) AS u(a, s) ON k.audit_id = u.a AND k.stage = u.s
                WHERE k.cluster = $1
                ORDER BY k.audit_id, k.stage
                FOR UPDATE OF k
                """, binds: b), logger)
            var existing: [AKey: (ts: Int64, id: Int64, live: Bool)] = [:]
            for row in rows {
                let (a, s, t, i, live) = try row.decode((String, Int16, Int64, Int64, Bool).self)
                existing[AKey(audit: a, stage: s)] = (t, i, live)
            }
            for k in held {
                guard let e = existing[AKey(audit: k.audit, stage: k.stage)] else {
                    throw StoreError("auditID key '\(k.audit)' vanished during ingest")
                }
                if e.live {
                    collisions += k.m
                    flag += k.members
                    flag.append((e.ts, e.id))
                    let newer = k.ts > e.ts || (k.ts == e.ts && k.id > e.id)
                    keyUpdates.append((k.audit, k.stage, true, newer ? k.ts : e.ts, newer ? k.id : e.id))
                } else {
                    // The key's events were all deleted by retention: this is a fresh key.
                    collisions += k.m - 1
                    if k.m > 1 { flag += k.members }
                    keyUpdates.append((k.audit, k.stage, k.m > 1, k.ts, k.id))
                }
            }
        }
        if !flag.isEmpty {
            flag.sort { ($0.ts, $0.id) < ($1.ts, $1.id) }
            var b = PostgresBindings(capacity: 2)
            b.append(flag.map(\.ts)); b.append(flag.map(\.id))
            try await exec(conn, PostgresQuery(unsafeSQL: """
                UPDATE events e SET collision = true
                FROM unnest($1::int8[], $2::int8[]) AS u(t, i)
                WHERE e.ts = u.t AND e.id = u.i AND NOT e.collision
                """, binds: b), logger)
        }
        if !keyUpdates.isEmpty {
            var b = PostgresBindings(capacity: 6)
            b.append(cluster); b.append(keyUpdates.map(\.audit)); b.append(keyUpdates.map(\.stage))
            b.append(keyUpdates.map(\.collided)); b.append(keyUpdates.map(\.ts)); b.append(keyUpdates.map(\.id))
            try await exec(conn, PostgresQuery(unsafeSQL: """
                UPDATE audit_keys k SET collided = u.c, ts = u.t, id = u.i
                FROM unnest($2::text[], $3::int2[], $4::bool[], $5::int8[], $6::int8[]) AS u(a, s, c, t, i)
                WHERE k.cluster = $1 AND k.audit_id = u.a AND k.stage = u.s
                """, binds: b), logger)
        }
        return collisions
    }

    /// Dictionary ids for `keys`: from the cache, else inserted (`ON CONFLICT DO NOTHING`, so
    /// concurrent aggregators adding the same value agree on one id) and read back.
    private func resolveDims(_ keys: Set<DimKey>) async throws -> [DimKey: Int32] {
        var out: [DimKey: Int32] = [:]
        var missing: [DimKey] = []
        dims.withLock { cache in
            for k in keys {
                if let id = cache[k] { out[k] = id } else { missing.append(k) }
            }
        }
        if missing.isEmpty { return out }
        var b = PostgresBindings(capacity: 2)
        b.append(missing.map(\.kind)); b.append(missing.map(\.value))
        _ = try await client.query(PostgresQuery(unsafeSQL: """
            INSERT INTO dims(kind, value)
            SELECT u.k, u.v FROM unnest($1::int2[], $2::text[]) AS u(k, v) ORDER BY u.k, u.v COLLATE "C"
            ON CONFLICT DO NOTHING
            """, binds: b), logger: logger).collect()
        let rows = try await client.query(PostgresQuery(unsafeSQL: """
            SELECT d.id, d.kind, d.value FROM dims d JOIN unnest($1::int2[], $2::text[]) AS u(k, v) ON d.kind = u.k AND d.value = u.v
            """, binds: b), logger: logger).collect()
        var found: [DimKey: Int32] = [:]
        for row in rows {
            let (id, kind, value) = try row.decode((Int32, Int16, String).self)
            found[DimKey(kind: kind, value: value)] = id
        }
        dims.withLock { cache in cache.merge(found) { _, new in new } }
        out.merge(found) { _, new in new }
        return out
    }

    private func lookupDim(_ kind: DimKind, _ value: String) async throws -> Int32? {
        let key = DimKey(kind: kind.rawValue, value: value)
        if let id = dims.withLock({ $0[key] }) { return id }
        let rows = try await client.query("SELECT id FROM dims WHERE kind = \(kind.rawValue) AND value = \(value)", logger: logger).collect()
        guard let row = rows.first else { return nil }
        let id = try row.decode(Int32.self)
        dims.withLock { $0[key] = id }
        return id
    }

    // MARK: - Partitions

    /// The UTC day of a timestamp in microseconds (floor division).
    static func day(of ts: Int64) -> Int64 {
        ts >= 0 ? ts / microsPerDay : -((-(ts + 1)) / microsPerDay) - 1
    }

    /// `events_YYYYMMDD` (or `events_dN`/`events_dmN` for days outside years 1-9999).
    static func partitionName(day: Int64) -> String {
        // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
        let z = day + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        guard (1...9999).contains(y) else { return day < 0 ? "events_dm\(-day)" : "events_d\(day)" }
        func pad(_ v: Int64, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "events_\(pad(y, 4))\(pad(m, 2))\(pad(d, 2))"
    }

    struct PartitionInfo: Sendable {
        var name: String
        var lower: Int64
        var upper: Int64
        var detachPending: Bool
    }

    private func listPartitions(on conn: PostgresConnection? = nil) async throws -> [PartitionInfo] {
        let sql: PostgresQuery = """
            SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid), i.inhdetachpending
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'events'::regclass
            """
        let rows: [PostgresRow]
        if let conn {
            rows = try await Self.exec(conn, sql, logger)
        } else {
            rows = try await client.query(sql, logger: logger).collect()
        }
        var out: [PartitionInfo] = []
        for row in rows {
            let (name, bound, pending) = try row.decode((String, String, Bool).self)
            // "FOR VALUES FROM ('1767225600000000') TO ('1767312000000000')"
            var numbers: [Int64] = []
            var current = ""
            for ch in bound + " " {
                if ch.isNumber || (ch == "-" && current.isEmpty) { current.append(ch) } else {
                    if let v = Int64(current) { numbers.append(v) }
                    current = ""
                }
            }
            guard numbers.count == 2 else { throw StoreError("partition \(name) has bounds '\(bound)', not a day of ts") }
            out.append(PartitionInfo(name: name, lower: numbers[0], upper: numbers[1], detachPending: pending))
        }
        return out.sorted { $0.lower < $1.lower }
    }

    private func refreshPartitions() async throws {
        let days = try await listPartitions().filter { !$0.detachPending }.map { Self.day(of: $0.lower) }
        partitions.withLock { $0 = Set(days) }
    }

    /// The days (UTC, since the epoch) that have a partition.
    public func partitionDays() async throws -> [Int64] {
        try await mapErrors("listing partitions") { try await self.listPartitions().filter { !$0.detachPending }.map { Self.day(of: $0.lower) } }
    }

    /// Creates the partitions of `days` that do not exist. Concurrency-safe: creation runs under a
    /// transaction advisory lock, so a second aggregator wanting the same day waits and then finds
    /// it (`IF NOT EXISTS`); no "already exists" race between the check and the create.
    func ensurePartitions(_ days: Set<Int64>) async throws {
        let missing = days.subtracting(partitions.withLock { $0 })
        if missing.isEmpty { return }
        for day in missing.sorted() {
            let (lower, o1) = day.multipliedReportingOverflow(by: Self.microsPerDay)
            let (upper, o2) = lower.addingReportingOverflow(Self.microsPerDay)
            guard !o1, !o2 else { throw StoreError("event timestamp out of range (day \(day))") }
            let name = Self.partitionName(day: day)
            let logger = self.logger
            let created = try await client.withConnection { conn -> Bool in
                try await Self.exec(conn, "BEGIN", logger)
                do {
                    try await Self.exec(conn, "SELECT pg_advisory_xact_lock(\(PostgresSchema.lockNamespace), \(PostgresSchema.partitionLock))", logger)
                    // Attaching a partition locks `events` briefly; rather than queue every ingest
                    // behind a long query, give up after a while (the ingest retries).
                    try await Self.exec(conn, "SET LOCAL lock_timeout = '5s'", logger)
                    // A table of that name that is not a partition is one that retention detached
                    // and did not get to drop (a crash between the two): finish the job.
                    let leftover = try await Self.exec(conn, """
                        SELECT c.relispartition FROM pg_class c
                        WHERE c.relname = \(name) AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
                        """, logger)
                    var made = false
                    if let row = leftover.first {
                        if try !row.decode(Bool.self) {
                            try await Self.exec(conn, PostgresQuery(unsafeSQL: "DROP TABLE \"\(name)\""), logger)
                            made = true
                        }
                    } else {
                        made = true
                    }
                    if made {
                        try await Self.exec(conn, PostgresQuery(unsafeSQL: """
                            CREATE TABLE IF NOT EXISTS "\(name)" PARTITION OF events FOR VALUES FROM (\(lower)) TO (\(upper))
                            """), logger)
                    }
                    try await Self.exec(conn, "COMMIT", logger)
                    return made
                } catch {
                    _ = try? await Self.exec(conn, "ROLLBACK", logger)
                    throw error
                }
            }
            if created { logger.info("created partition", metadata: ["partition": "\(name)"]) }
            partitions.withLock { _ = $0.insert(day) }
        }
    }

    // MARK: - Queries

    /// Builds the WHERE clause; nil when a filter names a value the store has never seen.
    private func whereClause(_ q: EventQuery, extra: [String] = []) async throws -> (String, PostgresBindings)? {
        var conditions: [String] = []
        var binds = PostgresBindings()
        func bind<T: PostgresDynamicTypeEncodable>(_ v: T) -> String {
            binds.append(v)
            return "$\(binds.count)"
        }
        func dim(_ kind: DimKind, _ value: String?, _ column: String) async throws -> Bool {
            guard let value else { return true }
            guard let id = try await lookupDim(kind, value) else { return false }
            conditions.append("e.\(column) = \(bind(id))")
            return true
        }
        guard try await dim(.cluster, q.cluster, "cluster"), try await dim(.node, q.node, "node"),
              try await dim(.user, q.user, "usr"), try await dim(.verb, q.verb, "verb"),
              try await dim(.namespace, q.namespace, "namespace") else { return nil }
        if let r = q.resource {
            let parts = r.split(separator: "/", maxSplits: 1).map(String.init)
            guard try await dim(.resource, parts.first ?? r, "resource") else { return nil }
            if parts.count == 2, try await !dim(.subresource, parts[1], "subresource") { return nil }
        }
        if let since = q.since { conditions.append("e.ts >= \(bind(since.microseconds))") }
        if let until = q.until { conditions.append("e.ts < \(bind(until.microseconds))") }
        if let c = q.after {
            conditions.append("(e.ts, e.rts, e.audit_id, e.stage, e.id) > (\(bind(c.timestamp)), \(bind(c.received)), \(bind(c.auditID)), \(bind(Int16(clamping: c.stage))), \(bind(c.sequence)))")
        }
        if let seq = q.ingestedAfter {
            // Only up to the watermark: nothing below it can still appear (see the type's comment).
            let watermark = try await lastSequenceRaw()
            conditions.append("e.id > \(bind(seq))")
            conditions.append("e.id <= \(bind(watermark))")
        }
        conditions += extra
        return (conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "), binds)
    }

    private func eventsRaw(_ query: EventQuery) async throws -> [StoredEvent] {
        guard let (whereSQL, binds) = try await whereClause(query) else { return [] }
        let order = query.ingestOrder ? "e.id" : "e.ts, e.rts, e.audit_id, e.stage, e.id"
        var sql = """
            SELECT e.id, c.value, n.value, e.raw, e.ts, e.rts, e.audit_id, e.stage, e.collision FROM events e
            JOIN dims c ON c.id = e.cluster JOIN dims n ON n.id = e.node
            \(whereSQL) ORDER BY \(order)
            """
        if let limit = query.limit { sql += " LIMIT \(max(0, limit))" }
        var out: [StoredEvent] = []
        for try await row in try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger) {
            let (id, cluster, node, raw, ts, rts, auditID, stage, collision) =
                try row.decode((Int64, String, String, ByteBuffer, Int64, Int64, String, Int16, Bool).self)
            let cursor = EventCursor(timestamp: ts, received: rts, auditID: auditID, stage: Int(stage), sequence: id)
            out.append(StoredEvent(sequence: id, cluster: cluster, node: node, bytes: Array(raw.readableBytesView),
                                   timestamp: Timestamp(microseconds: ts), cursor: cursor, collision: collision))
        }
        return out
    }

    private func countRaw(_ query: EventQuery) async throws -> Int {
        guard let (whereSQL, binds) = try await whereClause(query) else { return 0 }
        let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM events e \(whereSQL)", binds: binds), logger: logger).collect()
        return Int(try rows.first?.decode(Int64.self) ?? 0)
    }

    private func collisionsRaw(_ query: EventQuery) async throws -> [AuditIDCollision] {
        guard let (whereSQL, binds) = try await whereClause(query, extra: ["e.collision"]) else { return [] }
        let rows = try await client.query(PostgresQuery(unsafeSQL: """
            SELECT c.value, e.audit_id, e.stage, count(*) FROM events e JOIN dims c ON c.id = e.cluster
            \(whereSQL) GROUP BY c.value, e.audit_id, e.stage ORDER BY min(e.ts), e.audit_id, e.stage
            """, binds: binds), logger: logger).collect()
        return try rows.map { row in
            let (cluster, auditID, stage, n) = try row.decode((String, String, Int16, Int64).self)
            return AuditIDCollision(cluster: cluster, auditID: auditID, stage: StageCode.name(Int(stage)), events: Int(n))
        }
    }

    private func statisticsRaw(_ query: EventQuery) async throws -> StoreStatistics {
        guard let (whereSQL, binds) = try await whereClause(query) else { return StoreStatistics() }
        func group(_ column: String) async throws -> [String: Int] {
            let rows = try await client.query(PostgresQuery(unsafeSQL: """
                SELECT d.value, count(*) FROM events e JOIN dims d ON d.id = e.\(column) \(whereSQL) GROUP BY d.value
                """, binds: binds), logger: logger).collect()
            var out: [String: Int] = [:]
            for row in rows {
                let (v, n) = try row.decode((String, Int64).self)
                out[v, default: 0] += Int(n)
            }
            return out
        }
        let totalRows = try await client.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM events e \(whereSQL)", binds: binds), logger: logger).collect()
        return StoreStatistics(total: Int(try totalRows.first?.decode(Int64.self) ?? 0),
                               byCluster: try await group("cluster"), byNode: try await group("node"), byUser: try await group("usr"),
                               byVerb: try await group("verb"), byResource: try await group("resource"))
    }

    /// Drops the daily partitions that lie wholly before `cutoff` (DETACH … CONCURRENTLY, which
    /// does not block ingest or queries, then DROP), deletes the cutoff day's older rows in chunks
    /// of 10,000, and forgets the auditID keys of deleted events. Several aggregators may run it at
    /// once: an advisory lock makes them take turns. Returns the number of events deleted.
    private func deleteEventsRaw(before cutoff: Timestamp) async throws -> Int {
        let cut = cutoff.microseconds
        let logger = self.logger
        return try await client.withConnection { conn in
            try await Self.exec(conn, "SELECT pg_advisory_lock(\(PostgresSchema.lockNamespace), \(PostgresSchema.retentionLock))", logger)
            do {
                try await Self.raisePrunedBefore(conn, cut, logger: logger)
                var total = 0
                for p in try await self.listPartitions(on: conn) where p.upper <= cut {
                    let ident = "\"\(p.name)\""
                    if p.detachPending {
                        try await Self.exec(conn, PostgresQuery(unsafeSQL: "ALTER TABLE events DETACH PARTITION \(ident) FINALIZE"), logger)
                    } else {
                        try await Self.exec(conn, PostgresQuery(unsafeSQL: "ALTER TABLE events DETACH PARTITION \(ident) CONCURRENTLY"), logger)
                    }
                    self.partitions.withLock { _ = $0.remove(Self.day(of: p.lower)) }
                    // Detached: nothing can be added to it any more, so the count is exact.
                    let n = try await Self.exec(conn, PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(ident)"), logger).first?.decode(Int64.self) ?? 0
                    try await Self.exec(conn, PostgresQuery(unsafeSQL: "DROP TABLE \(ident)"), logger)
                    total += Int(n)
                    logger.info("dropped partition", metadata: ["partition": "\(p.name)", "events": "\(n)"])
                }
                while true {
                    let rows = try await Self.exec(conn, """
                        WITH d AS (
                            DELETE FROM events WHERE (ts, id) IN (SELECT ts, id FROM events WHERE ts < \(cut) LIMIT 10000) RETURNING 1
                        ) SELECT count(*) FROM d
                        """, logger)
                    let n = Int(try rows.first?.decode(Int64.self) ?? 0)
                    total += n
                    if n < 10_000 { break }
                    await Task.yield()
                }
                // Keys whose only event was deleted. Keys that ever collided stay: their other
                // events may remain; ingest checks such keys against the events themselves.
                while true {
                    let rows = try await Self.exec(conn, """
                        WITH d AS (
                            DELETE FROM audit_keys WHERE ctid = ANY(ARRAY(
                                SELECT ctid FROM audit_keys WHERE ts < \(cut) AND NOT collided LIMIT 10000)) RETURNING 1
                        ) SELECT count(*) FROM d
                        """, logger)
                    if try rows.first?.decode(Int64.self) ?? 0 < 10_000 { break }
                    await Task.yield()
                }
                try await Self.exec(conn, "SELECT pg_advisory_unlock(\(PostgresSchema.lockNamespace), \(PostgresSchema.retentionLock))", logger)
                return total
            } catch {
                _ = try? await Self.exec(conn, "SELECT pg_advisory_unlock(\(PostgresSchema.lockNamespace), \(PostgresSchema.retentionLock))", logger)
                throw error
            }
        }
    }

    /// The ingest watermark: the highest sequence W such that every event with a sequence ≤ W is
    /// committed (and visible) or will never exist. 0 when nothing was ingested.
    ///
    /// Read the sequence's current value V first, then the smallest "seen" value L announced by an
    /// ingest transaction still running: W = min(V, L). A transaction announces L before drawing
    /// ids, so its ids are > L; one that announced after V was read draws ids > V.
    private func lastSequenceRaw() async throws -> Int64 {
        let logger = self.logger
        return try await client.withConnection { conn in
            let v = try await Self.exec(conn, "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_id_seq", logger)
                .first?.decode(Int64.self) ?? 0
            let l = try await Self.exec(conn, """
                SELECT min(((l.classid::int8 & 65535) << 32) | l.objid::int8) FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND (l.classid::int8 >> 16) = \(PostgresSchema.inflightTag)
                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                """, logger).first?.decode(Int64?.self) ?? nil
            return min(v, l ?? v)
        }
    }

    public func close() async throws {
        guard let task = runner.withLock({ r -> Task<Void, Never>? in defer { r = nil }; return r }) else { return }
        task.cancel()
        await task.value
    }

    // MARK: - Public operations (errors as StoreError with the server's message)

    public func events(_ query: EventQuery) async throws -> [StoredEvent] {
        if query.hasEventFilters { return try await filteredEvents(query) }
        return try await mapErrors("querying events") { try await self.eventsRaw(query) }
    }

    public func count(_ query: EventQuery) async throws -> Int {
        if query.hasEventFilters {
            var q = query
            q.limit = nil
            return try await filteredEvents(q).count
        }
        return try await mapErrors("counting events") { try await self.countRaw(query) }
    }

    /// The row layout has no columns for the event filters (group, apiGroup, name, code, stage,
    /// text): the events matching the others are read page by page and each is checked.
    func filteredEvents(_ query: EventQuery) async throws -> [StoredEvent] {
        var base = query.withoutEventFilters
        base.limit = 5_000
        var out: [StoredEvent] = []
        while true {
            let q = base
            let page = try await mapErrors("querying events") { try await self.eventsRaw(q) }
            for e in page where query.matchesEventFilters(e) {
                out.append(e)
                if let limit = query.limit, out.count >= limit { return out }
            }
            guard page.count == 5_000, let last = page.last else { return out }
            if query.ingestOrder { base.ingestedAfter = last.sequence } else { base.after = last.cursor }
        }
    }

    public func collisions(_ query: EventQuery) async throws -> [AuditIDCollision] {
        try await mapErrors("listing auditID collisions") { try await self.collisionsRaw(query) }
    }

    public func statistics(_ query: EventQuery) async throws -> StoreStatistics {
        if query.hasEventFilters {
            var q = query
            q.limit = nil
            var s = StoreStatistics()
            for e in try await filteredEvents(q) {
                let summary = try? EventScanner.scan(e.bytes)
                s.total += 1
                s.byCluster[e.cluster, default: 0] += 1
                s.byNode[e.node, default: 0] += 1
                s.byUser[summary?.username ?? "", default: 0] += 1
                s.byVerb[summary?.verb ?? "", default: 0] += 1
                s.byResource[summary?.resource ?? "", default: 0] += 1
            }
            return s
        }
        return try await mapErrors("counting statistics") { try await self.statisticsRaw(query) }
    }

    /// Retention: drops whole daily partitions before the cutoff, deletes the rest row by row
    /// (see `deleteEventsRaw`). Returns the number of events deleted.
    public func deleteEvents(before cutoff: Timestamp) async throws -> Int {
        try await mapErrors("deleting old events") { try await self.deleteEventsRaw(before: cutoff) }
    }

    /// The ingest watermark, not simply the highest id: see `lastSequenceRaw` and the type's comment.
    /// Size of this store's database on the server, bytes (`pg_database_size`): tables,
    /// indexes and TOAST of every partition.
    public func databaseBytes() async throws -> Int64 {
        let logger = self.logger
        return try await mapErrors("reading the database size") {
            try await self.client.withConnection { conn in
                try await Self.exec(conn, "SELECT pg_database_size(current_database())", logger).first?.decode(Int64.self) ?? 0
            }
        }
    }

    public func lastSequence() async throws -> Int64 {
        try await mapErrors("reading the ingest watermark") { try await self.lastSequenceRaw() }
    }

    func mapErrors<T: Sendable>(_ what: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as StoreError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw StoreError("PostgreSQL store \(location): \(what) failed: \(Self.describe(error))")
        }
    }

    // MARK: - Helpers

    @discardableResult
    static func exec(_ conn: PostgresConnection, _ query: PostgresQuery, _ logger: Logger) async throws -> [PostgresRow] {
        var rows: [PostgresRow] = []
        for try await row in try await conn.query(query, logger: logger) { rows.append(row) }
        return rows
    }

    /// A description of the full disk when `error` is PostgreSQL's disk_full (SQLSTATE 53100) or
    /// out of space in a file (53xxx with ENOSPC); nil for any other error.
    public static func diskFull(_ error: any Error) -> String? {
        if sqlState(error) == "53100" { return "PostgreSQL: disk full (SQLSTATE 53100)" }
        return describe(error).contains("No space left on device") ? "PostgreSQL: no space left on device" : nil
    }

    static func sqlState(_ error: any Error) -> String? {
        if let e = error as? PSQLError { return e.serverInfo?[.sqlState] }
        if let e = error as? PostgresTransactionError { return e.closureError.flatMap { sqlState($0) } }
        return nil
    }

    /// An error as text for operators (postgres-nio's own description hides the server's message).
    static func describe(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let info = e.serverInfo, let message = info[.message] {
                return "\(message) (SQLSTATE \(info[.sqlState] ?? "?"))"
            }
            return String(reflecting: e)
        }
        return "\(error)"
    }

    static func withTimeout<T: Sendable>(_ limit: Duration, what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw StoreError("timed out after \(limit) \(what)")
            }
            return value
        }
    }
}
