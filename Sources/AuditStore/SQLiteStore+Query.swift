import AuditBlock
import AuditChain
import AuditModel
import Foundation
import GRDB
import OpenSSLKit

/// Queries over blocks: the time window and the block index (`block_terms`) choose candidate
/// blocks, each candidate's columns say which of its events match, and only the blocks holding
/// a page's events are decompressed.
extension SQLiteStore {
    /// A query resolved against the store's dictionaries.
    struct QueryPlan {
        var filter: EventFilter
        var clusterID: Int64?
        /// Term ids every candidate block must hold (from the filters that are indexed).
        var terms: [Int64]
        /// For each list of exact values (`verb:get,list`): a candidate block holds one of these term ids.
        var anyTerms: [[Int64]] = []
    }

    enum BlockOrder { case time, ingest, none }

    /// Resolves names to ids; nil when a filter names a value the store has never seen.
    func plan(_ db: Database, _ q: EventQuery) throws -> QueryPlan? {
        let filter = EventFilter(q)
        var plan = QueryPlan(filter: filter, clusterID: nil, terms: [])
        if let c = q.cluster {
            guard let id = try lookupDim(db, .cluster, c) else { return nil }
            plan.clusterID = id
        }
        func term(_ field: BlockField, _ value: String?) throws -> Bool {
            guard let value, !value.isEmpty else { return true }
            guard let id = try lookupTerm(db, field, value) else { return false }
            plan.terms.append(id)
            return true
        }
        guard try term(.node, filter.node), try term(.user, filter.user), try term(.verb, filter.verb),
              try term(.resource, filter.resource), try term(.namespace, filter.namespace),
              try term(.groups, filter.group), try term(.apiGroup, filter.apiGroup), try term(.name, filter.name),
              try term(.code, filter.code.map(String.init)), try term(.stage, filter.stage) else { return nil }
        for m in filter.fieldMatches {
            guard let values = m.indexTerms else { continue }
            var ids: [Int64] = []
            for v in Set(values) where !v.isEmpty {
                if let id = try lookupTerm(db, m.field, v) { ids.append(id) }
            }
            // An empty value (a resource of "") is not in the index: leave such a list to the rows.
            if values.contains("") { continue }
            if ids.isEmpty { return nil }
            plan.anyTerms.append(ids.sorted())
        }
        return plan
    }

    /// Candidate blocks: those that may hold a matching event.
    func candidates(_ db: Database, _ plan: QueryPlan, order: BlockOrder) throws -> [BlockMeta] {
        var conditions: [String] = []
        var args = StatementArguments()
        let f = plan.filter
        if let c = plan.clusterID { conditions.append("b.cluster = ?"); _ = args.append(contentsOf: [c]) }
        var lower = f.since
        if let a = f.after { lower = max(lower ?? a.timestamp, a.timestamp) }
        if let lower { conditions.append("b.max_ts >= ?"); _ = args.append(contentsOf: [lower]) }
        if let until = f.until {
            // A block spans less than an hour: one starting before `until` ends before `until` + 1 h.
            let (bound, overflow) = until.addingReportingOverflow(RollupKey.hourMicroseconds)
            conditions.append("b.min_ts < ?")
            _ = args.append(contentsOf: [until])
            if !overflow { conditions.append("b.max_ts < ?"); _ = args.append(contentsOf: [bound]) }
        }
        if let seq = f.ingestedAfter {
            conditions.append("b.first_id >= (SELECT coalesce(max(first_id), 0) FROM blocks WHERE first_id <= ?)")
            _ = args.append(contentsOf: [seq])
        }
        for t in plan.terms {
            conditions.append("EXISTS (SELECT 1 FROM block_terms t WHERE t.term = ? AND t.block = b.first_id)")
            _ = args.append(contentsOf: [t])
        }
        for ids in plan.anyTerms {
            conditions.append("EXISTS (SELECT 1 FROM block_terms t WHERE t.term IN (\(ids.map { _ in "?" }.joined(separator: ","))) AND t.block = b.first_id)")
            _ = args.append(contentsOf: StatementArguments(ids))
        }
        let whereSQL = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let orderSQL: String
        switch order {
        case .time: orderSQL = "ORDER BY b.min_ts, b.first_id"
        case .ingest: orderSQL = "ORDER BY b.first_id"
        case .none: orderSQL = ""
        }
        return try Row.fetchAll(db, sql: "SELECT \(Self.blockMetaColumns.split(separator: ",").map { "b." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")) FROM blocks b \(whereSQL) \(orderSQL)",
                                arguments: args).map(BlockMeta.init)
    }

    /// Calls `body` with the position and row of each event of the block that matches the plan
    /// (the text filter reads the block's raw part as well).
    func forEachMatch(_ db: Database, _ plan: QueryPlan, _ meta: BlockMeta, _ body: (Int, BlockRow) throws -> Void) throws {
        if let needle = plan.filter.textNeedle, !needle.bytes.isEmpty {
            // The text first, over the decompressed part in one search: a block without it costs no rows.
            let hits = try blockPositions(db, meta, holding: needle)
            if hits.isEmpty { return }
            let rows = try blockRows(db, meta)
            for i in hits where i < rows.count && plan.filter.matches(rows[i], id: meta.firstID + Int64(i)) { try body(i, rows[i]) }
            return
        }
        let exact = plan.filter.exactColumns
        if !exact.isEmpty && plan.filter.text == nil {
            // Exact values first, as dictionary ids: only the rows holding them are made.
            let (positions, rows) = try blockRows(db, meta, holding: exact)
            for (k, i) in positions.enumerated() where plan.filter.matches(rows[k], id: meta.firstID + Int64(i)) { try body(i, rows[k]) }
            return
        }
        let rows = try blockRows(db, meta)
        let raw: [[UInt8]]? = plan.filter.text == nil ? nil : try blockEvents(db, meta)
        for (i, row) in rows.enumerated() where plan.filter.matches(row, id: meta.firstID + Int64(i)) {
            if let raw, !plan.filter.matchesText(raw[i]) { continue }
            try body(i, row)
        }
    }

    struct Match {
        var order: EventOrder
        var block: BlockMeta
        var position: Int
        var row: BlockRow
    }

    public func events(_ query: EventQuery) async throws -> [StoredEvent] {
        try await pool.read { db in
            guard let plan = try self.plan(db, query) else { return [] }
            let limit = query.limit.map { max(0, $0) } ?? Int.max
            if limit == 0 { return [] }
            let ingestOrder = query.ingestOrder
            var matches: [Match] = []
            func byOrder(_ a: Match, _ b: Match) -> Bool { ingestOrder ? a.order.id < b.order.id : a.order < b.order }
            for meta in try self.candidates(db, plan, order: ingestOrder ? .ingest : .time) {
                if matches.count >= limit {
                    if ingestOrder { break }
                    // Blocks come by their earliest event: once one starts after the page's last, none is needed.
                    if let last = matches.last, meta.minTS > last.order.timestamp { break }
                }
                try self.forEachMatch(db, plan, meta) { i, row in
                    matches.append(Match(order: EventOrder(row, id: meta.firstID + Int64(i)), block: meta, position: i, row: row))
                }
                if matches.count >= limit {
                    matches.sort(by: byOrder)
                    if matches.count > limit { matches.removeLast(matches.count - limit) }
                }
            }
            matches.sort(by: byOrder)
            if matches.count > limit { matches.removeLast(matches.count - limit) }
            return try self.materialize(db, matches)
        }
    }

    /// Reads the bytes of matched events, block by block, and their collision marks.
    private func materialize(_ db: Database, _ matches: [Match]) throws -> [StoredEvent] {
        var wanted: [Int64: (meta: BlockMeta, positions: Set<Int>)] = [:]
        for m in matches { wanted[m.block.firstID, default: (m.block, [])].positions.insert(m.position) }
        var raw: [Int64: [[UInt8]?]] = [:]
        for (first, w) in wanted { raw[first] = try blockEvents(db, w.meta, only: w.positions) }
        var flagged = Set<Int64>()
        let ids = matches.map(\.order.id)
        for chunk in stride(from: 0, to: ids.count, by: 500) {
            let part = ids[chunk..<min(ids.count, chunk + 500)]
            flagged.formUnion(try Int64.fetchAll(db, sql: "SELECT id FROM collisions WHERE id IN (\(part.map(String.init).joined(separator: ",")))"))
        }
        var out: [StoredEvent] = []
        out.reserveCapacity(matches.count)
        for m in matches {
            guard let bytes = raw[m.block.firstID]?[m.position] else { continue }
            out.append(StoredEvent(sequence: m.order.id, cluster: try clusterName(db, m.block.clusterID), node: m.row.node, bytes: bytes,
                                   timestamp: Timestamp(microseconds: m.row.time), cursor: m.order.cursor, collision: flagged.contains(m.order.id)))
        }
        return out
    }

    public func collisions(_ query: EventQuery) async throws -> [AuditIDCollision] {
        try await pool.read { db in
            var conditions: [String] = []
            var args = StatementArguments()
            if let c = query.cluster {
                guard let id = try self.lookupDim(db, .cluster, c) else { return [] }
                conditions.append("x.cluster = ?")
                _ = args.append(contentsOf: [id])
            }
            if let since = query.since { conditions.append("x.ts >= ?"); _ = args.append(contentsOf: [since.microseconds]) }
            if let until = query.until { conditions.append("x.ts < ?"); _ = args.append(contentsOf: [until.microseconds]) }
            let whereSQL = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let rows = try Row.fetchAll(db, sql: """
                SELECT c.value, x.audit_id, x.stage, count(*) FROM collisions x JOIN dims c ON c.id = x.cluster
                \(whereSQL) GROUP BY x.cluster, x.audit_id, x.stage ORDER BY min(x.ts)
                """, arguments: args)
            return rows.map { AuditIDCollision(cluster: $0[0], auditID: $0[1], stage: StageCode.name($0[2]), events: $0[3]) }
        }
    }

    public func statistics(_ query: EventQuery) async throws -> StoreStatistics {
        try await pool.read { db in
            guard let plan = try self.plan(db, query) else { return StoreStatistics() }
            var stats = StoreStatistics()
            if let (r, split) = try self.rollupPlan(db, plan) {
                try self.rollupStatistics(db, r, split, into: &stats)
                for edge in split.edges {
                    guard let edgePlan = try self.plan(db, Self.query(query, window: edge)) else { continue }
                    try self.blockStatistics(db, edgePlan, into: &stats)
                }
            } else {
                try self.blockStatistics(db, plan, into: &stats)
            }
            return stats
        }
    }

    /// Statistics of whole hours: per cluster, node, user, verb and resource from `rollup_hour`.
    func rollupStatistics(_ db: Database, _ r: RollupFilter, _ split: RollupSplit, into stats: inout StoreStatistics) throws {
        let names = try terms(db, of: [.node, .user, .verb, .resource])
        func name(_ id: Int64) -> String { id == 0 ? "" : names[id]?.value ?? "" }
        var byCluster: [Int64: Int] = [:], byNode: [Int64: Int] = [:], byUser: [Int64: Int] = [:]
        var byVerb: [Int64: Int] = [:], byResource: [Int64: Int] = [:]
        var total = 0
        try forEachRollupRow(db, r, split) { row in
            total += row.events
            byCluster[row.cluster, default: 0] += row.events
            byNode[row.node, default: 0] += row.events
            byUser[row.user, default: 0] += row.events
            byVerb[row.verb, default: 0] += row.events
            byResource[row.resource, default: 0] += row.events
        }
        stats.total += total
        for (id, n) in byCluster { stats.byCluster[try clusterName(db, id), default: 0] += n }
        for (id, n) in byNode { stats.byNode[name(id), default: 0] += n }
        for (id, n) in byUser { stats.byUser[name(id), default: 0] += n }
        for (id, n) in byVerb { stats.byVerb[name(id), default: 0] += n }
        for (id, n) in byResource { stats.byResource[name(id), default: 0] += n }
    }

    /// Statistics from the blocks: whole blocks under time filters from their own index, the others event by event.
    func blockStatistics(_ db: Database, _ plan: QueryPlan, into stats: inout StoreStatistics) throws {
        let f = plan.filter
        let names = f.timeOnly ? try terms(db, of: [.node, .user, .verb, .resource]) : [:]
        for meta in try candidates(db, plan, order: .none) {
            let cluster = try clusterName(db, meta.clusterID)
            if f.timeOnly, f.covers(minTS: meta.minTS, maxTS: meta.maxTS) {
                // A whole block: its own index holds the counts.
                try addBlockCounts(db, meta, cluster: cluster, names: names, to: &stats)
                continue
            }
            try forEachMatch(db, plan, meta) { _, row in
                stats.total += 1
                stats.byCluster[cluster, default: 0] += 1
                stats.byNode[row.node, default: 0] += 1
                stats.byUser[row.user ?? "", default: 0] += 1
                stats.byVerb[row.verb, default: 0] += 1
                stats.byResource[row.resource, default: 0] += 1
            }
        }
    }

    /// Adds a whole block's counts per node, user, verb and resource from its term list; events
    /// without a value count under "" as a row-by-row count does.
    private func addBlockCounts(_ db: Database, _ meta: BlockMeta, cluster: String, names: [Int64: (field: BlockField, value: String)],
                                to stats: inout StoreStatistics) throws {
        let list = try blockTerms(db, meta)
        var counted: [BlockField: Int] = [:]
        for (term, events) in list {
            guard let (field, value) = names[term] else { continue }
            switch field {
            case .node: stats.byNode[value, default: 0] += events
            case .user: stats.byUser[value, default: 0] += events
            case .verb: stats.byVerb[value, default: 0] += events
            case .resource: stats.byResource[value, default: 0] += events
            default: continue
            }
            counted[field, default: 0] += events
        }
        for field in [BlockField.node, .user, .verb, .resource] {
            let rest = meta.count - (counted[field] ?? 0)
            guard rest > 0 else { continue }
            switch field {
            case .node: stats.byNode["", default: 0] += rest
            case .user: stats.byUser["", default: 0] += rest
            case .verb: stats.byVerb["", default: 0] += rest
            default: stats.byResource["", default: 0] += rest
            }
        }
        stats.total += meta.count
        stats.byCluster[cluster, default: 0] += meta.count
    }

    /// Retention: drops whole blocks whose every event is older than `cutoff` (a block spans less
    /// than an hour, so at most an hour's events before the cutoff stay), with their index
    /// entries, keys, collision marks and rollup counts, a few blocks per transaction. A block is
    /// kept while the chain block listing its events (one batch's) still holds a newer event, so
    /// that a chain block's events go all together (the verifier counts a chain block with some
    /// events gone and others left as tampered, not pruned).
    public func deleteEvents(before cutoff: Timestamp) async throws -> Int {
        var total = 0
        var after: (maxTS: Int64, firstID: Int64) = (Int64.min, Int64.min)
        while true {
            let from = after
            let (n, last, more) = try await pool.write { db -> (Int, (maxTS: Int64, firstID: Int64), Bool) in
                try self.raisePrunedBefore(db, cutoff.microseconds)
                let metas = try Row.fetchAll(db, sql: """
                    SELECT \(Self.blockMetaColumns) FROM blocks WHERE max_ts < ? AND (max_ts, first_id) > (?, ?)
                    ORDER BY max_ts, first_id LIMIT 20
                    """, arguments: [cutoff.microseconds, from.maxTS, from.firstID]).map(BlockMeta.init)
                var n = 0
                for meta in metas where try !self.chainKeeps(db, meta, cutoff: cutoff.microseconds) { n += try self.dropBlock(db, meta) }
                return (n, metas.last.map { (maxTS: $0.maxTS, firstID: $0.firstID) } ?? from, metas.count == 20)
            }
            total += n
            after = last
            if !more { return total }
            await Task.yield()
        }
    }

    /// False when this block may go. The chain block listing its events (one batch's) keeps only
    /// fingerprints of its leaves and rebuilds them from the events; when retention takes some of
    /// its events and leaves others, it first stores the full leaves, checked against the root, so
    /// that `verify` tells the pruned events from deleted ones. If they do not match the root (the
    /// store was edited), the block stays for `verify` to report.
    private func chainKeeps(_ db: Database, _ meta: BlockMeta, cutoff: Int64) throws -> Bool {
        let s = try db.cachedStatement(sql: """
            SELECT rowid, first_id, max_ts, leaves_root, leaf_count, fingerprints FROM chain_blocks
            WHERE cluster = ? AND last_id >= ? AND fingerprints IS NOT NULL ORDER BY last_id LIMIT 1
            """)
        guard let row = try Row.fetchOne(s, arguments: [try clusterName(db, meta.clusterID), meta.firstID]) else { return false }
        let (rowid, first, maxTS): (Int64, Int64, Int64) = (row[0], row[1], row[2])
        guard first <= meta.lastID, maxTS >= cutoff else { return false }
        let fingerprints = LeafFingerprint.decode([UInt8](row[5] as Data)) ?? []
        let leaves = try rebuildLeaves(db, fingerprints.map(\.id))
        guard SHA256.hash(leaves) == [UInt8](row[3] as Data), leaves.count == (row[4] as Int) * ChainFormat.leafSize else { return true }
        try db.execute(sql: "UPDATE chain_blocks SET leaves = ?, fingerprints = NULL WHERE rowid = ?", arguments: [Data(leaves), rowid])
        return false
    }

    /// Deletes one block and everything kept beside it; returns its event count.
    func dropBlock(_ db: Database, _ meta: BlockMeta) throws -> Int {
        let rows = try blockRows(db, meta)
        let events = try blockEvents(db, meta)
        let deleteKey = try db.cachedStatement(sql: "DELETE FROM event_keys WHERE cluster = ? AND second = ? AND key = ? AND id = ?")
        for (i, row) in rows.enumerated() {
            let k = EventKey(auditID: row.auditID, stage: row.stage, requestReceived: row.requestReceived, time: row.time, digest: SHA256.hash(events[i]))
            try deleteKey.execute(arguments: [meta.clusterID, k.second, k.key, meta.firstID + Int64(i)])
        }
        let deleteTerm = try db.cachedStatement(sql: "DELETE FROM block_terms WHERE term = ? AND block = ?")
        for t in try blockTerms(db, meta) { try deleteTerm.execute(arguments: [t.term, meta.firstID]) }
        try addRollup(db, clusterID: meta.clusterID, RollupKey.rollup(rows), sign: -1)
        try addMinutes(db, clusterID: meta.clusterID, RollupKey.minutes(rows.map(\.time)), sign: -1)
        try db.execute(sql: "DELETE FROM collisions WHERE id BETWEEN ? AND ?", arguments: [meta.firstID, meta.lastID])
        try db.execute(sql: "DELETE FROM blocks WHERE first_id = ?", arguments: [meta.firstID])
        return meta.count
    }

    public func lastSequence() async throws -> Int64 {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT first_id + count - 1 FROM blocks ORDER BY first_id DESC LIMIT 1") ?? 0
        }
    }

    /// Stored events per (cluster, node), from the blocks' own indexes.
    public func countsByNode() async throws -> [(cluster: String, node: String, events: Int)] {
        try await pool.read { db in
            var counts: [String: [String: Int]] = [:]
            let names = try self.terms(db, of: [.node])
            for meta in try Row.fetchAll(db, sql: "SELECT \(Self.blockMetaColumns) FROM blocks").map(BlockMeta.init) {
                let cluster = try self.clusterName(db, meta.clusterID)
                let list = try self.blockTerms(db, meta)
                for (term, events) in list where names[term]?.field == .node {
                    counts[cluster, default: [:]][names[term]?.value ?? "", default: 0] += events
                }
            }
            return counts.flatMap { c in c.value.map { (cluster: c.key, node: $0.key, events: $0.value) } }
                .sorted { ($0.cluster, $0.node) < ($1.cluster, $1.node) }
        }
    }

    /// Every stored event's digest with its cluster, for whole-store comparisons.
    public func digests() async throws -> [(cluster: String, digest: [UInt8])] {
        try await pool.read { db in
            var out: [(cluster: String, digest: [UInt8])] = []
            for meta in try Row.fetchAll(db, sql: "SELECT \(Self.blockMetaColumns) FROM blocks ORDER BY first_id").map(BlockMeta.init) {
                let cluster = try self.clusterName(db, meta.clusterID)
                for e in try self.blockEvents(db, meta) { out.append((cluster: cluster, digest: SHA256.hash(e))) }
            }
            return out
        }
    }
}

extension EventFilter {
    /// True when every filter is one the block index answers exactly (no subresource, cursor or id bound).
    var onlyIndexedFilters: Bool {
        subresource == nil && after == nil && ingestedAfter == nil && !hasEventFilters
            && [node, user, verb, resource, namespace].allSatisfy { $0 == nil || $0?.isEmpty == false }
    }
}
