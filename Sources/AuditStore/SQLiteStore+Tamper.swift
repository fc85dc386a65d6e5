import AuditBlock
import Foundation
import GRDB

/// For the tamper tests of `verify` only: edits the stored events as someone with write access
/// to the database file would, by rewriting the `blocks` table alone (the index, keys and chain
/// are left as they were, as an attacker would leave them).
extension SQLiteStore {
    package struct StoredRecord: Sendable {
        package var id: Int64
        package var clusterID: Int64
        package var bytes: [UInt8]
        package var row: BlockRow
    }

    package func rewriteStoredEvents(_ edit: @Sendable (inout [StoredRecord]) -> Void) async throws {
        try await pool.write { db in
            var records: [StoredRecord] = []
            for meta in try Row.fetchAll(db, sql: "SELECT \(Self.blockMetaColumns) FROM blocks ORDER BY first_id").map(BlockMeta.init) {
                let rows = try self.blockRows(db, meta)
                let events = try self.blockEvents(db, meta)
                for i in 0..<meta.count {
                    records.append(StoredRecord(id: meta.firstID + Int64(i), clusterID: meta.clusterID, bytes: events[i], row: rows[i]))
                }
            }
            edit(&records)
            records.sort { $0.id < $1.id }
            try db.execute(sql: "DELETE FROM blocks")
            var start = 0
            while start < records.count {
                var end = start + 1
                while end < records.count, records[end].id == records[end - 1].id + 1, records[end].clusterID == records[start].clusterID,
                      RollupKey.hour(of: records[end].row.time) == RollupKey.hour(of: records[start].row.time) {
                    end += 1
                }
                let part = records[start..<end]
                let block = try SealedBlock.seal(cluster: "", events: part.map { (bytes: $0.bytes, row: $0.row) })
                try db.execute(sql: """
                    INSERT INTO blocks(first_id, cluster, count, min_ts, max_ts, raw_bytes, format, terms, columns, raw)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [records[start].id, records[start].clusterID, block.count, block.minTime, block.maxTime, block.rawBytes,
                                     Int(SealedBlock.formatVersion), Data(), Data(block.columns), Data(block.raw)])
                start = end
            }
        }
    }
}
