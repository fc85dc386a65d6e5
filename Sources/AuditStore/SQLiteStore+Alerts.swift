import Foundation
import GRDB

/// Alerts in the SQLite store (schema v3):
/// - `alerts(id, rule, severity, message, cluster, node, audit_id, stage, group_key, matches,
///   event_ts, event_seq, fired_at, notify, delivered_at, failed_attempts, last_error)`, unique on
///   `(rule, event_seq)`: a rule fires at most once per stored event; migration `v8-alert-rule-id` adds
///   `rule_id` and `rule_level` (a Sigma rule's id and level; NULL for our rules).
/// - `alert_state(id = 1, evaluated_through)`: the evaluation watermark (an ingest sequence).
extension SQLiteStore: AlertLog {
    static func registerAlertMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v3-alerts") { db in
            try db.execute(sql: """
                CREATE TABLE alerts(
                    id INTEGER PRIMARY KEY,
                    rule TEXT NOT NULL,
                    severity TEXT NOT NULL,
                    message TEXT NOT NULL,
                    cluster TEXT NOT NULL,
                    node TEXT NOT NULL,
                    audit_id TEXT NOT NULL,
                    stage TEXT NOT NULL,
                    group_key TEXT NOT NULL,
                    matches INTEGER NOT NULL,
                    event_ts INTEGER,
                    event_seq INTEGER NOT NULL,
                    fired_at INTEGER NOT NULL,
                    notify INTEGER NOT NULL,
                    delivered_at INTEGER,
                    failed_attempts INTEGER NOT NULL DEFAULT 0,
                    last_error TEXT,
                    UNIQUE(rule, event_seq)
                );
                CREATE INDEX alerts_pending ON alerts(id) WHERE notify = 1 AND delivered_at IS NULL;
                CREATE INDEX alerts_fired ON alerts(fired_at);
                CREATE TABLE alert_state(
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    evaluated_through INTEGER NOT NULL
                );
                INSERT INTO alert_state(id, evaluated_through) VALUES (1, 0);
                """)
        }
    }

    /// A Sigma rule's id and level beside its title (`rule`).
    static func registerAlertRuleIDMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v8-alert-rule-id") { db in
            try db.execute(sql: """
                ALTER TABLE alerts ADD COLUMN rule_id TEXT;
                ALTER TABLE alerts ADD COLUMN rule_level TEXT;
                """)
        }
    }

    public func alertWatermark() async throws -> Int64 {
        try await pool.read { db in
            try Self.requireAlerts(db)
            return try Int64.fetchOne(db, sql: "SELECT evaluated_through FROM alert_state WHERE id = 1") ?? 0
        }
    }

    public func recordAlerts(_ alerts: [NewAlert], evaluatedFrom previous: Int64, through sequence: Int64, at now: Int64) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "UPDATE alert_state SET evaluated_through = ? WHERE id = 1 AND evaluated_through = ?",
                           arguments: [sequence, previous])
            guard db.changesCount == 1 else { return false }
            let insert = try db.cachedStatement(sql: """
                INSERT INTO alerts(rule, severity, message, cluster, node, audit_id, stage, group_key, matches,
                                   event_ts, event_seq, fired_at, notify, rule_id, rule_level)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(rule, event_seq) DO NOTHING
                """)
            for a in alerts {
                insert.setUncheckedArguments([a.rule, a.severity, a.message, a.cluster, a.node, a.auditID, a.stage, a.groupKey,
                                              a.matches, a.eventTime, a.eventSequence, now, a.notify ? 1 : 0, a.ruleID, a.level])
                try insert.execute()
            }
            return true
        }
    }

    public func pendingAlerts(limit: Int) async throws -> [StoredAlert] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM alerts WHERE notify = 1 AND delivered_at IS NULL ORDER BY id LIMIT ?",
                             arguments: [max(1, limit)]).map(Self.alert)
        }
    }

    public func markAlertDelivered(_ id: Int64, at now: Int64) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE alerts SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL", arguments: [now, id])
        }
    }

    public func markAlertFailed(_ id: Int64, error: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE alerts SET failed_attempts = failed_attempts + 1, last_error = ? WHERE id = ?",
                           arguments: [String(error.prefix(500)), id])
        }
    }

    public func alerts(since: Int64, limit: Int?) async throws -> [StoredAlert] {
        try await pool.read { db in
            try Self.requireAlerts(db)
            return try Row.fetchAll(db, sql: "SELECT * FROM alerts WHERE fired_at >= ? ORDER BY id LIMIT ?",
                                    arguments: [since, limit ?? -1]).map(Self.alert)
        }
    }

    public func latestAlerts(since: Int64, limit: Int) async throws -> [StoredAlert] {
        try await pool.read { db in
            try Self.requireAlerts(db)
            return try Row.fetchAll(db, sql: "SELECT * FROM alerts WHERE fired_at >= ? ORDER BY id DESC LIMIT ?",
                                    arguments: [since, max(0, limit)]).map(Self.alert)
        }
    }

    private static func requireAlerts(_ db: Database) throws {
        guard try db.tableExists("alert_state") else {
            throw StoreError("this store has no alerts yet: an aggregator of this version creates them when it opens the store")
        }
    }

    private static func alert(_ row: Row) -> StoredAlert {
        StoredAlert(
            id: row["id"],
            alert: NewAlert(rule: row["rule"], severity: row["severity"], message: row["message"], cluster: row["cluster"],
                            node: row["node"], auditID: row["audit_id"], stage: row["stage"], groupKey: row["group_key"],
                            matches: row["matches"], eventTime: row["event_ts"], eventSequence: row["event_seq"],
                            notify: (row["notify"] as Int) != 0, ruleID: row["rule_id"], level: row["rule_level"]),
            firedAt: row["fired_at"], deliveredAt: row["delivered_at"], failedAttempts: row["failed_attempts"],
            lastError: row["last_error"])
    }
}
