import Foundation
import GRDB

/// The SQLite store's schema, as GRDB migrations applied in order when a writer opens the store.
///
/// Versions 1 to 4 kept one row per event (`events`, with a unique index on the digest and one
/// on the timestamp); they are kept so that a store written by any earlier version is brought to
/// the current layout in place. Version 5 (`v5-blocks`, SQLiteStore+Blocks.swift) moves every
/// event into sealed blocks and drops the `events` table.
extension SQLiteStore {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE dims(
                    id INTEGER PRIMARY KEY,
                    kind INTEGER NOT NULL,
                    value TEXT NOT NULL,
                    UNIQUE(kind, value)
                );
                CREATE TABLE events(
                    id INTEGER PRIMARY KEY,
                    cluster INTEGER NOT NULL,
                    node INTEGER NOT NULL,
                    digest BLOB NOT NULL,
                    ts INTEGER NOT NULL,
                    rts INTEGER NOT NULL,
                    audit_id TEXT NOT NULL,
                    stage INTEGER NOT NULL,
                    user INTEGER NOT NULL,
                    verb INTEGER NOT NULL,
                    resource INTEGER NOT NULL,
                    subresource INTEGER NOT NULL,
                    namespace INTEGER NOT NULL,
                    code INTEGER,
                    raw BLOB NOT NULL
                );
                CREATE UNIQUE INDEX events_dedup ON events(cluster, digest);
                CREATE INDEX events_ts ON events(ts);
                CREATE TABLE batches(
                    id INTEGER PRIMARY KEY,
                    cluster INTEGER NOT NULL,
                    node INTEGER NOT NULL,
                    batch_id TEXT NOT NULL,
                    received_at INTEGER NOT NULL,
                    events INTEGER NOT NULL,
                    stored INTEGER NOT NULL,
                    duplicates INTEGER NOT NULL
                );
                """)
        }
        m.registerMigration("v2-collisions") { db in
            try db.execute(sql: """
                ALTER TABLE events ADD COLUMN collision INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX events_audit ON events(cluster, audit_id, stage);
                CREATE INDEX events_collisions ON events(cluster, audit_id, stage) WHERE collision = 1;
                """)
        }
        registerAlertMigrations(&m)
        registerChainMigrations(&m)
        registerBlockMigration(&m)
        registerAlertRuleIDMigration(&m)
        return m
    }
}
