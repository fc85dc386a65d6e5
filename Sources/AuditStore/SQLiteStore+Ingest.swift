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
        let rows = batch.events.map { BlockRow(node: batch.node, summary: $0.summary) }
        self.rows = rows
        keys = rows.indices.map { i in
            EventKey(auditID: rows[i].auditID, stage: rows[i].stage, requestReceived: rows[i].requestReceived, time: rows[i].time,
                     digest: batch.events[i].digest)
        }
        var hours: [Int64: Int] = [:]
        var groups: [[Int]] = []
        for i in rows.indices {
            let h = RollupKey.hour(of: rows[i].time)
            if let g = hours[h], groups[g].count < SQLiteStore.maxBlockEvents {
                groups[g].append(i)
            } else {
                hours[h] = groups.count
                groups.append([i])
            }
        }
        self.groups = groups
        let events = batch.events
        sealed = groups.map { members in
            // One group holding the whole batch (the common case) shares the batch's arrays.
            members.count == rows.count
                ? PreparedBatch.seal(cluster: batch.cluster, bytes: events.map(\.bytes), rows: rows)
                : PreparedBatch.seal(cluster: batch.cluster, bytes: members.map { events[$0].bytes }, rows: members.map { rows[$0] })
        }
    }

    static func seal(cluster: String, bytes: [[UInt8]], rows: [BlockRow]) -> Result<SealedBlock, StoreError> {
        do {
            return .success(try SealedBlock.seal(cluster: cluster, bytes: bytes, rows: rows, level: SQLiteStore.blockLevel))
        } catch {
            return .failure(StoreError("sealing a block of \(bytes.count) events failed: \(error)"))
        }
    }
}

extension SQLiteStore {
    func ingest(_ db: Database, _ prepared: PreparedBatch) throws -> IngestResult {
        let batch = prepared.batch
        let cluster = try dimID(db, .cluster, batch.cluster)
        let node = try dimID(db, .node, batch.node)
        let candidates = try db.cachedStatement(sql: "SELECT key, id FROM event_keys WHERE cluster = ? AND second = ? AND key BETWEEN ? AND ?")
        let known = try storedKeys(db, cluster: cluster, prepared.keys)
        var cache = BlockCache()
        var isNew = [Bool](repeating: false, count: batch.events.count)
        var collision = [Bool](repeating: false, count: batch.events.count)
        // New events of this batch by the first 8 bytes of their digest, and by their auditID hash
        // (the key's high half): integers to hash, the bytes and names compared on a match.
        var byDigest: [Int64: [Int]] = [:]
        var byAudit: [Int64: [Int]] = [:]
        var flagged: [Int64: BlockRow] = [:]  // stored events that a new one collides with
        var stored = 0

        for i in batch.events.indices {
            let key = prepared.keys[i]
            let digestKey = Self.prefix64(batch.events[i].digest)
            // The same event twice in one batch.
            if let same = byDigest[digestKey], same.contains(where: { batch.events[$0].bytes == batch.events[i].bytes }) { continue }
            var duplicate = false
            var collidesWith: [(Int64, BlockRow)] = []
            let range = key.auditRange
            let proposed: [(key: Int64, id: Int64)]
            if let stored = known[key.second] {
                proposed = stored.candidates(in: range)
            } else {
                proposed = try Row.fetchAll(candidates, arguments: [cluster, key.second, range.lowerBound, range.upperBound]).map { ($0[0], $0[1]) }
            }
            for (k, id) in proposed {
                guard let other = try cache.row(self, db, id) else { continue }
                if k == key.key, try cache.bytes(self, db, id) == batch.events[i].bytes {
                    duplicate = true
                    break
                }
                if other.auditID == prepared.rows[i].auditID && other.stage == prepared.rows[i].stage { collidesWith.append((id, other)) }
            }
            if duplicate { continue }
            let auditHash = key.key >> 32
            if !collidesWith.isEmpty { collision[i] = true }
            if let bucket = byAudit[auditHash] {
                for j in bucket where prepared.rows[j].auditID == prepared.rows[i].auditID && prepared.rows[j].stage == prepared.rows[i].stage {
                    collision[i] = true
                    collision[j] = true
                }
            }
            for (id, other) in collidesWith { flagged[id] = other }
            byAudit[auditHash, default: []].append(i)
            byDigest[digestKey, default: []].append(i)
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
                : PreparedBatch.seal(cluster: batch.cluster, bytes: members.map { batch.events[$0].bytes }, rows: members.map { prepared.rows[$0] })
            try writeBlock(db, clusterID: cluster, firstID: lastID + 1, block: block.get(), keys: members.map { prepared.keys[$0] })
            for i in members {
                lastID += 1
                if hashChain {
                    ChainFormat.appendLeaf(&leaves, id: lastID, timestamp: prepared.rows[i].time,
                                           eventHash: ChainFormat.eventHash(cluster: batch.cluster, node: batch.node, digest: batch.events[i].digest))
                }
                if collision[i] {
                    collisions += 1
                    try insertCollision.execute(arguments: [lastID, cluster, prepared.rows[i].auditID, StageCode.code(prepared.rows[i].stage), prepared.rows[i].time])
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

extension SQLiteStore {
    /// The first 8 bytes of a digest as an integer (a hash key; the bytes decide).
    static func prefix64(_ digest: [UInt8]) -> Int64 {
        var v: UInt64 = 0
        for i in 0..<min(8, digest.count) { v = v << 8 | UInt64(digest[i]) }
        return Int64(bitPattern: v)
    }
}

/// The stored keys of one second, sorted by key.
struct SecondKeys {
    var keys: [(key: Int64, id: Int64)]

    /// The stored (key, id) pairs whose key falls in `range`.
    func candidates(in range: ClosedRange<Int64>) -> [(key: Int64, id: Int64)] {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if keys[mid].key < range.lowerBound { lo = mid + 1 } else { hi = mid }
        }
        var out: [(key: Int64, id: Int64)] = []
        while lo < keys.count, keys[lo].key <= range.upperBound {
            out.append(keys[lo])
            lo += 1
        }
        return out
    }
}

extension SQLiteStore {
    /// The stored keys of the seconds a batch's events fall in, read with one range read per
    /// second instead of one lookup per event. A second holding far more stored events than the
    /// batch brings (or the bucket of events without a receive time) is left out: its events are
    /// looked up one by one, as before.
    func storedKeys(_ db: Database, cluster: Int64, _ keys: [EventKey]) throws -> [Int64: SecondKeys] {
        var perSecond: [Int64: Int] = [:]
        for k in keys where k.second != EventKey.noReceiveTime { perSecond[k.second, default: 0] += 1 }
        let read = try db.cachedStatement(sql: "SELECT key, id FROM event_keys WHERE cluster = ? AND second = ? ORDER BY key, id LIMIT ?")
        var out: [Int64: SecondKeys] = [:]
        for (second, n) in perSecond {
            let limit = 8 * n + 64
            var stored: [(key: Int64, id: Int64)] = []
            let rows = try Row.fetchCursor(read, arguments: [cluster, second, limit + 1])
            while let r = try rows.next() { stored.append((r[0], r[1])) }
            if stored.count <= limit { out[second] = SecondKeys(keys: stored) }
        }
        return out
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
