import AuditBlock
import AuditModel
#if canImport(Glibc)
import Glibc
#endif

/// A query's filters applied to one stored event's row: pure, the same for every block store.
struct EventFilter: Sendable {
    var node: String?
    var user: String?
    var verb: String?
    var resource: String?
    /// Set when the query names `resource/subresource`.
    var subresource: String?
    var namespace: String?
    var since: Int64?
    var until: Int64?
    var after: EventCursor?
    var ingestedAfter: Int64?
    var group: String?
    var apiGroup: String?
    var name: String?
    var code: Int?
    var codeClass: Int?
    var stage: String?
    /// Matched against the raw bytes, not the row (`matchesText`).
    var text: [UInt8]?
    /// `text`, searched by its rarest byte.
    var textNeedle: ByteNeedle?
    var fieldMatches: [FieldMatch] = []

    init(_ q: EventQuery) {
        group = q.group
        apiGroup = q.apiGroup
        name = q.name
        code = q.code
        codeClass = q.codeClass
        stage = q.stage
        text = q.text.map { Array($0.utf8) }
        textNeedle = text.map { ByteNeedle($0) }
        fieldMatches = q.matches
        node = q.node
        user = q.user
        verb = q.verb
        namespace = q.namespace
        if let r = q.resource {
            let parts = r.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            resource = parts.first ?? r
            if parts.count == 2 { subresource = parts[1] }
        }
        since = q.since?.microseconds
        until = q.until?.microseconds
        after = q.after
        ingestedAfter = q.ingestedAfter
    }

    /// The exact, non-empty values this filter asks of one-value columns: a block's projection
    /// finds the rows holding all of them by dictionary id (`matches` still decides).
    var exactColumns: [(field: BlockField, value: String)] {
        var out: [(field: BlockField, value: String)] = []
        for (field, value) in [(BlockField.node, node), (.user, user), (.verb, verb), (.resource, resource), (.subresource, subresource),
                               (.namespace, namespace), (.name, name), (.stage, stage), (.apiGroup, apiGroup)] {
            if let value, !value.isEmpty { out.append((field, value)) }
        }
        return out
    }

    /// True when only time bounds filter (every event of a block inside them matches).
    var timeOnly: Bool {
        node == nil && user == nil && verb == nil && resource == nil && subresource == nil && namespace == nil
            && after == nil && ingestedAfter == nil && !hasEventFilters
    }

    var hasEventFilters: Bool {
        group != nil || apiGroup != nil || name != nil || code != nil || codeClass != nil || stage != nil || text != nil
            || !fieldMatches.isEmpty
    }

    /// The text filter over an event's bytes.
    func matchesText(_ bytes: [UInt8]) -> Bool {
        guard let textNeedle, !textNeedle.bytes.isEmpty else { return true }
        return bytes.withUnsafeBufferPointer { textNeedle.occurs(in: $0) }
    }

    /// True when a block whose events all lie in `minTS...maxTS` is inside the time bounds.
    func covers(minTS: Int64, maxTS: Int64) -> Bool {
        (since.map { minTS >= $0 } ?? true) && (until.map { maxTS < $0 } ?? true)
    }

    func matches(_ row: BlockRow, id: Int64) -> Bool {
        if let since, row.time < since { return false }
        if let until, row.time >= until { return false }
        if let node, row.node != node { return false }
        if let user, (row.user ?? "") != user { return false }
        if let verb, row.verb != verb { return false }
        if let resource, row.resource != resource { return false }
        if let subresource, row.subresource != subresource { return false }
        if let namespace, row.namespace != namespace { return false }
        if let ingestedAfter, id <= ingestedAfter { return false }
        if let group, !row.groups.contains(group) { return false }
        if let apiGroup, row.apiGroup != apiGroup { return false }
        if let name, row.name != name { return false }
        if let code, row.code != code { return false }
        if let codeClass, row.codeClass != codeClass { return false }
        if let stage, row.stage != stage { return false }
        if let after, !(EventOrder(row, id: id) > EventOrder(after)) { return false }
        for m in fieldMatches where !m.matches(row) { return false }
        return true
    }
}

/// The query order of events: (stageTimestamp, requestReceivedTimestamp, auditID, stage, ingest id).
struct EventOrder: Comparable, Sendable {
    var timestamp: Int64
    var received: Int64
    var auditID: String
    var stage: Int
    var id: Int64

    init(_ row: BlockRow, id: Int64) {
        timestamp = row.time
        received = row.requestReceived ?? row.time
        auditID = row.auditID
        stage = StageCode.code(row.stage)
        self.id = id
    }

    init(_ c: EventCursor) {
        timestamp = c.timestamp
        received = c.received
        auditID = c.auditID
        stage = c.stage
        id = c.sequence
    }

    var cursor: EventCursor { EventCursor(timestamp: timestamp, received: received, auditID: auditID, stage: stage, sequence: id) }

    static func < (a: EventOrder, b: EventOrder) -> Bool {
        (a.timestamp, a.received, a.auditID, a.stage, a.id) < (b.timestamp, b.received, b.auditID, b.stage, b.id)
    }
}

extension EventQuery {
    /// This query without the event filters (`hasEventFilters`): what a store without them in its
    /// index answers before applying them to each event it reads.
    package var withoutEventFilters: EventQuery {
        var q = self
        q.group = nil
        q.apiGroup = nil
        q.name = nil
        q.code = nil
        q.codeClass = nil
        q.stage = nil
        q.text = nil
        q.matches = []
        return q
    }

    /// Whether a stored event passes the event filters, read from its bytes.
    package func matchesEventFilters(_ e: StoredEvent) -> Bool {
        guard hasEventFilters else { return true }
        guard let summary = try? EventScanner.scan(e.bytes) else { return false }
        var only = EventQuery(group: group, apiGroup: apiGroup, name: name, code: code, codeClass: codeClass, stage: stage, text: text)
        only.matches = matches
        let f = EventFilter(only)
        return f.matches(BlockRow(node: e.node, summary: summary), id: e.sequence) && f.matchesText(e.bytes)
    }
}
