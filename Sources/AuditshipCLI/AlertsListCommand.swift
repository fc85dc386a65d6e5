import ArgumentParser
import AuditAggregator
import AuditModel
import AuditStore
import Foundation

/// `auditship alerts list`: the alerts an aggregator recorded in its store.
struct AlertsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the alerts an aggregator recorded, oldest first.",
        discussion: """
            Reads the store the aggregator writes (--store sqlite:PATH). --format json prints one object per
            alert: {"alertID":…,"firedAt":"…","rule":"…","severity":"…","message":"…","cluster":"…","node":"…",
            "auditID":"…","stage":"…","matches":N,"eventTime":"…","notify":true|false,"delivered":true|false}.
            notify is false for alerts on events older than the aggregator's --alert-max-age (or with no
            --alert-webhook): recorded, not sent.
            """)

    enum Format: String, ExpressibleByArgument { case table, json }

    @Option(help: "Store URL: sqlite:PATH or postgres://USER@HOST:PORT/DB.") var store: String
    @Option(help: "File holding the PostgreSQL password (else PGPASSWORD).") var storePasswordFile: String?
    @Option(help: "Alerts recorded in the last DURATION (1h, 7d) or since an RFC 3339 time. Default 24h.") var since: String = "24h"
    @Option(help: "At most this many alerts.") var limit: Int?
    @Option(help: "table or json.") var format: Format = .table

    func run() async throws {
        let from: Int64
        if let d = parseDuration(since) {
            from = Int64(Date().timeIntervalSince1970 * 1_000_000) - d.microsecondsValue
        } else if let t = Timestamp(rfc3339: since) {
            from = t.microseconds
        } else {
            throw ValidationError("--since '\(since)' is neither a duration (1h, 7d) nor an RFC 3339 time")
        }
        let logger = try LogSetup.logger("auditship.alerts", level: "warning")
        let db = try await Aggregator.openStore(try StoreLocation(store), passwordFile: storePasswordFile, readOnly: true, logger: logger)
        guard let log = db as? any AlertLog else {
            throw ValidationError("the store at \(store) does not keep alerts")
        }
        let alerts: [StoredAlert]
        do {
            alerts = try await log.alerts(since: from, limit: limit)
        } catch {
            try? await db.close()
            throw error
        }
        for s in alerts {
            let a = s.alert
            switch format {
            case .json:
                var o: [String: Any] = [
                    "alertID": s.id, "firedAt": AlertNotification.rfc3339(s.firedAt), "rule": a.rule, "severity": a.severity,
                    "message": a.message, "cluster": a.cluster, "node": a.node, "auditID": a.auditID, "stage": a.stage,
                    "matches": a.matches, "notify": a.notify, "delivered": s.deliveredAt != nil,
                ]
                if let t = a.eventTime { o["eventTime"] = AlertNotification.rfc3339(t) }
                if let id = a.ruleID { o["ruleID"] = id }
                if let level = a.level { o["level"] = level }
                let data = try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
            case .table:
                let state = !a.notify ? "recorded" : (s.deliveredAt != nil ? "sent" : "pending(\(s.failedAttempts) failed)")
                print("\(AlertNotification.rfc3339(s.firedAt))  \(a.severity.padding(toLength: 8, withPad: " ", startingAt: 0)) "
                      + "\(a.rule)  \(a.cluster)/\(a.node)  \(a.auditID)  \(state)  \(a.message)")
            }
        }
        try? await db.close()
    }
}

extension Duration {
    var microsecondsValue: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
}
