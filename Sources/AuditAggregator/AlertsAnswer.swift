import AuditModel
import AuditStore
import AuditWire
import Foundation
import Hummingbird

/// One alert of `GET /v1/alerts`, the same fields as `auditship alerts list --format json`
/// plus its delivery state in one word.
public struct AlertResponse: Codable, Sendable {
    public var alertID: Int64
    public var firedAt: String
    public var rule: String
    /// A Sigma rule's `id` and `level`; absent for the built-in pack and our own rules.
    public var ruleID: String?
    public var level: String?
    public var severity: String
    public var message: String
    public var cluster: String
    public var node: String
    public var auditID: String
    public var stage: String
    public var matches: Int
    public var eventTime: String?
    public var notify: Bool
    public var delivered: Bool
    /// `recorded` (never sent: too old, or no receiver), `sent`, `pending` or `failing`.
    public var delivery: String
    public var failedAttempts: Int

    public init(_ s: StoredAlert) {
        let a = s.alert
        alertID = s.id
        firedAt = AlertNotification.rfc3339(s.firedAt)
        rule = a.rule
        ruleID = a.ruleID
        level = a.level
        severity = a.severity
        message = a.message
        cluster = a.cluster
        node = a.node
        auditID = a.auditID
        stage = a.stage
        matches = a.matches
        eventTime = a.eventTime.map(AlertNotification.rfc3339)
        notify = a.notify
        delivered = s.deliveredAt != nil
        delivery = !a.notify ? "recorded" : s.deliveredAt != nil ? "sent" : s.failedAttempts > 0 ? "failing" : "pending"
        failedAttempts = s.failedAttempts
    }
}

extension QueryAnswers {
    /// Alerts answered at most at once.
    public static let maxAlerts = 10_000

    /// `GET /v1/alerts?since=24h&limit=1000`: the recorded alerts, newest first
    /// (the newest `limit` of the range).
    public func alerts(_ request: Request) async -> Response {
        await answering {
            let p = request.uri.queryParameters
            guard let log = store as? any AlertLog else {
                throw Refusal(status: 404, code: "no_alerts", message: "this store does not keep alerts")
            }
            let sinceText = p["since"].map(String.init) ?? "24h"
            guard let since = QueryParameters.time(sinceText, now: QueryParameters.now) else {
                throw Refusal(status: 400, code: "bad_parameter", message: "since='\(sinceText)' is not an RFC 3339 time or a time ago like 15m, 1h or 7d")
            }
            var limit = 1_000
            if let v = p["limit"] {
                guard let n = Int(v), n > 0, n <= Self.maxAlerts else {
                    throw Refusal(status: 400, code: "bad_parameter", message: "limit='\(v)' is not a number from 1 to \(Self.maxAlerts)")
                }
                limit = n
            }
            var found = try await log.latestAlerts(since: since.microseconds, limit: clusters == nil ? limit : Self.maxAlerts)
            if let clusters { found = Array(found.filter { clusters.contains($0.alert.cluster) }.prefix(limit)) }
            return Self.json(found.map(AlertResponse.init), status: .ok)
        }
    }
}
