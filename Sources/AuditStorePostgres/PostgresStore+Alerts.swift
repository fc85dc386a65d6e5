import AuditStore
import Logging
import PostgresNIO

/// Alerts in the PostgreSQL store (schema version 2, `PostgresSchema.alertStatements`): the same
/// tables as SQLite's. Several aggregators evaluate concurrently; the compare-and-set on
/// `alert_state.evaluated_through` (under its row lock) lets exactly one record each page.
extension PostgresStore: AlertLog {
    static let alertColumns = """
        id, rule, severity, message, cluster, node, audit_id, stage, group_key, matches, event_ts, event_seq,
        fired_at, notify, delivered_at, failed_attempts, last_error, rule_id, rule_level
        """

    public func alertWatermark() async throws -> Int64 {
        let logger = self.logger
        return try await mapErrors("reading the alert watermark") {
            try await self.client.withConnection { conn in
                try await Self.exec(conn, "SELECT evaluated_through FROM alert_state WHERE id = 1", logger).first?.decode(Int64.self) ?? 0
            }
        }
    }

    public func recordAlerts(_ alerts: [NewAlert], evaluatedFrom previous: Int64, through sequence: Int64, at now: Int64) async throws -> Bool {
        let logger = self.logger
        return try await mapErrors("recording alerts") {
            try await self.client.withConnection { conn in
                try await Self.exec(conn, "BEGIN", logger)
                do {
                    let moved = try await Self.exec(conn, """
                        UPDATE alert_state SET evaluated_through = \(sequence) WHERE id = 1 AND evaluated_through = \(previous)
                        RETURNING id
                        """, logger)
                    guard !moved.isEmpty else {
                        try await Self.exec(conn, "ROLLBACK", logger)
                        return false
                    }
                    for a in alerts {
                        try await Self.exec(conn, """
                            INSERT INTO alerts(rule, severity, message, cluster, node, audit_id, stage, group_key, matches,
                                               event_ts, event_seq, fired_at, notify, rule_id, rule_level)
                            VALUES (\(a.rule), \(a.severity), \(a.message), \(a.cluster), \(a.node), \(a.auditID), \(a.stage),
                                    \(a.groupKey), \(Int64(a.matches)), \(a.eventTime), \(a.eventSequence), \(now), \(a.notify),
                                    \(a.ruleID), \(a.level))
                            ON CONFLICT (rule, event_seq) DO NOTHING
                            """, logger)
                    }
                    try await Self.exec(conn, "COMMIT", logger)
                    return true
                } catch {
                    _ = try? await Self.exec(conn, "ROLLBACK", logger)
                    throw error
                }
            }
        }
    }

    public func pendingAlerts(limit: Int) async throws -> [StoredAlert] {
        let logger = self.logger
        return try await mapErrors("reading the alert outbox") {
            try await self.client.withConnection { conn in
                try await Self.exec(conn, PostgresQuery(unsafeSQL: """
                    SELECT \(Self.alertColumns) FROM alerts WHERE notify AND delivered_at IS NULL ORDER BY id LIMIT \(max(1, limit))
                    """), logger).map(Self.alert)
            }
        }
    }

    public func markAlertDelivered(_ id: Int64, at now: Int64) async throws {
        let logger = self.logger
        try await mapErrors("marking an alert delivered") {
            try await self.client.withConnection { conn in
                _ = try await Self.exec(conn, "UPDATE alerts SET delivered_at = \(now) WHERE id = \(id) AND delivered_at IS NULL", logger)
            }
        }
    }

    public func markAlertFailed(_ id: Int64, error: String) async throws {
        let logger = self.logger
        let text = String(error.prefix(500))
        try await mapErrors("marking an alert attempt failed") {
            try await self.client.withConnection { conn in
                _ = try await Self.exec(conn, "UPDATE alerts SET failed_attempts = failed_attempts + 1, last_error = \(text) WHERE id = \(id)", logger)
            }
        }
    }

    public func alerts(since: Int64, limit: Int?) async throws -> [StoredAlert] {
        let logger = self.logger
        let cap = limit.map { " LIMIT \(max(0, $0))" } ?? ""
        return try await mapErrors("reading alerts") {
            try await self.client.withConnection { conn in
                try await Self.exec(conn, PostgresQuery(unsafeSQL: """
                    SELECT \(Self.alertColumns) FROM alerts WHERE fired_at >= $1 ORDER BY id\(cap)
                    """, binds: { var b = PostgresBindings(); b.append(since); return b }()), logger).map(Self.alert)
            }
        }
    }

    public func latestAlerts(since: Int64, limit: Int) async throws -> [StoredAlert] {
        let logger = self.logger
        return try await mapErrors("reading alerts") {
            try await self.client.withConnection { conn in
                try await Self.exec(conn, PostgresQuery(unsafeSQL: """
                    SELECT \(Self.alertColumns) FROM alerts WHERE fired_at >= $1 ORDER BY id DESC LIMIT \(max(0, limit))
                    """, binds: { var b = PostgresBindings(); b.append(since); return b }()), logger).map(Self.alert)
            }
        }
    }

    static func alert(_ row: PostgresRow) throws -> StoredAlert {
        let (id, rule, severity, message, cluster, node, auditID, stage, groupKey) =
            try row.decode((Int64, String, String, String, String, String, String, String, String).self)
        let r = row.makeRandomAccess()
        let matches = try r[9].decode(Int64.self)
        let eventTime = try r[10].decode(Int64?.self)
        let eventSequence = try r[11].decode(Int64.self)
        let firedAt = try r[12].decode(Int64.self)
        let notify = try r[13].decode(Bool.self)
        let deliveredAt = try r[14].decode(Int64?.self)
        let failed = try r[15].decode(Int64.self)
        let lastError = try r[16].decode(String?.self)
        let ruleID = try r[17].decode(String?.self)
        let level = try r[18].decode(String?.self)
        return StoredAlert(
            id: id,
            alert: NewAlert(rule: rule, severity: severity, message: message, cluster: cluster, node: node, auditID: auditID,
                            stage: stage, groupKey: groupKey, matches: Int(matches), eventTime: eventTime,
                            eventSequence: eventSequence, notify: notify, ruleID: ruleID, level: level),
            firedAt: firedAt, deliveredAt: deliveredAt, failedAttempts: Int(failed), lastError: lastError)
    }
}

extension PostgresSchema {
    /// Schema version 2: alerts and the evaluation watermark (see `SQLiteStore+Alerts.swift`).
    static let alertStatements = [
        """
        CREATE TABLE alerts(
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            rule TEXT NOT NULL,
            severity TEXT NOT NULL,
            message TEXT NOT NULL,
            cluster TEXT NOT NULL,
            node TEXT NOT NULL,
            audit_id TEXT NOT NULL,
            stage TEXT NOT NULL,
            group_key TEXT NOT NULL,
            matches BIGINT NOT NULL,
            event_ts BIGINT,
            event_seq BIGINT NOT NULL,
            fired_at BIGINT NOT NULL,
            notify BOOLEAN NOT NULL,
            delivered_at BIGINT,
            failed_attempts BIGINT NOT NULL DEFAULT 0,
            last_error TEXT,
            UNIQUE (rule, event_seq)
        )
        """,
        "CREATE INDEX alerts_pending ON alerts(id) WHERE notify AND delivered_at IS NULL",
        "CREATE INDEX alerts_fired ON alerts(fired_at)",
        "CREATE TABLE alert_state(id INTEGER PRIMARY KEY CHECK (id = 1), evaluated_through BIGINT NOT NULL)",
        "INSERT INTO alert_state(id, evaluated_through) VALUES (1, 0)",
    ]
}
