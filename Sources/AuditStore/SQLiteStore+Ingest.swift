import AuditBlock
import AuditChain
import AuditModel
import Foundation
import GRDB

/// One batch's way into blocks, inside the group's transaction:
/// 1. each event's `EventKey` proposes stored candidates (same second, same auditID hash); a
///    candidate with the same digest prefix and the same bytes makes the event a duplicate, one
///    with the same auditID and stage but other bytes a collision;
/// 2. the events were grouped by the hour of their order timestamp and sealed before the
///    transaction (`PreparedBatch`); the new ones are given ingest ids in block order, so that every
///    block spans less than an hour and holds consecutive ids;
/// 3. each block is written (SQLiteBlocks.swift), and the batch's chain block lists the new
///    events' leaves in id order.
/// A batch made ready for the writer by the task that received it, outside the store's one
/// write transaction: the events' rows and keys, their blocks (by hour of order timestamp, at most
/// `maxBlockEvents` each) and those blocks sealed as if every event were new. The writer only
/// re-seals a block that turned out to hold a duplicate.
struct PreparedBatch: IngestGroupItem {
    var batch: IngestBatch
    var rows: [BlockRow]
    var keys: [EventKey]
    var groups: [[Int]]
    var sealed: [Result<SealedBlock, StoreError>]
    var eventCount: Int { batch.events.count }
    var batchLabel: String { batch.batchID }

    init(_ batch: IngestBatch) {
        self.batch = batch
        rows = batch.events.map { BlockRow(node: batch.node, summary: $0.summary) }
        keys = zip(batch.events, rows).map { e, row in
            EventKey(auditID: row.auditID, stage: row.stage, requestReceived: row.requestReceived, time: row.time, digest: e.digest)
        }
        var hours: [Int64: Int] = [:]
        var groups: [[Int]] = []
        for (i, row) in rows.enumerated() {
            let h = RollupKey.hour(of: row.time)
            if let g = hours[h], groups[g].count < SQLiteStore.maxBlockEvents {
                groups[g].append(i)
            } else {
                hours[h] = groups.count
                groups.append([i])
            }
        }
        self.groups = groups
        let events = batch.events
        let rows = rows
        sealed = groups.map { members in PreparedBatch.seal(cluster: batch.cluster, members.map { (bytes: events[$0].bytes, row: rows[$0]) }) }
    }

    static func seal(cluster: String, _ events: [(bytes: [UInt8], row: BlockRow)]) -> Result<SealedBlock, StoreError> {
        do {
            return .success(try SealedBlock.seal(cluster: cluster, events: events, level: SQLiteStore.blockLevel))
        } catch {
            return .failure(StoreError("sealing a block of \(events.count) events failed: \(error)"))
        }
    }
}

extension SQLiteStore {
    struct AuditKey: Hashable {
        var auditID: String
        var stage: String
    }

    func ingest(_ db: Database, _ prepared: PreparedBatch) throws -> IngestResult {
        let batch = prepared.batch
        let cluster = try dimID(db, .cluster, batch.cluster)
        let node = try dimID(db, .node, batch.node)
        let candidates = try db.cachedStatement(sql: "SELECT key, id FROM event_keys WHERE cluster = ? AND second = ? AND key BETWEEN ? AND ?")
        var cache = BlockCache()
        var isNew = [Bool](repeating: false, count: batch.events.count)
        var collision = [Bool](repeating: false, count: batch.events.count)
        var byDigest: [[UInt8]: [Int]] = [:]
        var byAudit: [AuditKey: [Int]] = [:]
        var flagged: [Int64: BlockRow] = [:]  // stored events that a new one collides with
        var stored = 0

        for (i, event) in batch.events.enumerated() {
            let row = prepared.rows[i]
            let key = prepared.keys[i]
            // The same event twice in one batch.
            if let same = byDigest[event.digest], same.contains(where: { batch.events[$0].bytes == event.bytes }) { continue }
            var duplicate = false
            var collidesWith: [(Int64, BlockRow)] = []
            let range = key.auditRange
            for r in try Row.fetchAll(candidates, arguments: [cluster, key.second, range.lowerBound, range.upperBound]) {
                let (k, id): (Int64, Int64) = (r[0], r[1])
                guard let other = try cache.row(self, db, id) else { continue }
                if k == key.key, try cache.bytes(self, db, id) == event.bytes {
                    duplicate = true
                    break
                }
                if other.auditID == row.auditID && other.stage == row.stage { collidesWith.append((id, other)) }
            }
            if duplicate { continue }
            let audit = AuditKey(auditID: row.auditID, stage: row.stage)
            if !collidesWith.isEmpty { collision[i] = true }
            if let others = byAudit[audit], !others.isEmpty {
                collision[i] = true
                for j in others { collision[j] = true }
            }
            for (id, other) in collidesWith { flagged[id] = other }
            byAudit[audit, default: []].append(i)
            byDigest[event.digest, default: []].append(i)
            isNew[i] = true
            stored += 1
        }

        // Ids in block order; a block that lost a duplicate is sealed again without it.
        var lastID = try chainMaxID(db)
        let firstID = lastID + 1
        var leaves: [UInt8] = []
        if hashChain { leaves.reserveCapacity(stored * ChainFormat.leafSize) }
        let insertCollision = try db.cachedStatement(sql: "INSERT OR IGNORE INTO collisions(id, cluster, audit_id, stage, ts) VALUES (?, ?, ?, ?, ?)")
        var collisions = 0
        for (g, group) in prepared.groups.enumerated() {
            let members = group.filter { isNew[$0] }
            if members.isEmpty { continue }
            let block = members.count == group.count ? prepared.sealed[g]
                : PreparedBatch.seal(cluster: batch.cluster, members.map { (bytes: batch.events[$0].bytes, row: prepared.rows[$0]) })
            try writeBlock(db, clusterID: cluster, firstID: lastID + 1, block: block.get(), keys: members.map { prepared.keys[$0] })
            for i in members {
                lastID += 1
                let row = prepared.rows[i]
                if hashChain {
                    ChainFormat.appendLeaf(&leaves, id: lastID, timestamp: row.time,
                                           eventHash: ChainFormat.eventHash(cluster: batch.cluster, node: batch.node, digest: batch.events[i].digest))
                }
                if collision[i] {
                    collisions += 1
                    try insertCollision.execute(arguments: [lastID, cluster, row.auditID, StageCode.code(row.stage), row.time])
                }
            }
        }
        for (id, other) in flagged {
            try insertCollision.execute(arguments: [id, cluster, other.auditID, StageCode.code(other.stage), other.time])
        }
        try appendBlock(db, cluster: batch.cluster, leaves: leaves, firstID: firstID, lastID: lastID, maxID: lastID, batchID: batch.batchID)
        let duplicates = batch.events.count - stored
        try db.execute(
            sql: "INSERT INTO batches(cluster, node, batch_id, received_at, events, stored, duplicates) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [cluster, node, batch.batchID, Int64(Date().timeIntervalSince1970 * 1_000_000), batch.events.count, stored, duplicates])
        return IngestResult(stored: stored, duplicates: duplicates, collisions: collisions)
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
