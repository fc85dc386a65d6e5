import AuditBlock
import AuditModel
import Foundation
import GRDB

/// What one compaction pass did.
public struct CompactionResult: Sendable, Equatable {
    /// Runs of small blocks merged, each into one block.
    public var runs = 0
    /// Blocks those runs held (each run's blocks become one).
    public var blocks = 0
    /// Events sealed again.
    public var events = 0
    public init(runs: Int = 0, blocks: Int = 0, events: Int = 0) {
        self.runs = runs
        self.blocks = blocks
        self.events = events
    }
}

/// Compaction: a quiet cluster's batches are sealed as they come (an acknowledged event is
/// queryable at once), so at a few events a second it leaves blocks of a few events each. Once
/// their hour is over, runs of such blocks are merged into blocks of up to `maxBlockEvents`.
///
/// A run is blocks that follow one another in ingest ids (each starts where the one before it
/// ends), hold one cluster and one hour, and hold fewer than `compactBelow` events each. The
/// merged block keeps the run's events in id order under the run's first id, so every event keeps
/// its ingest id, its bytes, its de-duplication key, its collision record and its place in the
/// hash chain (which names events by id and rebuilds their leaves from the blocks): a checkpoint
/// signed before a merge verifies after it. The rollups count events, which do not change.
///
/// Ids are given across clusters in ingest order, so the small blocks of a cluster whose batches
/// alternate with another cluster's are not contiguous and stay as they are (Protocols/formats.md §8).
extension SQLiteStore {
    /// A block with fewer events than this is merged with its neighbours.
    public static let compactBelow = 256

    /// Merges runs of small blocks in hours that ended before `before`; returns what it did.
    /// Works in transactions of a few runs each, so ingest never waits long.
    public func compact(before: Timestamp, runsPerTransaction: Int = 16) async throws -> CompactionResult {
        var total = CompactionResult()
        var after = Int64.min
        while true {
            let from = after
            let (done, next, more) = try await pool.write { db -> (CompactionResult, Int64, Bool) in
                // Twice the longest run and one more: a full page always ends at least one run.
                let limit = 2 * Self.maxBlockEvents + 1
                let metas = try Row.fetchAll(db, sql: """
                    SELECT \(Self.blockMetaColumns) FROM blocks WHERE first_id > ? AND count < ? AND max_ts < ?
                    ORDER BY first_id LIMIT ?
                    """, arguments: [from, Self.compactBelow, before.microseconds, limit]).map(BlockMeta.init)
                let runs = CompactionPlan.runs(metas, maxEvents: Self.maxBlockEvents)
                var result = CompactionResult()
                // The last run may go on past this page: leave it for the next one, unless this was the last page.
                let full = metas.count == limit
                let closed = full ? runs.dropLast() : runs[...]
                for run in closed.prefix(runsPerTransaction) where run.count > 1 {
                    try self.merge(db, run)
                    result.runs += 1
                    result.blocks += run.count
                    result.events += run.reduce(0) { $0 + $1.count }
                }
                let handled = closed.prefix(runsPerTransaction)
                let resume = handled.last?.last?.firstID ?? from
                let more = handled.count < closed.count || (full && resume > from)
                return (result, resume, more)
            }
            total.runs += done.runs
            total.blocks += done.blocks
            total.events += done.events
            after = next
            if !more { return total }
            await Task.yield()
        }
    }

    /// Replaces a run's blocks with one block of their events, in id order.
    private func merge(_ db: Database, _ run: [BlockMeta]) throws {
        guard let first = run.first else { return }
        var bytes: [[UInt8]] = []
        var rows: [BlockRow] = []
        for meta in run {
            bytes += try blockEvents(db, meta)
            rows += try blockRows(db, meta)
        }
        let cluster = try clusterName(db, first.clusterID)
        let sealed = try PreparedBatch.seal(cluster: cluster, bytes: bytes, rows: rows).get()
        let deleteTerm = try db.cachedStatement(sql: "DELETE FROM block_terms WHERE term = ? AND block = ?")
        let deleteBlock = try db.cachedStatement(sql: "DELETE FROM blocks WHERE first_id = ?")
        for meta in run {
            for t in try blockTerms(db, meta) { try deleteTerm.execute(arguments: [t.term, meta.firstID]) }
            try deleteBlock.execute(arguments: [meta.firstID])
        }
        try insertBlock(db, clusterID: first.clusterID, firstID: first.firstID, block: sealed)
    }

    /// How many blocks the store holds.
    public func blockCount() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM blocks") ?? 0 }
    }
}

/// Which small blocks merge: a pure decision over the blocks' metadata.
enum CompactionPlan {
    /// Consecutive blocks (sorted by first id) grouped into runs: each block continues the run
    /// before it when its ids start where that run's end, it has the same cluster and hour, and
    /// the run stays within `maxEvents`. Runs of one block are returned too (nothing to merge).
    static func runs(_ metas: [BlockMeta], maxEvents: Int) -> [[BlockMeta]] {
        var runs: [[BlockMeta]] = []
        var current: [BlockMeta] = []
        var events = 0
        for m in metas {
            if let last = current.last, let head = current.first,
               m.firstID == last.firstID + Int64(last.count),
               m.clusterID == head.clusterID,
               RollupKey.hour(of: m.minTS) == RollupKey.hour(of: head.minTS),
               RollupKey.hour(of: m.maxTS) == RollupKey.hour(of: head.minTS),
               events + m.count <= maxEvents {
                current.append(m)
                events += m.count
            } else {
                if !current.isEmpty { runs.append(current) }
                current = [m]
                events = m.count
            }
        }
        if !current.isEmpty { runs.append(current) }
        return runs
    }
}
