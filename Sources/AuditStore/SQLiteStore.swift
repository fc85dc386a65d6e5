import AuditBlock
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
/// Layout (schema v5, SQLiteBlocks.swift): events in sealed, zstd-compressed blocks with a
/// per-block index and hourly rollups; `dims(id, kind, value)` names clusters and nodes;
/// `batches(id, cluster, node, batch_id, received_at, events, stored, duplicates)` logs every
/// committed batch. Ingest is SQLiteStore+Ingest.swift, queries SQLiteStore+Query.swift.
public final class SQLiteStore: EventStore {
    enum DimKind: Int {
        case cluster = 1, node, user, verb, resource, subresource, namespace
    }
    struct DimKey: Hashable { var kind: Int; var value: String }

    let pool: DatabasePool
    private let dims = Mutex<[DimKey: Int64]>([:])
    /// Term ids by field and value, cluster names by dictionary id.
    let terms = Mutex<[TermKey: Int64]>([:])
    let clusterNames = Mutex<[Int64: String]>([:])
    /// Group commit of ingest batches (set once in init).
    private let committerBox = Mutex<GroupCommitter<PreparedBatch>?>(nil)
    private var committer: GroupCommitter<PreparedBatch> {
        committerBox.withLock { box in
            if let c = box { return c }
            let c = GroupCommitter<PreparedBatch> { [weak self] batches in
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
            // A store written by an earlier version: its rows move into blocks (SQLiteUpgrade.swift).
            try pool.write { db in _ = try self.upgradeRowsToBlocks(db) }
        } else {
            let current = try pool.read { db in try db.tableExists("blocks") && !(try db.tableExists("events")) }
            guard current else {
                throw StoreError("the store at '\(path)' has the layout of an earlier version of auditship: start the aggregator (or any writer) on it once to upgrade it in place, then read it")
            }
        }
    }

    func dimID(_ db: Database, _ kind: DimKind, _ value: String) throws -> Int64 {
        let key = DimKey(kind: kind.rawValue, value: value)
        if let id = dims.withLock({ $0[key] }) { return id }
        try db.execute(sql: "INSERT OR IGNORE INTO dims(kind, value) VALUES (?, ?)", arguments: [kind.rawValue, value])
        guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM dims WHERE kind = ? AND value = ?", arguments: [kind.rawValue, value]) else {
            throw StoreError("dictionary entry for \(kind) '\(value)' vanished")
        }
        dims.withLock { $0[key] = id }
        return id
    }

    func lookupDim(_ db: Database, _ kind: DimKind, _ value: String) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT id FROM dims WHERE kind = ? AND value = ?", arguments: [kind.rawValue, value])
    }

    /// Stores a batch; returns after the transaction holding it committed durably. Batches that
    /// arrive while another transaction commits are written together in the next one (group
    /// commit), each in a savepoint of its own, so one batch's failure is its own.
    public func ingest(_ batch: IngestBatch) async throws -> IngestResult {
        // Rows, keys and sealed blocks are made here, on the caller's task, beside other batches.
        try await committer.submit(PreparedBatch(batch))
    }

    /// Writes a group of batches in one transaction: one result per batch, in order.
    func commitGroup(_ batches: [PreparedBatch]) async -> [Result<IngestResult, any Error>] {
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
                        self.forgetCachedIDs()
                        if DiskFull.sqlite(error) != nil { diskFull.withLock { $0 = $0 ?? error } }
                        results.append(.failure(error))
                    }
                }
                return results
            }
        } catch {
            self.forgetCachedIDs()
            let reported = diskFull.withLock { $0 } ?? error
            return batches.map { _ in .failure(reported) }
        }
    }

    /// Dictionary and term ids cached inside a rolled-back transaction would be stale.
    func forgetCachedIDs() {
        dims.withLock { $0.removeAll() }
        terms.withLock { $0.removeAll() }
    }

    /// Releases the store's resources.
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
}
