import AuditBlock
import AuditModel
import Foundation
import GRDB

/// The upgrade of a store written by an earlier version (one row per event, schema v1 to v4) to
/// blocks (v5), in place, when a writer (the aggregator, `backfill --store`) first opens it.
///
/// Every event keeps its ingest id, bytes, cluster, node and collision mark, so the hash chain
/// recorded before verifies unchanged (its blocks list ids and event hashes, not rows). Events are
/// cut into blocks at gaps in the ids (retention may have left some), at a change of cluster or
/// hour, and at `maxBlockEvents`. Everything happens in one transaction: a crash during the
/// upgrade leaves the old layout, and the next start upgrades again.
extension SQLiteStore {
    /// Moves the rows of an `events` table into blocks and drops it; does nothing without one.
    func upgradeRowsToBlocks(_ db: Database) throws -> Int {
        guard try db.tableExists("events") else { return 0 }
        var names: [Int64: String] = [:]
        for r in try Row.fetchAll(db, sql: "SELECT id, value FROM dims") { names[r[0]] = r[1] }
        // Ids above what the chain state says were given out (stores older than the chain) stay given out.
        try db.execute(sql: "UPDATE chain_state SET max_id = max(max_id, (SELECT coalesce(max(id), 0) FROM events)) WHERE id = 1")

        struct Run {
            var cluster: Int64
            var hour: Int64
            var firstID: Int64
            var events: [(bytes: [UInt8], row: BlockRow)] = []
            var keys: [EventKey] = []
            var collisions: [(id: Int64, auditID: String, stage: Int, ts: Int64)] = []
        }
        var run: Run?
        var moved = 0
        func flush() throws {
            guard let r = run, !r.events.isEmpty else { return }
            try writeBlock(db, clusterID: r.cluster, firstID: r.firstID,
                           block: PreparedBatch.seal(cluster: names[r.cluster] ?? "", bytes: r.events.map(\.bytes), rows: r.events.map(\.row)).get(), keys: r.keys)
            for c in r.collisions {
                try db.execute(sql: "INSERT OR IGNORE INTO collisions(id, cluster, audit_id, stage, ts) VALUES (?, ?, ?, ?, ?)",
                               arguments: [c.id, r.cluster, c.auditID, c.stage, c.ts])
            }
            moved += r.events.count
            run = nil
        }
        let rows = try Row.fetchCursor(db, sql: "SELECT id, cluster, node, digest, ts, rts, audit_id, stage, code, collision, raw FROM events ORDER BY id")
        while let r = try rows.next() {
            let id: Int64 = r[0]
            let cluster: Int64 = r[1]
            let node = names[r[2]] ?? ""
            let digest = [UInt8](r[3] as Data)
            let ts: Int64 = r[4]
            let rts: Int64 = r[5]
            let auditID: String = r[6]
            let stage: Int = r[7]
            let raw = [UInt8](r[10] as Data)
            // The row's columns say what the event was stored as; the bytes give the fields v4 did not keep.
            var row: BlockRow
            if let summary = try? EventScanner.scan(raw) {
                row = BlockRow(node: node, summary: summary)
            } else {
                row = BlockRow(node: node, time: ts, requestReceived: rts == ts ? nil : rts, auditID: auditID,
                               stage: StageCode.name(stage), verb: "", user: nil, code: r[8])
            }
            row.time = ts
            row.auditID = auditID
            let hour = RollupKey.hour(of: ts)
            if let current = run,
               current.cluster != cluster || current.hour != hour || current.firstID + Int64(current.events.count) != id
                || current.events.count >= Self.maxBlockEvents {
                try flush()
            }
            if run == nil { run = Run(cluster: cluster, hour: hour, firstID: id) }
            run?.events.append((bytes: raw, row: row))
            run?.keys.append(EventKey(auditID: auditID, stage: row.stage, requestReceived: row.requestReceived, time: ts, digest: digest))
            if (r[9] as Int) != 0 { run?.collisions.append((id: id, auditID: auditID, stage: stage, ts: ts)) }
        }
        try flush()
        try db.execute(sql: "DROP TABLE events")
        return moved
    }
}
