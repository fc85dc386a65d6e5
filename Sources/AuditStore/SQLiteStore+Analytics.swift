import AuditBlock
import AuditModel
import Foundation
import GRDB

/// Histograms, facets and counts. Whole hours of a query the hourly rollup can answer come from
/// the rollup (`SQLiteRollup.swift`); the rest from the blocks: a block wholly inside the window,
/// under time filters only, is counted from its own index (its `terms` list and event count)
/// without being decoded; the others have their columns decoded and their matching events
/// counted one by one.
extension SQLiteStore {
    public func histogram(_ query: EventQuery, bucket: Int64) async throws -> [HistogramBucket] {
        guard bucket > 0 else { throw StoreError("a histogram bucket must be longer than zero") }
        return try await pool.read { db in
            guard let plan = try self.plan(db, query) else { return [] }
            var counts: [Int64: Int] = [:]
            // Buckets of whole minutes (hours) start on minute (hour) boundaries: a rollup's minute (hour) falls in one bucket.
            if plan.filter.timeOnly, bucket % RollupKey.minuteMicroseconds == 0,
               let split = Self.split(since: plan.filter.since, until: plan.filter.until, unit: RollupKey.minuteMicroseconds) {
                try self.forEachMinute(db, cluster: plan.clusterID, split) { minute, n in counts[Analytics.bucketStart(minute, bucket), default: 0] += n }
                for edge in split.edges {
                    guard let edgePlan = try self.plan(db, Self.query(query, window: edge)) else { continue }
                    try self.blockHistogram(db, edgePlan, bucket: bucket, into: &counts)
                }
            } else if bucket % RollupKey.hourMicroseconds == 0, let (r, split) = try self.rollupPlan(db, plan) {
                try self.forEachRollupRow(db, r, split) { row in counts[Analytics.bucketStart(row.hour, bucket), default: 0] += row.events }
                for edge in split.edges {
                    guard let edgePlan = try self.plan(db, Self.query(query, window: edge)) else { continue }
                    try self.blockHistogram(db, edgePlan, bucket: bucket, into: &counts)
                }
            } else {
                try self.blockHistogram(db, plan, bucket: bucket, into: &counts)
            }
            return Analytics.sortedBuckets(counts)
        }
    }

    public func facets(_ query: EventQuery, fields: [FacetField], top: Int) async throws -> [FacetField: [FacetValue]] {
        try await pool.read { db in
            guard let plan = try self.plan(db, query) else { return Analytics.top([:], fields: fields, top: top) }
            var counts: [FacetField: [String: Int]] = [:]
            // Fields beyond the rollup's (node, code, …) are summed from block_terms when the query
            // has no filter but time and cluster (a block's terms then count its events) and they have few values.
            let beyond = fields.filter { !Self.rollupFacetFields.contains($0) }
            if let (r, split) = try self.rollupPlan(db, plan),
               let extra = beyond.isEmpty ? [:] : (plan.filter.timeOnly ? try self.summableTerms(db, beyond) : nil) {
                var byID: [FacetField: [Int64: Int]] = [:]
                try self.forEachRollupRow(db, r, split) { row in Self.addRollup(row, fields: fields, to: &byID) }
                let names = try self.terms(db, of: Set(fields.compactMap(\.blockField)))
                for (field, ids) in byID {
                    for (id, n) in ids {
                        let value = field == .cluster ? try self.clusterName(db, id) : (names[id]?.value ?? "")
                        if !value.isEmpty { counts[field, default: [:]][value, default: 0] += n }
                    }
                }
                for (term, n) in try self.blockTermSums(db, Array(extra.keys), cluster: r.cluster, split) {
                    guard let (field, value) = extra[term], !value.isEmpty, let facet = FacetField(field) else { continue }
                    counts[facet, default: [:]][value, default: 0] += n
                }
                for edge in split.edges {
                    guard let edgePlan = try self.plan(db, Self.query(query, window: edge)) else { continue }
                    try self.blockFacets(db, edgePlan, fields: fields, into: &counts)
                }
            } else {
                try self.blockFacets(db, plan, fields: fields, into: &counts)
            }
            return Analytics.top(counts, fields: fields, top: top)
        }
    }

    public func count(_ query: EventQuery) async throws -> Int {
        try await pool.read { db in
            guard let plan = try self.plan(db, query) else { return 0 }
            guard let (r, split) = try self.rollupPlan(db, plan) else { return try self.blockCount(db, plan) }
            var total = 0
            try self.forEachRollupRow(db, r, split) { total += $0.events }
            for edge in split.edges {
                guard let edgePlan = try self.plan(db, Self.query(query, window: edge)) else { continue }
                total += try self.blockCount(db, edgePlan)
            }
            return total
        }
    }

    /// The terms of these fields by id, or nil when they are too many to sum (`maxSummedTerms`)
    /// or a field has no terms in the block index (cluster is the rollup's).
    func summableTerms(_ db: Database, _ fields: [FacetField]) throws -> [Int64: (field: BlockField, value: String)]? {
        let blockFields = fields.compactMap(\.blockField)
        guard blockFields.count == fields.count else { return nil }
        let list = blockFields.map { String($0.rawValue) }.joined(separator: ",")
        guard !list.isEmpty else { return [:] }
        let n = try Int.fetchOne(db, sql: "SELECT count(*) FROM terms WHERE field IN (\(list))") ?? 0
        guard n <= Self.maxSummedTerms else { return nil }
        return try terms(db, of: Set(blockFields))
    }

    // MARK: from the blocks

    func blockHistogram(_ db: Database, _ plan: QueryPlan, bucket: Int64, into counts: inout [Int64: Int]) throws {
        let f = plan.filter
        if !f.timeOnly, f.onlyIndexedFilters {
            try projectedHistogram(db, plan, bucket: bucket, into: &counts)
            return
        }
        for meta in try candidates(db, plan, order: .none) {
            let first = Analytics.bucketStart(meta.minTS, bucket)
            if f.timeOnly, f.covers(minTS: meta.minTS, maxTS: meta.maxTS), first == Analytics.bucketStart(meta.maxTS, bucket) {
                counts[first, default: 0] += meta.count
                continue
            }
            if plan.terms.count == 1, f.onlyIndexedFilters, f.covers(minTS: meta.minTS, maxTS: meta.maxTS),
               first == Analytics.bucketStart(meta.maxTS, bucket) {
                // One indexed filter, the block inside one bucket: the index holds its count there.
                counts[first, default: 0] += try Int.fetchOne(db, sql: "SELECT events FROM block_terms WHERE term = ? AND block = ?",
                                                              arguments: [plan.terms[0], meta.firstID]) ?? 0
                continue
            }
            if f.timeOnly {
                // Only the times column is needed.
                for t in try blockTimes(db, meta) where (f.since.map { t >= $0 } ?? true) && (f.until.map { t < $0 } ?? true) {
                    counts[Analytics.bucketStart(t, bucket), default: 0] += 1
                }
                continue
            }
            try forEachMatch(db, plan, meta) { _, row in counts[Analytics.bucketStart(row.time, bucket), default: 0] += 1 }
        }
    }

    /// The indexed equality filters of a plan (node, user, verb, resource, namespace) as (column, value).
    static func equalityFilters(_ f: EventFilter) -> [(BlockField, String)] {
        [(.node, f.node), (.user, f.user), (.verb, f.verb), (.resource, f.resource), (.namespace, f.namespace)]
            .compactMap { field, value in value.map { (field, $0) } }
    }

    /// The rows of a projected block inside the window whose filtered columns hold the filters'
    /// values (compared as dictionary ids; a value the block lacks matches no row).
    static func matchingRows(_ p: BlockProjection, _ filters: [(BlockField, String)], _ f: EventFilter) -> [Int] {
        var need: [(ids: [Int32], id: Int32)] = []
        for (field, value) in filters {
            guard let id = p.id(of: value, in: field), let ids = p.ids[field] else { return [] }
            need.append((ids, id))
        }
        var matching: [Int] = []
        for i in 0..<p.count {
            let t = p.times[i]
            if let since = f.since, t < since { continue }
            if let until = f.until, t >= until { continue }
            if need.allSatisfy({ $0.ids[i] == $0.id }) { matching.append(i) }
        }
        return matching
    }

    /// A histogram under indexed equality filters (node, user, verb, resource, namespace) and time:
    /// a block inside one bucket and the window is counted from the index (one filter: its
    /// `block_terms` count, read for all candidate blocks in one statement); any other block over
    /// the dictionary ids of the filtered columns and its times, without making a row per event.
    func projectedHistogram(_ db: Database, _ plan: QueryPlan, bucket: Int64, into counts: inout [Int64: Int]) throws {
        let f = plan.filter
        let filters = Self.equalityFilters(f)
        let blocks = try candidates(db, plan, order: .none)
        guard let lowest = blocks.map(\.firstID).min(), let highest = blocks.map(\.firstID).max() else { return }
        var indexed: [Int64: Int] = [:]
        if plan.terms.count == 1 {
            let rows = try Row.fetchCursor(db, sql: "SELECT block, events FROM block_terms WHERE term = ? AND block BETWEEN ? AND ?",
                                           arguments: [plan.terms[0], lowest, highest])
            while let row = try rows.next() { indexed[row[0]] = row[1] }
        }
        let wanted = Set(filters.map(\.0))
        for meta in blocks {
            let first = Analytics.bucketStart(meta.minTS, bucket)
            if f.covers(minTS: meta.minTS, maxTS: meta.maxTS), first == Analytics.bucketStart(meta.maxTS, bucket), let n = indexed[meta.firstID] {
                counts[first, default: 0] += n
                continue
            }
            let p = try blockProjection(db, meta, fields: wanted)
            for i in Self.matchingRows(p, filters, f) { counts[Analytics.bucketStart(p.times[i], bucket), default: 0] += 1 }
        }
    }

    func blockFacets(_ db: Database, _ plan: QueryPlan, fields: [FacetField], into counts: inout [FacetField: [String: Int]]) throws {
        let f = plan.filter
        if !f.timeOnly, f.onlyIndexedFilters, let projected = Self.projectable(fields) {
            try projectedFacets(db, plan, fields: fields, columns: projected, into: &counts)
            return
        }
        let names = f.timeOnly ? try terms(db, of: Set(fields.compactMap(\.blockField))) : [:]
        for meta in try candidates(db, plan, order: .none) {
            let cluster = try clusterName(db, meta.clusterID)
            if f.timeOnly, f.covers(minTS: meta.minTS, maxTS: meta.maxTS) {
                if fields.contains(.cluster) { counts[.cluster, default: [:]][cluster, default: 0] += meta.count }
                for (term, events) in try blockTerms(db, meta) {
                    guard let (field, value) = names[term], !value.isEmpty, let facet = FacetField(field) else { continue }
                    counts[facet, default: [:]][value, default: 0] += events
                }
                continue
            }
            try forEachMatch(db, plan, meta) { _, row in Analytics.add(row, cluster: cluster, fields: fields, to: &counts) }
        }
    }

    /// The one-value columns facets of these fields read (nil when one is a list, groups or source IPs).
    static func projectable(_ fields: [FacetField]) -> Set<BlockField>? {
        var out: Set<BlockField> = []
        for f in fields {
            switch f {
            case .cluster, .code: continue
            case .node, .user, .verb, .resource, .apiGroup, .namespace, .name, .stage:
                if let b = f.blockField { out.insert(b) }
            case .group, .sourceIP:
                return nil
            }
        }
        return out
    }

    /// Facets under indexed equality filters (node, user, verb, resource, namespace) and time,
    /// counted over dictionary ids of the columns they need: no row is made per event.
    func projectedFacets(_ db: Database, _ plan: QueryPlan, fields: [FacetField], columns: Set<BlockField>,
                         into counts: inout [FacetField: [String: Int]]) throws {
        let f = plan.filter
        let filters = Self.equalityFilters(f)
        let wanted = columns.union(filters.map(\.0))
        for meta in try candidates(db, plan, order: .none) {
            let p = try blockProjection(db, meta, fields: wanted)
            let matching = Self.matchingRows(p, filters, f)
            if matching.isEmpty { continue }
            for field in fields {
                switch field {
                case .cluster:
                    counts[.cluster, default: [:]][try clusterName(db, meta.clusterID), default: 0] += matching.count
                case .code:
                    for i in matching { if let c = p.codes[i] { counts[.code, default: [:]][String(c), default: 0] += 1 } }
                default:
                    guard let b = field.blockField, let ids = p.ids[b], let values = p.values[b] else { continue }
                    var byID = [Int](repeating: 0, count: values.count + 1)
                    for i in matching { byID[Int(ids[i])] += 1 }
                    for (k, n) in byID.enumerated() where k > 0 && n > 0 && !values[k - 1].isEmpty {
                        counts[field, default: [:]][values[k - 1], default: 0] += n
                    }
                }
            }
        }
    }

    func blockCount(_ db: Database, _ plan: QueryPlan) throws -> Int {
        let f = plan.filter
        var total = 0
        for meta in try candidates(db, plan, order: .none) {
            if f.covers(minTS: meta.minTS, maxTS: meta.maxTS) {
                // Whole blocks: their count, or with one indexed filter, its count in the block.
                if f.timeOnly {
                    total += meta.count
                    continue
                }
                if plan.terms.count == 1, f.onlyIndexedFilters {
                    total += try Int.fetchOne(db, sql: "SELECT events FROM block_terms WHERE term = ? AND block = ?",
                                              arguments: [plan.terms[0], meta.firstID]) ?? 0
                    continue
                }
            }
            try forEachMatch(db, plan, meta) { _, _ in total += 1 }
        }
        return total
    }
}
