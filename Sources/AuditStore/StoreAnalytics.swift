import AuditBlock
import AuditModel

/// A field whose values can be counted (`facets`).
public enum FacetField: String, CaseIterable, Sendable, Hashable {
    case cluster, node, user, group, verb, resource, apiGroup, namespace, name, code, stage, sourceIP

    /// The block field holding it (nil for the cluster, which is the block's).
    var blockField: BlockField? {
        switch self {
        case .cluster: nil
        case .node: .node
        case .user: .user
        case .group: .groups
        case .verb: .verb
        case .resource: .resource
        case .apiGroup: .apiGroup
        case .namespace: .namespace
        case .name: .name
        case .code: .code
        case .stage: .stage
        case .sourceIP: .sourceIP
        }
    }

    init?(_ field: BlockField) {
        guard let f = FacetField.allCases.first(where: { $0.blockField == field }) else { return nil }
        self = f
    }

    /// Parses a comma-separated list (`user,verb`).
    public static func list(_ text: String) throws(StoreError) -> [FacetField] {
        var out: [FacetField] = []
        for part in text.split(separator: ",") {
            let name = part.trimmingCharacters(in: .whitespaces)
            guard let f = FacetField(rawValue: name) else {
                throw StoreError("'\(name)' is not a field with values to count; use \(FacetField.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if !out.contains(f) { out.append(f) }
        }
        guard !out.isEmpty else { throw StoreError("name at least one field to count") }
        return out
    }
}

/// One value of a field and how many matching events hold it.
public struct FacetValue: Sendable, Hashable {
    public var value: String
    public var count: Int
    public init(value: String, count: Int) {
        self.value = value
        self.count = count
    }
}

/// Matching events whose order timestamp falls in `[start, start + bucket)`.
public struct HistogramBucket: Sendable, Hashable {
    public var start: Timestamp
    public var count: Int
    public init(start: Timestamp, count: Int) {
        self.start = start
        self.count = count
    }
}

extension HistogramBucket {
    /// A bucket width like `30s`, `5m`, `1h` or `1d`, in microseconds; nil when not one (or not above zero).
    public static func width(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("ms", 1_000), ("s", 1_000_000), ("m", 60_000_000), ("h", 3_600_000_000), ("d", 86_400_000_000)]
        for (suffix, micros) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            guard !(suffix == "s" && number.hasSuffix("m")), let n = Int64(number), n > 0 else { continue }
            let (v, overflow) = n.multipliedReportingOverflow(by: micros)
            return overflow ? nil : v
        }
        return nil
    }
}

/// Counting helpers shared by the stores (and by answers that merge several stores' counts).
public enum Analytics {
    /// The start of the bucket a time falls in (floor, also before 1970).
    static func bucketStart(_ time: Int64, _ bucket: Int64) -> Int64 {
        let q = time / bucket
        let floored = (time % bucket < 0) ? q - 1 : q
        let (start, overflow) = floored.multipliedReportingOverflow(by: bucket)
        return overflow ? q * bucket : start
    }

    static func sortedBuckets(_ counts: [Int64: Int]) -> [HistogramBucket] {
        counts.sorted { $0.key < $1.key }.map { HistogramBucket(start: Timestamp(microseconds: $0.key), count: $0.value) }
    }

    /// The `top` most frequent values, most frequent first, ties by value.
    public static func top(_ counts: [FacetField: [String: Int]], fields: [FacetField], top: Int) -> [FacetField: [FacetValue]] {
        var out: [FacetField: [FacetValue]] = [:]
        for f in fields {
            out[f] = (counts[f] ?? [:]).map { FacetValue(value: $0.key, count: $0.value) }
                .sorted { ($1.count, $0.value) < ($0.count, $1.value) }
                .prefix(max(0, top)).map { $0 }
        }
        return out
    }

    /// Adds one event's values (each value once per event; events without one add nothing).
    static func add(_ row: BlockRow, cluster: String, fields: [FacetField], to counts: inout [FacetField: [String: Int]]) {
        for f in fields {
            guard let bf = f.blockField else {
                counts[f, default: [:]][cluster, default: 0] += 1
                continue
            }
            let values = bf.values(of: row)
            if values.count == 1, let v = values.first {
                if !v.isEmpty { counts[f, default: [:]][v, default: 0] += 1 }
            } else {
                for v in Set(values) where !v.isEmpty { counts[f, default: [:]][v, default: 0] += 1 }
            }
        }
    }
}

extension EventStore {
    /// Counts per time bucket, computed from the matching events themselves: for a store without
    /// a block index (PostgreSQL's row layout). Reads every matching event.
    public func histogram(_ query: EventQuery, bucket: Int64) async throws -> [HistogramBucket] {
        guard bucket > 0 else { throw StoreError("a histogram bucket must be longer than zero") }
        var counts: [Int64: Int] = [:]
        try await forEachMatching(query) { _, row in counts[Analytics.bucketStart(row.time, bucket), default: 0] += 1 }
        return Analytics.sortedBuckets(counts)
    }

    /// The most frequent values of each field among the matching events, computed from the events
    /// themselves (see `histogram`).
    public func facets(_ query: EventQuery, fields: [FacetField], top: Int) async throws -> [FacetField: [FacetValue]] {
        var counts: [FacetField: [String: Int]] = [:]
        try await forEachMatching(query) { event, row in Analytics.add(row, cluster: event.cluster, fields: fields, to: &counts) }
        return Analytics.top(counts, fields: fields, top: top)
    }

    /// Pages through every matching event in query order.
    private func forEachMatching(_ query: EventQuery, _ body: (StoredEvent, BlockRow) -> Void) async throws {
        var q = query
        q.limit = 10_000
        while true {
            let page = try await events(q)
            for e in page {
                let row = (try? EventScanner.scan(e.bytes)).map { BlockRow(node: e.node, summary: $0) }
                    ?? BlockRow(node: e.node, time: e.timestamp.microseconds, auditID: "", stage: "", verb: "", user: nil)
                body(e, row)
            }
            guard page.count == 10_000, let last = page.last else { return }
            q.after = last.cursor
        }
    }
}
