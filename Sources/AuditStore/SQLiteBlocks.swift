import AuditBlock
import AuditChain
import AuditModel
import Foundation
import GRDB
import Synchronization

/// Schema v5 of the SQLite store: events live in sealed blocks (Protocols/formats.md §8).
///
/// - `blocks(first_id, cluster, count, min_ts, max_ts, raw_bytes, format, terms, columns, raw)`:
///   one row per sealed block of one cluster. Its events have the ingest ids `first_id ..<
///   first_id + count` in block order; all their order timestamps fall in one hour, so a block
///   spans less than an hour (`max_ts − min_ts < 1 h`), which lets a time window find its
///   blocks through the index on `max_ts` alone. `terms` is the block's index (term id and
///   event count, for every indexed value it holds); `columns` and `raw` are the block's zstd
///   parts, `columns` first so that a query reads it without touching the raw part's pages.
/// - `terms(id, field, value)`: the dictionary of indexed values (`BlockField` raw values).
/// - `block_terms(term, block, events)`: which blocks hold a value, and how many of their events.
/// - `event_keys(cluster, second, key, id)`: the de-duplication key of every stored event
///   (`EventKey`), ordered by time first so that it grows at its end.
/// - `collisions(id, cluster, audit_id, stage, ts)`: events sharing an auditID and stage with an
///   event of other bytes.
/// - `rollup_hour(cluster, hour, verb, user, resource, namespace, code_class, node, code, events)`:
///   event counts per hour (term ids, 0 for none; code_class 0 to 5), added to when a block is
///   sealed and taken from when retention drops one. Node and code joined it in v7.
/// - `rollup_minute(cluster, minute, events)` (v6): event counts per minute, kept the same way,
///   for time histograms.
extension SQLiteStore {
    /// Most events one block takes (a larger hour of one batch becomes several blocks).
    static let maxBlockEvents = 4096
    /// zstd level of sealed blocks.
    static let blockLevel: Int32 = 3

    static func registerBlockMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v5-blocks") { db in
            try db.execute(sql: """
                CREATE TABLE blocks(
                    first_id INTEGER PRIMARY KEY,
                    cluster INTEGER NOT NULL,
                    count INTEGER NOT NULL,
                    min_ts INTEGER NOT NULL,
                    max_ts INTEGER NOT NULL,
                    raw_bytes INTEGER NOT NULL,
                    format INTEGER NOT NULL,
                    terms BLOB NOT NULL,
                    columns BLOB NOT NULL,
                    raw BLOB NOT NULL
                );
                CREATE INDEX blocks_time ON blocks(max_ts);
                CREATE TABLE terms(
                    id INTEGER PRIMARY KEY,
                    field INTEGER NOT NULL,
                    value TEXT NOT NULL,
                    UNIQUE(field, value)
                );
                CREATE TABLE block_terms(
                    term INTEGER NOT NULL,
                    block INTEGER NOT NULL,
                    events INTEGER NOT NULL,
                    PRIMARY KEY(term, block)
                ) WITHOUT ROWID;
                CREATE TABLE event_keys(
                    cluster INTEGER NOT NULL,
                    second INTEGER NOT NULL,
                    key INTEGER NOT NULL,
                    id INTEGER NOT NULL,
                    PRIMARY KEY(cluster, second, key, id)
                ) WITHOUT ROWID;
                CREATE TABLE collisions(
                    id INTEGER PRIMARY KEY,
                    cluster INTEGER NOT NULL,
                    audit_id TEXT NOT NULL,
                    stage INTEGER NOT NULL,
                    ts INTEGER NOT NULL
                );
                CREATE INDEX collisions_key ON collisions(cluster, audit_id, stage);
                CREATE TABLE rollup_hour(
                    cluster INTEGER NOT NULL,
                    hour INTEGER NOT NULL,
                    verb INTEGER NOT NULL,
                    user INTEGER NOT NULL,
                    resource INTEGER NOT NULL,
                    namespace INTEGER NOT NULL,
                    code_class INTEGER NOT NULL,
                    events INTEGER NOT NULL,
                    PRIMARY KEY(cluster, hour, verb, user, resource, namespace, code_class)
                ) WITHOUT ROWID;
                ALTER TABLE chain_blocks ADD COLUMN fingerprints BLOB;
                """)
        }
        m.registerMigration("v6-minute-rollup") { db in
            try db.execute(sql: """
                CREATE TABLE rollup_minute(
                    cluster INTEGER NOT NULL,
                    minute INTEGER NOT NULL,
                    events INTEGER NOT NULL,
                    PRIMARY KEY(cluster, minute)
                ) WITHOUT ROWID;
                """)
            // Blocks sealed by version 5: their counts per minute, from their times column.
            let blocks = try Row.fetchCursor(db, sql: "SELECT first_id, cluster, count, columns FROM blocks")
            var counts: [Int64: [Int64: Int]] = [:]
            while let b = try blocks.next() {
                let firstID: Int64 = b[0], count: Int = b[2]
                let times: [Int64]
                do {
                    times = try BlockReader.times(columns: [UInt8](b[3] as Data), maxRows: count)
                } catch {
                    throw StoreError("block \(firstID) is damaged: its columns do not decode (\(error)); `auditship verify` says more")
                }
                for (minute, n) in RollupKey.minutes(times) { counts[b[1], default: [:]][minute, default: 0] += n }
            }
            let insert = try db.makeStatement(sql: "INSERT INTO rollup_minute(cluster, minute, events) VALUES (?, ?, ?)")
            for (cluster, minutes) in counts {
                for (minute, n) in minutes { try insert.execute(arguments: [cluster, minute, n]) }
            }
        }
        m.registerMigration("v7-rollup-node-code") { db in
            // The hourly rollup gains the node and the exact response code, so that facets and
            // statistics of those fields under any rollup filter are read from it too. Rebuilt
            // from the blocks' columns (every stored event counted once).
            try db.execute(sql: """
                CREATE TABLE rollup_hour_v7(
                    cluster INTEGER NOT NULL,
                    hour INTEGER NOT NULL,
                    verb INTEGER NOT NULL,
                    user INTEGER NOT NULL,
                    resource INTEGER NOT NULL,
                    namespace INTEGER NOT NULL,
                    code_class INTEGER NOT NULL,
                    node INTEGER NOT NULL,
                    code INTEGER NOT NULL,
                    events INTEGER NOT NULL,
                    PRIMARY KEY(cluster, hour, verb, user, resource, namespace, code_class, node, code)
                ) WITHOUT ROWID;
                """)
            var ids: [TermKey: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, field, value FROM terms") {
                ids[TermKey(field: UInt8(row[1] as Int), value: row[2])] = row[0]
            }
            let insertTerm = try db.makeStatement(sql: "INSERT INTO terms(field, value) VALUES (?, ?) ON CONFLICT(field, value) DO NOTHING")
            func term(_ field: BlockField, _ value: String) throws -> Int64 {
                guard !value.isEmpty else { return 0 }
                let key = TermKey(field: field.rawValue, value: value)
                if let id = ids[key] { return id }
                try insertTerm.execute(arguments: [Int(field.rawValue), value])
                guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM terms WHERE field = ? AND value = ?", arguments: [Int(field.rawValue), value]) else {
                    throw StoreError("dictionary entry for \(field) '\(value)' vanished")
                }
                ids[key] = id
                return id
            }
            let upsert = try db.makeStatement(sql: """
                INSERT INTO rollup_hour_v7(cluster, hour, verb, user, resource, namespace, code_class, node, code, events)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(cluster, hour, verb, user, resource, namespace, code_class, node, code) DO UPDATE SET events = events + excluded.events
                """)
            let blocks = try Row.fetchCursor(db, sql: "SELECT first_id, cluster, count, columns FROM blocks")
            while let b = try blocks.next() {
                let firstID: Int64 = b[0], cluster: Int64 = b[1], count: Int = b[2]
                let rows: [BlockRow]
                do {
                    rows = try BlockReader.rows(columns: [UInt8](b[3] as Data), maxRows: count)
                } catch {
                    throw StoreError("block \(firstID) is damaged: its columns do not decode (\(error)); `auditship verify` says more")
                }
                for (key, n) in RollupKey.rollup(rows) {
                    try upsert.execute(arguments: [cluster, key.hour, try term(.verb, key.verb), try term(.user, key.user),
                                                   try term(.resource, key.resource), try term(.namespace, key.namespace), key.codeClass,
                                                   try term(.node, key.node), try term(.code, key.code.map(String.init) ?? ""), n])
                }
            }
            try db.execute(sql: "DROP TABLE rollup_hour; ALTER TABLE rollup_hour_v7 RENAME TO rollup_hour;")
        }
    }

    // MARK: writing

    /// Most term ids cached. The cache is what the aggregator's memory grows by while new values
    /// (object names, source IPs) keep coming: about 16 MiB at this bound for generated logs,
    /// reached after some 23 minutes at 2,000 events/s, after which it is emptied and refilled in
    /// place (its capacity kept), so it never grows past it.
    static let termCacheLimit = 200_000

    /// A term id, created when new. Ids are cached; a rolled-back savepoint clears the cache.
    func termID(_ db: Database, _ field: BlockField, _ value: String) throws -> Int64 {
        let key = TermKey(field: field.rawValue, value: value)
        if let id = terms.withLock({ $0[key] }) { return id }
        let insert = try db.cachedStatement(sql: "INSERT INTO terms(field, value) VALUES (?, ?) ON CONFLICT(field, value) DO NOTHING")
        try insert.execute(arguments: [Int(field.rawValue), value])
        let select = try db.cachedStatement(sql: "SELECT id FROM terms WHERE field = ? AND value = ?")
        guard let id = try Int64.fetchOne(select, arguments: [Int(field.rawValue), value]) else {
            throw StoreError("dictionary entry for \(field) '\(value)' vanished")
        }
        terms.withLock { cache in
            if cache.count > Self.termCacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[key] = id
        }
        return id
    }

    /// A term id if the value was ever indexed.
    func lookupTerm(_ db: Database, _ field: BlockField, _ value: String) throws -> Int64? {
        let key = TermKey(field: field.rawValue, value: value)
        if let id = terms.withLock({ $0[key] }) { return id }
        return try Int64.fetchOne(db, sql: "SELECT id FROM terms WHERE field = ? AND value = ?", arguments: [Int(field.rawValue), value])
    }

    /// Writes a sealed block (its events all of one cluster and one hour, ids from `firstID` in
    /// order) with its index entries, rollup counts and de-duplication keys.
    func writeBlock(_ db: Database, clusterID: Int64, firstID: Int64, block: SealedBlock, keys: [EventKey]) throws {
        try insertBlock(db, clusterID: clusterID, firstID: firstID, block: block)
        try addRollup(db, clusterID: clusterID, block.rollup, sign: 1)
        try addMinutes(db, clusterID: clusterID, block.minutes, sign: 1)
        var keyRows: [Int64] = []
        keyRows.reserveCapacity(keys.count * 4)
        for (i, k) in keys.enumerated() { keyRows += [clusterID, k.second, k.key, firstID + Int64(i)] }
        try insertIntegerRows(db, "INSERT OR IGNORE INTO event_keys(cluster, second, key, id)", columns: 3 + 1, keyRows)
    }

    /// The block's own row and which-block-holds-which-value entries (what compaction rewrites).
    func insertBlock(_ db: Database, clusterID: Int64, firstID: Int64, block: SealedBlock) throws {
        var termCounts: [(term: Int64, events: Int)] = []
        termCounts.reserveCapacity(block.postings.count)
        for p in block.postings {
            termCounts.append((try termID(db, p.field, p.value), p.positions.count))
        }
        let insertBlock = try db.cachedStatement(sql: """
            INSERT INTO blocks(first_id, cluster, count, min_ts, max_ts, raw_bytes, format, terms, columns, raw)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        try insertBlock.execute(arguments: [firstID, clusterID, block.count, block.minTime, block.maxTime, block.rawBytes,
                                            Int(SealedBlock.formatVersion), Data(BlockTermList.encode(termCounts)),
                                            Data(block.columns), Data(block.raw)])
        var termRows: [Int64] = []
        termRows.reserveCapacity(termCounts.count * 3)
        for t in termCounts { termRows += [t.term, firstID, Int64(t.events)] }
        try insertIntegerRows(db, "INSERT INTO block_terms(term, block, events)", columns: 3, termRows)
    }

    /// Most rows one multi-row INSERT takes (SQLite allows 32,766 parameters).
    static let rowsPerInsert = 64

    /// Inserts rows of integers (`values` holds them row after row), up to `rowsPerInsert` rows a
    /// statement: one statement per event or posting cost more than the rows themselves.
    func insertIntegerRows(_ db: Database, _ head: String, columns: Int, _ values: [Int64]) throws {
        let rowCount = values.count / columns
        let row = "(" + Array(repeating: "?", count: columns).joined(separator: ",") + ")"
        var done = 0
        while done < rowCount {
            let n = min(Self.rowsPerInsert, rowCount - done)
            let statement = try db.cachedStatement(sql: head + " VALUES " + Array(repeating: row, count: n).joined(separator: ","))
            try statement.execute(arguments: StatementArguments(values[done * columns ..< (done + n) * columns]))
            done += n
        }
    }

    /// Adds (or, with sign −1, takes away) a block's rollup counts.
    func addRollup(_ db: Database, clusterID: Int64, _ rollup: [(key: RollupKey, count: Int)], sign: Int) throws {
        let upsert = try db.cachedStatement(sql: """
            INSERT INTO rollup_hour(cluster, hour, verb, user, resource, namespace, code_class, node, code, events)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(cluster, hour, verb, user, resource, namespace, code_class, node, code) DO UPDATE SET events = events + excluded.events
            """)
        func term(_ f: BlockField, _ v: String) throws -> Int64 { v.isEmpty ? 0 : try termID(db, f, v) }
        for (key, count) in rollup {
            try upsert.execute(arguments: [clusterID, key.hour, try term(.verb, key.verb), try term(.user, key.user),
                                           try term(.resource, key.resource), try term(.namespace, key.namespace),
                                           key.codeClass, try term(.node, key.node), try term(.code, key.code.map(String.init) ?? ""),
                                           sign * count])
        }
        if sign < 0 { try db.execute(sql: "DELETE FROM rollup_hour WHERE events <= 0") }
    }

    /// Adds (or, with sign −1, takes away) a block's counts per minute.
    func addMinutes(_ db: Database, clusterID: Int64, _ minutes: [(minute: Int64, count: Int)], sign: Int) throws {
        let upsert = try db.cachedStatement(sql: """
            INSERT INTO rollup_minute(cluster, minute, events) VALUES (?, ?, ?)
            ON CONFLICT(cluster, minute) DO UPDATE SET events = events + excluded.events
            """)
        for (minute, count) in minutes { try upsert.execute(arguments: [clusterID, minute, sign * count]) }
        if sign < 0 { try db.execute(sql: "DELETE FROM rollup_minute WHERE cluster = ? AND events <= 0", arguments: [clusterID]) }
    }

    // MARK: reading

    /// The columns of a block row, read by queries.
    static let blockMetaColumns = "first_id, cluster, count, min_ts, max_ts, raw_bytes"

    /// The block holding ingest id `id`, if any.
    func block(_ db: Database, containing id: Int64) throws -> BlockMeta? {
        let s = try db.cachedStatement(sql: "SELECT \(Self.blockMetaColumns) FROM blocks WHERE first_id <= ? ORDER BY first_id DESC LIMIT 1")
        guard let row = try Row.fetchOne(s, arguments: [id]) else { return nil }
        let meta = BlockMeta(row)
        return id < meta.firstID + Int64(meta.count) ? meta : nil
    }

    /// A block's column part, compressed.
    private func columnsPart(_ db: Database, _ meta: BlockMeta) throws -> [UInt8] {
        let s = try db.cachedStatement(sql: "SELECT columns FROM blocks WHERE first_id = ?")
        guard let data = try Data.fetchOne(s, arguments: [meta.firstID]) else {
            throw StoreError("block \(meta.firstID) vanished while it was read")
        }
        return [UInt8](data)
    }

    /// Reads a part of a block, checking that it holds the block's event count.
    private func decoded<T>(_ meta: BlockMeta, _ what: String, _ read: () throws(BlockFormatError) -> [T]) throws -> [T] {
        do {
            let items = try read()
            guard items.count == meta.count else {
                throw StoreError("block \(meta.firstID) is damaged: its \(what) hold \(items.count) events, the block says \(meta.count)")
            }
            return items
        } catch let error as BlockFormatError {
            throw StoreError("block \(meta.firstID) is damaged: \(error)")
        }
    }

    /// A block's rows (its search columns), decoded.
    func blockRows(_ db: Database, _ meta: BlockMeta) throws -> [BlockRow] {
        let part = try columnsPart(db, meta)
        return try decoded(meta, "columns") { () throws(BlockFormatError) in try BlockReader.rows(columns: part, maxRows: meta.count) }
    }

    /// The rows of a block whose one-value columns hold these exact values, with their positions:
    /// the columns asked for are compared as dictionary ids, and only the rows that pass are made.
    func blockRows(_ db: Database, _ meta: BlockMeta, holding exact: [(field: BlockField, value: String)]) throws -> (positions: [Int], rows: [BlockRow]) {
        let part = try columnsPart(db, meta)
        do {
            var counted = -1
            let found = try BlockReader.rows(columns: part, fields: Set(exact.map(\.field)), maxRows: meta.count) { p in
                counted = p.count
                var wanted: [(id: Int32, column: [Int32])] = []
                for (field, value) in exact {
                    guard let id = p.id(of: value, in: field), let column = p.ids[field] else { return [] }
                    wanted.append((id, column))
                }
                return (0..<p.count).filter { i in wanted.allSatisfy { $0.column[i] == $0.id } }
            }
            guard counted == meta.count else {
                throw StoreError("block \(meta.firstID) is damaged: its columns hold \(counted) events, the block says \(meta.count)")
            }
            return found
        } catch let error as BlockFormatError {
            throw StoreError("block \(meta.firstID) is damaged: \(error)")
        }
    }

    /// Some of a block's columns as dictionary ids (`BlockProjection`).
    func blockProjection(_ db: Database, _ meta: BlockMeta, fields: Set<BlockField>) throws -> BlockProjection {
        let part = try columnsPart(db, meta)
        do {
            let p = try BlockReader.projection(columns: part, fields: fields, maxRows: meta.count)
            guard p.count == meta.count else {
                throw StoreError("block \(meta.firstID) is damaged: its columns hold \(p.count) events, the block says \(meta.count)")
            }
            return p
        } catch let error as BlockFormatError {
            throw StoreError("block \(meta.firstID) is damaged: \(error)")
        }
    }

    /// A block's order timestamps only.
    func blockTimes(_ db: Database, _ meta: BlockMeta) throws -> [Int64] {
        let part = try columnsPart(db, meta)
        return try decoded(meta, "columns") { () throws(BlockFormatError) in try BlockReader.times(columns: part, maxRows: meta.count) }
    }

    /// The exact bytes of a block's events at these positions (the others nil).
    func blockEvents(_ db: Database, _ meta: BlockMeta, only positions: Set<Int>) throws -> [[UInt8]?] {
        let part = try rawPart(db, meta)
        return try decoded(meta, "raw part") { () throws(BlockFormatError) in
            try BlockReader.events(raw: part, maxBytes: meta.rawBytes, maxEvents: meta.count, only: positions)
        }
    }

    /// The positions of a block's events whose bytes hold the needle.
    func blockPositions(_ db: Database, _ meta: BlockMeta, holding needle: ByteNeedle) throws -> [Int] {
        let part = try rawPart(db, meta)
        do {
            let found = try BlockReader.positions(raw: part, maxBytes: meta.rawBytes, maxEvents: meta.count, holding: needle)
            guard found.events == meta.count else {
                throw StoreError("block \(meta.firstID) is damaged: its raw part holds \(found.events) events, the block says \(meta.count)")
            }
            return found.positions
        } catch let error as BlockFormatError {
            throw StoreError("block \(meta.firstID) is damaged: \(error)")
        }
    }

    /// A block's events' exact bytes, in block order.
    func blockEvents(_ db: Database, _ meta: BlockMeta) throws -> [[UInt8]] {
        let part = try rawPart(db, meta)
        return try decoded(meta, "raw part") { () throws(BlockFormatError) in try BlockReader.events(raw: part, maxBytes: meta.rawBytes, maxEvents: meta.count) }
    }

    /// A block's raw part, compressed.
    private func rawPart(_ db: Database, _ meta: BlockMeta) throws -> [UInt8] {
        let s = try db.cachedStatement(sql: "SELECT raw FROM blocks WHERE first_id = ?")
        guard let data = try Data.fetchOne(s, arguments: [meta.firstID]) else {
            throw StoreError("block \(meta.firstID) vanished while it was read")
        }
        return [UInt8](data)
    }

    /// A block's index: term ids and how many of its events hold each.
    func blockTerms(_ db: Database, _ meta: BlockMeta) throws -> [(term: Int64, events: Int)] {
        let s = try db.cachedStatement(sql: "SELECT terms FROM blocks WHERE first_id = ?")
        guard let data = try Data.fetchOne(s, arguments: [meta.firstID]) else { return [] }
        guard let list = BlockTermList.decode([UInt8](data)) else {
            throw StoreError("block \(meta.firstID) is damaged: its term list does not decode")
        }
        return list
    }

    /// Every term of these fields, by id: read once per query, so that a block's term list is
    /// resolved by dictionary look-ups and the terms of other fields (object names, IPs) are
    /// skipped without being read.
    func terms(_ db: Database, of fields: Set<BlockField>) throws -> [Int64: (field: BlockField, value: String)] {
        guard !fields.isEmpty else { return [:] }
        var out: [Int64: (field: BlockField, value: String)] = [:]
        let list = fields.map { String($0.rawValue) }.joined(separator: ",")
        for r in try Row.fetchAll(db, sql: "SELECT id, field, value FROM terms WHERE field IN (\(list))") {
            guard let field = BlockField(rawValue: UInt8(clamping: r[1] as Int)) else { continue }
            out[r[0]] = (field: field, value: r[2] as String)
        }
        return out
    }

    /// A cluster's name by its dictionary id (cached).
    func clusterName(_ db: Database, _ id: Int64) throws -> String {
        if let name = clusterNames.withLock({ $0[id] }) { return name }
        let name = try String.fetchOne(db, sql: "SELECT value FROM dims WHERE id = ?", arguments: [id]) ?? ""
        clusterNames.withLock { $0[id] = name }
        return name
    }
}

/// A block's row without its parts.
struct BlockMeta: Sendable, Hashable {
    var firstID: Int64
    var clusterID: Int64
    var count: Int
    var minTS: Int64
    var maxTS: Int64
    var rawBytes: Int

    init(_ row: Row) {
        firstID = row[0]
        clusterID = row[1]
        count = row[2]
        minTS = row[3]
        maxTS = row[4]
        rawBytes = row[5]
    }

    var lastID: Int64 { firstID + Int64(count) - 1 }
    func contains(_ id: Int64) -> Bool { id >= firstID && id <= lastID }
}

struct TermKey: Hashable, Sendable {
    var field: UInt8
    var value: String
}

/// The block's own index as stored in `blocks.terms`: (term id, events) pairs, varints, term ids
/// ascending and delta-coded.
enum BlockTermList {
    static func encode(_ list: [(term: Int64, events: Int)]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(list.count * 4)
        var previous: Int64 = 0
        for item in list.sorted(by: { $0.term < $1.term }) {
            Varint.append(UInt64(item.term - previous), to: &out)
            Varint.append(UInt64(max(0, item.events)), to: &out)
            previous = item.term
        }
        return out
    }

    static func decode(_ bytes: [UInt8]) -> [(term: Int64, events: Int)]? {
        var out: [(term: Int64, events: Int)] = []
        var i = 0
        var term: Int64 = 0
        while i < bytes.count {
            guard let d = Varint.read(bytes, at: &i), let n = Varint.read(bytes, at: &i),
                  d <= UInt64(Int64.max - term), n <= UInt64(Int.max) else { return nil }
            term += Int64(d)
            out.append((term, Int(n)))
        }
        return out
    }
}
