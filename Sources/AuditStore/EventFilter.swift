import AuditBlock
import AuditModel

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

    init(_ q: EventQuery) {
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

    /// True when only time bounds filter (every event of a block inside them matches).
    var timeOnly: Bool {
        node == nil && user == nil && verb == nil && resource == nil && subresource == nil && namespace == nil
            && after == nil && ingestedAfter == nil
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
        if let after, !(EventOrder(row, id: id) > EventOrder(after)) { return false }
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
