import AuditModel
import Foundation

/// An alert to record: one rule firing on one stored event.
public struct NewAlert: Sendable, Hashable {
    public var rule: String
    public var severity: String
    public var message: String
    public var cluster: String
    public var node: String
    public var auditID: String
    public var stage: String
    /// The values of the rule's group-by fields, for thresholds and suppression.
    public var groupKey: String
    /// Matches that made the rule fire (1 without a threshold).
    public var matches: Int
    /// The event's own time (stageTimestamp, else its fallbacks), microseconds since 1970.
    public var eventTime: Int64?
    /// The store's ingest sequence of the event that fired the rule.
    public var eventSequence: Int64
    /// False for events older than the notification age at evaluation (backfill): recorded, never sent.
    public var notify: Bool
    /// A Sigma rule's `id` (nil for our rules, and for alerts recorded before the store kept it).
    public var ruleID: String?
    /// A Sigma rule's `level` (`informational`, `low`, …); nil for our rules.
    public var level: String?

    public init(rule: String, severity: String, message: String, cluster: String, node: String, auditID: String,
                stage: String, groupKey: String, matches: Int, eventTime: Int64?, eventSequence: Int64, notify: Bool,
                ruleID: String? = nil, level: String? = nil) {
        self.rule = rule
        self.severity = severity
        self.message = message
        self.cluster = cluster
        self.node = node
        self.auditID = auditID
        self.stage = stage
        self.groupKey = groupKey
        self.matches = matches
        self.eventTime = eventTime
        self.eventSequence = eventSequence
        self.notify = notify
        self.ruleID = ruleID
        self.level = level
    }
}

/// A recorded alert, with its delivery state (the outbox).
public struct StoredAlert: Sendable, Hashable {
    /// Unique, increasing in recording order; sent to receivers as the idempotency key.
    public var id: Int64
    public var alert: NewAlert
    /// When it was recorded, microseconds since 1970.
    public var firedAt: Int64
    /// When a receiver acknowledged it (2xx), microseconds since 1970; nil while pending.
    public var deliveredAt: Int64?
    /// Delivery attempts that failed so far.
    public var failedAttempts: Int
    /// The last failure's description (no event content).
    public var lastError: String?

    public init(id: Int64, alert: NewAlert, firedAt: Int64, deliveredAt: Int64?, failedAttempts: Int, lastError: String?) {
        self.id = id
        self.alert = alert
        self.firedAt = firedAt
        self.deliveredAt = deliveredAt
        self.failedAttempts = failedAttempts
        self.lastError = lastError
    }
}

/// Where the aggregator keeps its alerts: in the event store, so that the alerts of a page of
/// events and the evaluation watermark commit together.
///
/// Exactly once per stored event: an evaluator reads events in ingest order after
/// ``alertWatermark()``, and ``recordAlerts(_:evaluatedFrom:through:at:)`` stores their alerts and
/// moves the watermark in one transaction, only if no other evaluator moved it meanwhile
/// (several aggregators on one PostgreSQL store all evaluate; one wins each page, the others
/// drop their results and read on from the new watermark). A restart resumes after the
/// watermark. Notifications are an outbox: ``pendingAlerts(limit:)`` until
/// ``markAlertDelivered(_:at:)``.
public protocol AlertLog: Sendable {
    /// The ingest sequence through which every event has been evaluated (0: none yet).
    func alertWatermark() async throws -> Int64
    /// When the watermark is still `previous`: records `alerts` (a rule fires at most once per
    /// event: a repeat is ignored), moves the watermark to `sequence` and returns true, atomically.
    /// Otherwise changes nothing and returns false.
    func recordAlerts(_ alerts: [NewAlert], evaluatedFrom previous: Int64, through sequence: Int64, at now: Int64) async throws -> Bool
    /// Alerts to notify that no receiver has acknowledged yet, oldest first.
    func pendingAlerts(limit: Int) async throws -> [StoredAlert]
    func markAlertDelivered(_ id: Int64, at now: Int64) async throws
    func markAlertFailed(_ id: Int64, error: String) async throws
    /// Alerts recorded at or after `since` (microseconds since 1970), oldest first.
    func alerts(since: Int64, limit: Int?) async throws -> [StoredAlert]
    /// The newest `limit` alerts recorded at or after `since`, newest first.
    func latestAlerts(since: Int64, limit: Int) async throws -> [StoredAlert]
}
