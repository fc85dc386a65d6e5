import AuditModel
import Foundation

/// How the CLI and the HTTPS API read query parameters, so that both accept the same text.
public enum QueryParameters {
    /// An RFC 3339 time, or a time relative to `now`: `15m`, `1h`, `7d` (that long ago).
    public static func time(_ text: String, now: Timestamp) -> Timestamp? {
        if let t = Timestamp(rfc3339: text) { return t }
        let units: [(String, Int64)] = [("s", 1_000_000), ("m", 60_000_000), ("h", 3_600_000_000), ("d", 86_400_000_000), ("w", 604_800_000_000)]
        for (suffix, micros) in units where text.hasSuffix(suffix) {
            guard let n = Int64(text.dropLast(suffix.count)), n >= 0 else { continue }
            let (ago, overflow) = n.multipliedReportingOverflow(by: micros)
            guard !overflow else { return nil }
            return Timestamp(microseconds: now.microseconds &- ago)
        }
        return nil
    }

    /// A response code (`404`) or class (`4xx`): (code, nil) or (nil, class).
    public static func code(_ text: String) -> (code: Int?, codeClass: Int?)? {
        let t = text.lowercased()
        if t.count == 3, t.hasSuffix("xx"), let c = Int(t.prefix(1)), (1...5).contains(c) { return (nil, c) }
        if let c = Int(t), c >= 0, c < 1000 { return (c, nil) }
        return nil
    }

    /// A query from the parameters of an HTTP request (`/v1/events`, `/v1/histogram`, …):
    /// `cluster`, `node`, `user`, `verb`, `resource`, `namespace`, `group`, `apiGroup`, `name`,
    /// `code`, `stage`, `text`, `since`, `until`, `limit`, `after`, `ingestedAfter` (events stored
    /// after that sequence, in the order they were stored: a live tail), and `q`, the search box's text
    /// (`SearchQuery`), whose terms may not repeat a parameter given on its own.
    public static func query(_ value: (String) -> String?, now: Timestamp) throws(StoreError) -> EventQuery {
        func time(_ k: String) throws(StoreError) -> Timestamp? {
            guard let v = value(k) else { return nil }
            guard let t = QueryParameters.time(v, now: now) else {
                throw StoreError("\(k)='\(v)' is not an RFC 3339 time or a time ago like 15m, 1h or 7d")
            }
            return t
        }
        var limit: Int?
        if let v = value("limit") {
            guard let n = Int(v), n > 0 else { throw StoreError("limit='\(v)' is not a positive integer") }
            limit = n
        }
        var after: EventCursor?
        if let v = value("after") {
            guard let c = EventCursor(v) else { throw StoreError("after='\(v)' is not a cursor from X-Auditship-Next-Cursor") }
            after = c
        }
        var ingestedAfter: Int64?
        if let v = value("ingestedAfter") {
            guard let n = Int64(v), n >= 0 else { throw StoreError("ingestedAfter='\(v)' is not a sequence from X-Auditship-Last-Sequence") }
            guard after == nil else { throw StoreError("ingestedAfter and after cannot be combined: one follows new arrivals, the other pages in time order") }
            ingestedAfter = n
        }
        var code: (code: Int?, codeClass: Int?) = (nil, nil)
        if let v = value("code") {
            guard let c = QueryParameters.code(v) else { throw StoreError("code='\(v)' is not a response code like 404 or a class like 4xx") }
            code = c
        }
        var query = EventQuery(cluster: value("cluster"), node: value("node"), user: value("user"), verb: value("verb"),
                               resource: value("resource"), namespace: value("namespace"),
                               since: try time("since"), until: try time("until"), limit: limit, after: after,
                               group: value("group"), apiGroup: value("apiGroup"), name: value("name"), code: code.code,
                               codeClass: code.codeClass, stage: value("stage"), text: value("text"))
        if let ingestedAfter {
            query.ingestedAfter = ingestedAfter
            query.ingestOrder = true
        }
        if let q = value("q"), !q.trimmingCharacters(in: .whitespaces).isEmpty {
            var fromSearch = EventQuery()
            try SearchQuery.apply(q, to: &fromSearch)
            try merge(fromSearch, into: &query)
        }
        return query
    }

    /// Adds the search box's filters to the parameters'; a filter set by both is refused.
    static func merge(_ search: EventQuery, into query: inout EventQuery) throws(StoreError) {
        func take<T>(_ name: String, _ key: WritableKeyPath<EventQuery, T?>) throws(StoreError) {
            guard let v = search[keyPath: key] else { return }
            guard query[keyPath: key] == nil else { throw StoreError("\(name) is set both by the parameter and in q; give it once") }
            query[keyPath: key] = v
        }
        try take("cluster", \.cluster)
        try take("node", \.node)
        try take("user", \.user)
        try take("verb", \.verb)
        try take("resource", \.resource)
        try take("namespace", \.namespace)
        try take("group", \.group)
        try take("apiGroup", \.apiGroup)
        try take("name", \.name)
        try take("code", \.code)
        try take("code", \.codeClass)
        try take("stage", \.stage)
        try take("text", \.text)
        query.matches += search.matches
    }

    /// The current time.
    public static var now: Timestamp { Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1_000_000)) }
}
