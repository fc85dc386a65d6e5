import AuditBlock
import AuditModel
import GRDB

/// Reading the rollups (`rollup_hour`, `rollup_minute`): counts, facets and histograms of whole
/// hours, and time histograms of whole minutes.
///
/// A query can be answered from the rollup when every filter it has is one of the rollup's
/// dimensions (cluster, node, verb, user, resource, namespace, response code or class) and every
/// field it counts is one too. Its window is then cut in three: the whole hours inside it come from the
/// rollup, one row per hour and combination of values, however many events they hold; the
/// partial hours at its two ends (at most two, each under an hour) are counted from the blocks.
/// So the cost of such a query grows with the hours it spans, not with the events stored.
/// A time histogram with no filter but the cluster reads `rollup_minute` the same way, cut at
/// whole minutes, for any bucket that is a whole number of minutes.
extension SQLiteStore {
    /// A query's filters as rollup term ids; nil for a filter that is not set.
    struct RollupFilter {
        var cluster: Int64?
        var verb: Int64?
        var user: Int64?
        var resource: Int64?
        var namespace: Int64?
        var node: Int64?
        var code: Int64?
        var codeClass: Int?
    }

    /// The window cut at whole hours: the rollup answers `hours`, the blocks `edges`.
    struct RollupSplit {
        /// Hour starts `h` with `from <= h < to` (nil: unbounded).
        var from: Int64?
        var to: Int64?
        /// The partial hours at the ends, as time windows `[since, until)` for the blocks.
        var edges: [(since: Int64?, until: Int64?)]
    }

    /// The rollup's view of a query, or nil when one of its filters is not a rollup dimension
    /// (or the window holds no whole hour, when the blocks answer it alone as cheaply).
    func rollupPlan(_ db: Database, _ plan: QueryPlan) throws -> (RollupFilter, RollupSplit)? {
        let f = plan.filter
        guard f.subresource == nil, f.after == nil, f.ingestedAfter == nil, f.group == nil,
              f.apiGroup == nil, f.name == nil, f.stage == nil, f.text == nil, f.fieldMatches.isEmpty else { return nil }
        var r = RollupFilter(cluster: plan.clusterID, codeClass: f.codeClass)
        // `plan` already proved that every named value has a term.
        func term(_ field: BlockField, _ value: String?) throws -> Int64?? {
            guard let value else { return .some(nil) }
            guard !value.isEmpty, let id = try lookupTerm(db, field, value) else { return nil }
            return .some(id)
        }
        guard let verb = try term(.verb, f.verb), let user = try term(.user, f.user),
              let resource = try term(.resource, f.resource), let namespace = try term(.namespace, f.namespace),
              let node = try term(.node, f.node), let code = try term(.code, f.code.map(String.init)) else { return nil }
        r.node = node
        r.code = code
        r.verb = verb
        r.user = user
        r.resource = resource
        r.namespace = namespace
        guard let split = Self.split(since: f.since, until: f.until, unit: RollupKey.hourMicroseconds) else { return nil }
        return (r, split)
    }

    /// Cuts `[since, until)` at whole units (hours, minutes); nil when it holds no whole unit.
    static func split(since: Int64?, until: Int64?, unit: Int64) -> RollupSplit? {
        var from: Int64?
        if let since {
            let start = RollupKey.floor(since, unit: unit)
            if start == since {
                from = start
            } else {
                let (next, overflow) = start.addingReportingOverflow(unit)
                guard !overflow else { return nil }
                from = next
            }
        }
        let to = until.map { RollupKey.floor($0, unit: unit) }
        if let from, let to, from >= to { return nil }
        var edges: [(since: Int64?, until: Int64?)] = []
        if let since, let from, since < from { edges.append((since, from)) }
        if let until, let to, to < until { edges.append((to, until)) }
        return RollupSplit(from: from, to: to, edges: edges)
    }

    /// One rollup row: counts of one hour and combination of values.
    struct RollupRow {
        var cluster: Int64
        var hour: Int64
        var verb: Int64
        var user: Int64
        var resource: Int64
        var namespace: Int64
        var node: Int64
        var code: Int64
        var events: Int
    }

    /// Calls `body` for each rollup row in the split's hours that the filter keeps.
    func forEachRollupRow(_ db: Database, _ r: RollupFilter, _ split: RollupSplit, _ body: (RollupRow) -> Void) throws {
        var conditions = ["cluster = ?"]
        var extra = StatementArguments()
        if let from = split.from { conditions.append("hour >= ?"); _ = extra.append(contentsOf: [from]) }
        if let to = split.to { conditions.append("hour < ?"); _ = extra.append(contentsOf: [to]) }
        for (column, value) in [("verb", r.verb), ("user", r.user), ("resource", r.resource), ("namespace", r.namespace),
                                ("node", r.node), ("code", r.code)] {
            if let value { conditions.append("\(column) = ?"); _ = extra.append(contentsOf: [value]) }
        }
        if let c = r.codeClass { conditions.append("code_class = ?"); _ = extra.append(contentsOf: [c]) }
        // One range of the primary key (cluster, hour, …) per cluster.
        let clusters = try r.cluster.map { [$0] }
            ?? Int64.fetchAll(db, sql: "SELECT id FROM dims WHERE kind = ?", arguments: [DimKind.cluster.rawValue])
        let statement = try db.cachedStatement(sql: """
            SELECT hour, verb, user, resource, namespace, node, code, events FROM rollup_hour WHERE \(conditions.joined(separator: " AND "))
            """)
        for cluster in clusters {
            var args: StatementArguments = [cluster]
            _ = args.append(contentsOf: extra)
            let rows = try Row.fetchCursor(statement, arguments: args)
            while let row = try rows.next() {
                body(RollupRow(cluster: cluster, hour: row[0], verb: row[1], user: row[2], resource: row[3],
                               namespace: row[4], node: row[5], code: row[6], events: row[7]))
            }
        }
    }

    /// Calls `body` with each minute's count in the split's minutes (`rollup_minute`), for a
    /// query with no filter but its cluster and window.
    func forEachMinute(_ db: Database, cluster: Int64?, _ split: RollupSplit, _ body: (_ minute: Int64, _ events: Int) -> Void) throws {
        var conditions = ["cluster = ?"]
        var extra = StatementArguments()
        if let from = split.from { conditions.append("minute >= ?"); _ = extra.append(contentsOf: [from]) }
        if let to = split.to { conditions.append("minute < ?"); _ = extra.append(contentsOf: [to]) }
        let clusters = try cluster.map { [$0] }
            ?? Int64.fetchAll(db, sql: "SELECT id FROM dims WHERE kind = ?", arguments: [DimKind.cluster.rawValue])
        let statement = try db.cachedStatement(sql: "SELECT minute, events FROM rollup_minute WHERE \(conditions.joined(separator: " AND "))")
        for cluster in clusters {
            var args: StatementArguments = [cluster]
            _ = args.append(contentsOf: extra)
            let rows = try Row.fetchCursor(statement, arguments: args)
            while let row = try rows.next() { body(row[0], row[1]) }
        }
    }

    /// Events per term over the blocks of the split's whole hours (a block lies in one hour), for
    /// the fields the rollup does not hold: one sum per term from `block_terms`, no block decoded.
    func blockTermSums(_ db: Database, _ termIDs: [Int64], cluster: Int64?, _ split: RollupSplit) throws -> [Int64: Int] {
        guard !termIDs.isEmpty else { return [:] }
        var out: [Int64: Int] = [:]
        for chunk in stride(from: 0, to: termIDs.count, by: 500) {
            let part = termIDs[chunk..<min(termIDs.count, chunk + 500)]
            var conditions = ["bt.term IN (\(part.map(String.init).joined(separator: ",")))"]
            var args = StatementArguments()
            if let c = cluster { conditions.append("b.cluster = ?"); _ = args.append(contentsOf: [c]) }
            if let from = split.from { conditions.append("b.min_ts >= ?"); _ = args.append(contentsOf: [from]) }
            if let to = split.to { conditions.append("b.max_ts < ?"); _ = args.append(contentsOf: [to]) }
            for row in try Row.fetchAll(db, sql: """
                SELECT bt.term, sum(bt.events) FROM block_terms bt JOIN blocks b ON b.first_id = bt.block
                WHERE \(conditions.joined(separator: " AND ")) GROUP BY bt.term
                """, arguments: args) {
                out[row[0], default: 0] += row[1] as Int
            }
        }
        return out
    }

    /// Most terms a facet field may have for its counts to be summed from `block_terms` (object
    /// names and IPs may have millions; then the blocks' own term lists are read).
    static let maxSummedTerms = 5_000

    /// The fields a rollup row holds.
    static let rollupFacetFields: Set<FacetField> = [.cluster, .node, .verb, .user, .resource, .namespace, .code]

    /// Adds a rollup row's counts to facet counts (by term id; clusters by dictionary id).
    static func addRollup(_ row: RollupRow, fields: [FacetField], to counts: inout [FacetField: [Int64: Int]]) {
        for f in fields {
            let id: Int64
            switch f {
            case .cluster: id = row.cluster
            case .verb: id = row.verb
            case .user: id = row.user
            case .resource: id = row.resource
            case .namespace: id = row.namespace
            case .node: id = row.node
            case .code: id = row.code
            default: continue
            }
            // Term 0 is "no value" (an event without a user, a cluster-wide resource).
            if id != 0 || f == .cluster { counts[f, default: [:]][id, default: 0] += row.events }
        }
    }

    /// The query with its time window replaced by an edge of a split.
    static func query(_ q: EventQuery, window: (since: Int64?, until: Int64?)) -> EventQuery {
        var out = q
        out.since = window.since.map { Timestamp(microseconds: $0) }
        out.until = window.until.map { Timestamp(microseconds: $0) }
        return out
    }
}
