import AuditBlock
import AuditChain
import AuditModel
import Foundation
import GRDB

/// One batch's way into blocks, inside the group's transaction:
/// 1. each event's `EventKey` proposes stored candidates (same second, same auditID hash); a
///    candidate with the same digest prefix and the same bytes makes the event a duplicate, one
///    with the same auditID and stage but other bytes a collision;
/// 2. the new events are grouped by the hour of their order timestamp and given ingest ids in
///    that order, so that every block spans less than an hour and holds consecutive ids;
/// 3. each group is sealed into blocks (SQLiteBlocks.swift), and the batch's chain block lists
///    the new events' leaves in id order.
extension SQLiteStore {
    struct NewEvent {
        var bytes: [UInt8]
        var digest: [UInt8]
        var row: BlockRow
        var key: EventKey
        var collision: Bool
    }

    struct AuditKey: Hashable {
        var auditID: String
        var stage: String
    }

    func ingest(_ db: Database, _ batch: IngestBatch) throws -> IngestResult {
        let cluster = try dimID(db, .cluster, batch.cluster)
        let node = try dimID(db, .node, batch.node)
        let candidates = try db.cachedStatement(sql: "SELECT key, id FROM event_keys WHERE cluster = ? AND second = ? AND key BETWEEN ? AND ?")
        var cache = BlockCache()
        var fresh: [NewEvent] = []
        fresh.reserveCapacity(batch.events.count)
        var byDigest: [[UInt8]: [Int]] = [:]
        var byAudit: [AuditKey: [Int]] = [:]
        var flagged: [Int64: BlockRow] = [:]  // stored events that a new one collides with
        var duplicates = 0

        for event in batch.events {
            let row = BlockRow(node: batch.node, summary: event.summary)
            let key = EventKey(auditID: row.auditID, stage: row.stage, requestReceived: row.requestReceived, time: row.time, digest: event.digest)
            // The same event twice in one batch.
            if let same = byDigest[event.digest], same.contains(where: { fresh[$0].bytes == event.bytes }) {
                duplicates += 1
                continue
            }
            var duplicate = false
            var collidesWith: [(Int64, BlockRow)] = []
            let range = key.auditRange
            let rows = try Row.fetchAll(candidates, arguments: [cluster, key.second, range.lowerBound, range.upperBound])
            for r in rows {
                let (k, id): (Int64, Int64) = (r[0], r[1])
                guard let stored = try cache.row(self, db, id) else { continue }
                if k == key.key, try cache.bytes(self, db, id) == event.bytes {
                    duplicate = true
                    break
                }
                if stored.auditID == row.auditID && stored.stage == row.stage { collidesWith.append((id, stored)) }
            }
            if duplicate {
                duplicates += 1
                continue
            }
            let audit = AuditKey(auditID: row.auditID, stage: row.stage)
            var collision = !collidesWith.isEmpty
            if let others = byAudit[audit], !others.isEmpty {
                collision = true
                for j in others { fresh[j].collision = true }
            }
            for (id, stored) in collidesWith { flagged[id] = stored }
            byAudit[audit, default: []].append(fresh.count)
            byDigest[event.digest, default: []].append(fresh.count)
            fresh.append(NewEvent(bytes: event.bytes, digest: event.digest, row: row, key: key, collision: collision))
        }

        // Ids in hour order (stable within an hour), then blocks of one hour each.
        var hours: [Int64: [Int]] = [:]
        var hourOrder: [Int64] = []
        for (i, e) in fresh.enumerated() {
            let h = RollupKey.hour(of: e.row.time)
            if hours[h] == nil { hourOrder.append(h) }
            hours[h, default: []].append(i)
        }
        var lastID = try chainMaxID(db)
        let firstID = lastID + 1
        var leaves: [UInt8] = []
        if hashChain { leaves.reserveCapacity(fresh.count * ChainFormat.leafSize) }
        let insertCollision = try db.cachedStatement(sql: "INSERT OR IGNORE INTO collisions(id, cluster, audit_id, stage, ts) VALUES (?, ?, ?, ?, ?)")
        var collisions = 0
        for h in hourOrder {
            let members = hours[h] ?? []
            for chunk in stride(from: 0, to: members.count, by: Self.maxBlockEvents) {
                let part = members[chunk..<min(members.count, chunk + Self.maxBlockEvents)]
                let blockFirst = lastID + 1
                try writeBlock(db, clusterID: cluster, cluster: batch.cluster, firstID: blockFirst,
                               events: part.map { (bytes: fresh[$0].bytes, row: fresh[$0].row) }, keys: part.map { fresh[$0].key })
                for i in part {
                    lastID += 1
                    let e = fresh[i]
                    if hashChain {
                        ChainFormat.appendLeaf(&leaves, id: lastID, timestamp: e.row.time,
                                               eventHash: ChainFormat.eventHash(cluster: batch.cluster, node: batch.node, digest: e.digest))
                    }
                    if e.collision {
                        collisions += 1
                        try insertCollision.execute(arguments: [lastID, cluster, e.row.auditID, StageCode.code(e.row.stage), e.row.time])
                    }
                }
            }
        }
        for (id, stored) in flagged {
            try insertCollision.execute(arguments: [id, cluster, stored.auditID, StageCode.code(stored.stage), stored.time])
        }
        try appendBlock(db, cluster: batch.cluster, leaves: leaves, firstID: firstID, lastID: lastID, maxID: lastID, batchID: batch.batchID)
        try db.execute(
            sql: "INSERT INTO batches(cluster, node, batch_id, received_at, events, stored, duplicates) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [cluster, node, batch.batchID, Int64(Date().timeIntervalSince1970 * 1_000_000), batch.events.count, fresh.count, duplicates])
        return IngestResult(stored: fresh.count, duplicates: duplicates, collisions: collisions)
    }
}

/// Decoded blocks read while confirming candidates, kept for one batch.
struct BlockCache {
    private var metas: [BlockMeta] = []
    private var rows: [Int64: [BlockRow]] = [:]
    private var events: [Int64: [[UInt8]]] = [:]

    private mutating func meta(_ store: SQLiteStore, _ db: Database, _ id: Int64) throws -> BlockMeta? {
        if let m = metas.first(where: { $0.contains(id) }) { return m }
        guard let m = try store.block(db, containing: id) else { return nil }
        if metas.count >= 16 {
            let old = metas.removeFirst()
            rows[old.firstID] = nil
            events[old.firstID] = nil
        }
        metas.append(m)
        return m
    }

    /// The stored row of event `id`; nil when no block holds it.
    mutating func row(_ store: SQLiteStore, _ db: Database, _ id: Int64) throws -> BlockRow? {
        guard let m = try meta(store, db, id) else { return nil }
        if rows[m.firstID] == nil { rows[m.firstID] = try store.blockRows(db, m) }
        return rows[m.firstID]?[Int(id - m.firstID)]
    }

    /// The stored bytes of event `id`; nil when no block holds it.
    mutating func bytes(_ store: SQLiteStore, _ db: Database, _ id: Int64) throws -> [UInt8]? {
        guard let m = try meta(store, db, id) else { return nil }
        if events[m.firstID] == nil { events[m.firstID] = try store.blockEvents(db, m) }
        return events[m.firstID]?[Int(id - m.firstID)]
    }
}
