import Foundation
import GRDB
import OpenSSLKit

/// The floor an ingest path is measured against: the same rows inserted into SQLite by one
/// process with one prepared statement, in transactions of `batch` rows, with the store's
/// durability settings (WAL, synchronous=FULL) and a unique index on the digest, without
/// scanning, dimension tables, collision checks or network. For `auditship bench`.
public enum RawInsertReference {
    /// Inserts `events` (digest, timestamp, bytes) into a fresh database at `path`; returns seconds.
    public static func run(path: String, events: [[UInt8]], timestamps: [Int64], batch: Int = 1000) throws -> Double {
        try? FileManager.default.removeItem(atPath: path)
        var config = Configuration()
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        let queue = try DatabasePool(path: path, configuration: config)
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE raw(id INTEGER PRIMARY KEY, digest BLOB NOT NULL, ts INTEGER NOT NULL, raw BLOB NOT NULL)")
            try db.execute(sql: "CREATE UNIQUE INDEX raw_digest ON raw(digest)")
            try db.execute(sql: "CREATE INDEX raw_ts ON raw(ts)")
        }
        let started = ContinuousClock.now
        var i = 0
        while i < events.count {
            let end = min(events.count, i + batch)
            try queue.write { db in
                let statement = try db.cachedStatement(sql: "INSERT OR IGNORE INTO raw(digest, ts, raw) VALUES (?, ?, ?)")
                for k in i..<end {
                    statement.setUncheckedArguments([Data(SHA256.hash(events[k])), timestamps[k], Data(events[k])])
                    try statement.execute()
                }
            }
            i = end
        }
        let d = ContinuousClock.now - started
        try queue.close()
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
