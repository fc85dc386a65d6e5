import AuditAlerts
import AuditModel
import AuditStore
import CurlClient
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// How the aggregator evaluates alert rules and where it sends what fires.
public struct AlertConfiguration: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        /// One JSON object per alert (`Protocols/formats.md`, alert notifications).
        case json
        /// `{"text": "…"}`, as Slack's (and Mattermost's, Rocket.Chat's) incoming webhooks take it.
        case slack
    }

    public var rules: AlertRuleSet
    /// Where notifications go (nil: alerts are evaluated and stored, not sent).
    public var webhookURL: String?
    public var webhookFormat: Format = .json
    /// CA for an https receiver with a private CA (nil: the system's trust store).
    public var webhookCAFile: String?
    /// Events older than this when evaluated (backfill, a long outage) are recorded, not sent;
    /// nil sends whatever the age.
    public var notifyMaxAge: Duration? = .seconds(3600)
    /// How often the evaluator looks for newly stored events when it has caught up.
    public var pollInterval: Duration = .milliseconds(200)
    /// First and longest wait after a failed delivery (doubling in between).
    public var retryInitial: Duration = .seconds(1)
    public var retryMax: Duration = .seconds(60)

    public init(rules: AlertRuleSet = .builtin) {
        self.rules = rules
    }
}

/// Evaluates the alert rules once per stored event, in ingest order, as events arrive
/// (not after the reorder window); records what fires and moves the evaluation watermark
/// in one store transaction, so that a restart neither repeats nor skips an event.
struct AlertEvaluationService: Service {
    let store: any EventStore
    let log: any AlertLog
    let configuration: AlertConfiguration
    let metrics: AggregatorMetrics
    let logger: Logger
    /// Pages of events evaluated per store transaction.
    static let pageSize = 500

    func run() async throws {
        let stopping = Atomic<Bool>(false)
        try await withGracefulShutdownHandler {
            let engine = AlertEngine(rules: configuration.rules)
            var watermark = try await log.alertWatermark()
            logger.info("alert evaluation started", metadata: [
                "rules": "\(configuration.rules.rules.count - engine.inactiveRules.count)", "evaluated_through": "\(watermark)",
            ])
            while !stopping.load(ordering: .relaxed) {
                do {
                    let page = try await store.events(EventQuery(limit: Self.pageSize, ingestedAfter: watermark, ingestOrder: true))
                    guard let last = page.last else {
                        try? await Task.sleep(for: configuration.pollInterval)
                        continue
                    }
                    let now = Date()
                    let nowMicros = Int64(now.timeIntervalSince1970 * 1_000_000)
                    let oldest = configuration.notifyMaxAge.map { nowMicros - $0.microseconds }
                    var fired: [NewAlert] = []
                    for event in page {
                        for f in engine.evaluate(event: event.bytes, cluster: event.cluster, node: event.node, now: now) {
                            let time = f.eventTime.map { Int64($0.timeIntervalSince1970 * 1_000_000) } ?? event.timestamp.microseconds
                            fired.append(NewAlert(rule: f.rule, severity: f.severity.rawValue, message: f.message, cluster: f.cluster,
                                                  node: f.node, auditID: f.auditID, stage: f.stage, groupKey: f.groupKey,
                                                  matches: f.count, eventTime: time, eventSequence: event.sequence,
                                                  notify: configuration.webhookURL != nil && oldest.map { time >= $0 } ?? true,
                                                  ruleID: f.ruleID, level: f.level))
                        }
                    }
                    guard try await log.recordAlerts(fired, evaluatedFrom: watermark, through: last.sequence, at: nowMicros) else {
                        // Another aggregator on the same store evaluated these first: theirs stand.
                        watermark = try await log.alertWatermark()
                        continue
                    }
                    watermark = last.sequence
                    for a in fired {
                        metrics.alertFired(rule: a.rule, severity: a.severity, notify: a.notify)
                        logger.log(level: a.notify ? .notice : .debug, "alert", metadata: [
                            "rule": "\(a.rule)", "severity": "\(a.severity)", "cluster": "\(a.cluster)", "node": "\(a.node)",
                            "audit_id": "\(a.auditID)", "notify": "\(a.notify)",
                        ])
                    }
                } catch {
                    logger.error("alert evaluation failed; retrying", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            logger.info("alert evaluation stopped", metadata: ["evaluated_through": "\(watermark)"])
        } onGracefulShutdown: {
            stopping.store(true, ordering: .relaxed)
        }
    }
}

/// Sends recorded alerts to the webhook, oldest first, from the store's outbox: an alert
/// leaves the outbox only when the receiver answered 2xx, so an aggregator restart (or a
/// receiver outage) delays notifications and loses none. A receiver may see an alert again
/// after a crash between its answer and the outbox update: `X-Auditship-Alert-Id` (and the
/// body's `alertID`) lets it drop the repeat.
struct AlertNotificationService: Service {
    let log: any AlertLog
    let url: String
    let configuration: AlertConfiguration
    let metrics: AggregatorMetrics
    let logger: Logger

    func run() async throws {
        let stopping = Atomic<Bool>(false)
        await withGracefulShutdownHandler {
            var delay = configuration.retryInitial
            while !stopping.load(ordering: .relaxed) {
                let pending: [StoredAlert]
                do {
                    pending = try await log.pendingAlerts(limit: 50)
                } catch {
                    logger.error("cannot read the alert outbox; retrying", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                    continue
                }
                if pending.isEmpty {
                    try? await Task.sleep(for: configuration.pollInterval)
                    continue
                }
                for alert in pending {
                    if stopping.load(ordering: .relaxed) { break }
                    let outcome = await send(alert)
                    let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
                    switch outcome {
                    case .success:
                        metrics.alertNotification(result: "delivered")
                        delay = configuration.retryInitial
                        do {
                            try await log.markAlertDelivered(alert.id, at: now)
                        } catch {
                            logger.error("alert delivered but not marked; it may be sent again", metadata: [
                                "alert.id": "\(alert.id)", "error": "\(error)",
                            ])
                        }
                    case .failure(let why):
                        metrics.alertNotification(result: "failed")
                        logger.warning("alert notification failed; will retry", metadata: [
                            "alert.id": "\(alert.id)", "rule": "\(alert.alert.rule)", "detail": "\(why.text)",
                            "retry.in_ms": "\(delay.microseconds / 1000)",
                        ])
                        try? await log.markAlertFailed(alert.id, error: why.text)
                        // Up to --alert-retry-max: cut short by a graceful shutdown, which must not wait for it.
                        let wait = delay
                        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
                        delay = min(configuration.retryMax, delay * 2)
                    }
                    // After a failure, start again from the oldest pending alert: order is kept.
                    if case .failure = outcome { break }
                }
            }
        } onGracefulShutdown: {
            stopping.store(true, ordering: .relaxed)
        }
    }

    struct Failure: Error { var text: String }

    /// One POST, on a thread of its own (libcurl blocks).
    func send(_ alert: StoredAlert) async -> Result<Void, Failure> {
        let body = AlertNotification.body(alert, format: configuration.webhookFormat)
        let url = self.url
        let caFile = configuration.webhookCAFile
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                do {
                    let client = try HTTPClient(tls: ClientTLSConfiguration(caFile: caFile))
                    let response = try client.request(method: "POST", url: url, headers: [
                        "Content-Type: application/json", "X-Auditship-Alert-Id: \(alert.id)",
                    ], body: body, timeoutSeconds: 10)
                    if (200..<300).contains(response.status) {
                        continuation.resume(returning: .success(()))
                    } else {
                        continuation.resume(returning: .failure(Failure(text: "status \(response.status) from \(url)")))
                    }
                } catch {
                    continuation.resume(returning: .failure(Failure(text: "\(error)")))
                }
            }
        }
    }
}

/// The bodies of alert notifications.
public enum AlertNotification {
    public static func body(_ stored: StoredAlert, format: AlertConfiguration.Format) -> [UInt8] {
        let a = stored.alert
        let object: [String: Any]
        switch format {
        case .json:
            var o: [String: Any] = [
                "alertID": stored.id, "rule": a.rule, "severity": a.severity, "message": a.message,
                "cluster": a.cluster, "node": a.node, "auditID": a.auditID, "stage": a.stage,
                "groupKey": a.groupKey, "matches": a.matches, "firedAt": rfc3339(stored.firedAt), "source": "auditship",
            ]
            if let t = a.eventTime { o["eventTime"] = rfc3339(t) }
            if let id = a.ruleID { o["ruleID"] = id }
            if let level = a.level { o["level"] = level }
            object = o
        case .slack:
            object = ["text": "[\(a.severity)] \(a.rule): \(a.message) (cluster \(a.cluster), node \(a.node), auditID \(a.auditID))"]
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return [UInt8](data)
    }

    /// Microseconds since 1970 as RFC 3339 UTC with microseconds.
    public static func rfc3339(_ micros: Int64) -> String {
        Timestamp(microseconds: micros).description
    }
}
