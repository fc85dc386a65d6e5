import AuditModel
import AuditStore
import AuditWire
import Foundation

/// Readers limited to clusters (`auditship://reader/NAME/CLUSTER[+CLUSTER…]`): every answer holds
/// only those clusters. A query that names another cluster is refused (403); a query that names
/// none is asked of each allowed cluster and the answers merged: pages by the query order (the
/// cursor stays valid across clusters), counts, histograms and statistics summed, facets counted
/// in full per cluster and then cut to the top values, alerts filtered.
extension QueryAnswers {
    /// The queries to ask for `q` within the caller's clusters.
    func scope(_ q: EventQuery) throws(Refusal) -> [EventQuery] {
        guard let clusters else { return [q] }
        if let c = q.cluster {
            guard clusters.contains(c) else {
                throw Refusal(status: 403, code: "cluster_forbidden",
                              message: "this reader may read \(clusters.sorted().joined(separator: ", ")) only, not cluster '\(c)'")
            }
            return [q]
        }
        return clusters.sorted().map { cluster in
            var one = q
            one.cluster = cluster
            return one
        }
    }

    func scopedEvents(_ q: EventQuery) async throws -> [StoredEvent] {
        let queries = try scope(q)
        if queries.count == 1 { return try await store.events(queries[0]) }
        var all: [StoredEvent] = []
        for one in queries { all += try await store.events(one) }
        if q.ingestOrder {
            all.sort { $0.sequence < $1.sequence }
        } else {
            all.sort { $0.cursor < $1.cursor }
        }
        if let limit = q.limit, all.count > limit { all.removeLast(all.count - limit) }
        return all
    }

    func scopedCount(_ q: EventQuery) async throws -> Int {
        var total = 0
        for one in try scope(q) { total += try await store.count(one) }
        return total
    }

    func scopedHistogram(_ q: EventQuery, bucket: Int64) async throws -> [HistogramBucket] {
        let queries = try scope(q)
        if queries.count == 1 { return try await store.histogram(queries[0], bucket: bucket) }
        var counts: [Int64: Int] = [:]
        for one in queries {
            for b in try await store.histogram(one, bucket: bucket) { counts[b.start.microseconds, default: 0] += b.count }
        }
        return counts.sorted { $0.key < $1.key }.map { HistogramBucket(start: Timestamp(microseconds: $0.key), count: $0.value) }
    }

    /// Values counted per cluster in full (up to this many per field), then merged and cut.
    static let mergedFacetValues = 1_000_000

    func scopedFacets(_ q: EventQuery, fields: [FacetField], top: Int) async throws -> [FacetField: [FacetValue]] {
        let queries = try scope(q)
        if queries.count == 1 { return try await store.facets(queries[0], fields: fields, top: top) }
        var counts: [FacetField: [String: Int]] = [:]
        for one in queries {
            for (field, values) in try await store.facets(one, fields: fields, top: Self.mergedFacetValues) {
                for v in values { counts[field, default: [:]][v.value, default: 0] += v.count }
            }
        }
        return Analytics.top(counts, fields: fields, top: top)
    }

    func scopedStatistics(_ q: EventQuery) async throws -> StoreStatistics {
        var out = StoreStatistics()
        for one in try scope(q) {
            let s = try await store.statistics(one)
            out.total += s.total
            out.byCluster.merge(s.byCluster, uniquingKeysWith: +)
            out.byNode.merge(s.byNode, uniquingKeysWith: +)
            out.byUser.merge(s.byUser, uniquingKeysWith: +)
            out.byVerb.merge(s.byVerb, uniquingKeysWith: +)
            out.byResource.merge(s.byResource, uniquingKeysWith: +)
        }
        return out
    }

    func scopedCollisions(_ q: EventQuery) async throws -> [AuditIDCollision] {
        var out: [AuditIDCollision] = []
        for one in try scope(q) { out += try await store.collisions(one) }
        return out
    }
}

extension EventCursor: Comparable {
    /// The query order: timestamp, receive time, auditID, stage, ingest sequence.
    public static func < (a: EventCursor, b: EventCursor) -> Bool {
        (a.timestamp, a.received, a.auditID, a.stage, a.sequence) < (b.timestamp, b.received, b.auditID, b.stage, b.sequence)
    }
}
