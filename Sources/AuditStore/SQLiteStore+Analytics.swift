import AuditBlock
import AuditModel
import Foundation
import GRDB

/// Histograms and facets from the blocks: a block wholly inside the window, under time filters
/// only, is counted from its own index (its `terms` list and event count) without being decoded;
/// the others have their columns decoded and their matching events counted one by one.
extension SQLiteStore {
    public func histogram(_ query: EventQuery, bucket: Int64) async throws -> [HistogramBucket] {
        guard bucket > 0 else { throw StoreError("a histogram bucket must be longer than zero") }
        return try await pool.read { db in
            guard let plan = try self.plan(db, query) else { return [] }
            let f = plan.filter
            var counts: [Int64: Int] = [:]
            for meta in try self.candidates(db, plan, order: .none) {
                let first = Analytics.bucketStart(meta.minTS, bucket)
                if f.timeOnly, f.covers(minTS: meta.minTS, maxTS: meta.maxTS), first == Analytics.bucketStart(meta.maxTS, bucket) {
                    counts[first, default: 0] += meta.count
                    continue
                }
                if f.timeOnly {
                    // Only the times column is needed.
                    for t in try self.blockTimes(db, meta) where (f.since.map { t >= $0 } ?? true) && (f.until.map { t < $0 } ?? true) {
                        counts[Analytics.bucketStart(t, bucket), default: 0] += 1
                    }
                    continue
                }
                try self.forEachMatch(db, plan, meta) { _, row in counts[Analytics.bucketStart(row.time, bucket), default: 0] += 1 }
            }
            return Analytics.sortedBuckets(counts)
        }
    }

    public func facets(_ query: EventQuery, fields: [FacetField], top: Int) async throws -> [FacetField: [FacetValue]] {
        try await pool.read { db in
            guard let plan = try self.plan(db, query) else { return Analytics.top([:], fields: fields, top: top) }
            let f = plan.filter
            var counts: [FacetField: [String: Int]] = [:]
            let names = f.timeOnly ? try self.terms(db, of: Set(fields.compactMap(\.blockField))) : [:]
            for meta in try self.candidates(db, plan, order: .none) {
                let cluster = try self.clusterName(db, meta.clusterID)
                if f.timeOnly, f.covers(minTS: meta.minTS, maxTS: meta.maxTS) {
                    if fields.contains(.cluster) { counts[.cluster, default: [:]][cluster, default: 0] += meta.count }
                    for (term, events) in try self.blockTerms(db, meta) {
                        guard let (field, value) = names[term], !value.isEmpty, let facet = FacetField(field) else { continue }
                        counts[facet, default: [:]][value, default: 0] += events
                    }
                    continue
                }
                try self.forEachMatch(db, plan, meta) { _, row in Analytics.add(row, cluster: cluster, fields: fields, to: &counts) }
            }
            return Analytics.top(counts, fields: fields, top: top)
        }
    }
}
