import AuditChain
import AuditModel
import Foundation
import GRDB
import SharedFixtures
import Testing

@testable import AuditStore

@Suite("group commit")
struct GroupCommitTests {
    @Test func aLoneBatchStartsAWriterAndLaterOnesWaitForIt() {
        var q = GroupCommitQueue<String>(maxEvents: 100, maxItems: 3)
        let startA = q.enqueue("a", events: 10), startB = q.enqueue("b", events: 10)
        #expect(startA && !startB)
        #expect(q.nextGroup() == ["a", "b"])
        // Arrivals during that commit form the next group, up to the batch limit.
        let starts = ["c", "d", "e", "f"].map { q.enqueue($0, events: 10) }
        #expect(starts == [false, false, false, false])
        #expect(q.nextGroup() == ["c", "d", "e"])
        #expect(q.nextGroup() == ["f"])
        #expect(q.writing)
        #expect(q.nextGroup() == [])
        #expect(!q.writing)
        let startG = q.enqueue("g", events: 1)
        #expect(startG)
    }

    @Test func theEventLimitCutsAGroupButNeverStarvesALargeBatch() {
        var q = GroupCommitQueue<String>(maxEvents: 100, maxItems: 10)
        _ = q.enqueue("big", events: 500)
        _ = q.enqueue("x", events: 60)
        _ = q.enqueue("y", events: 50)
        _ = q.enqueue("z", events: 40)
        #expect(q.nextGroup() == ["big"])
        #expect(q.nextGroup() == ["x"])
        #expect(q.nextGroup() == ["y", "z"])
        #expect(q.nextGroup() == [])
    }

    /// Many concurrent batches through the real store: each gets its own result, duplicates across
    /// batches committed together are still stored once, and a failing batch fails alone.
    @Test func concurrentBatchesShareTransactionsAndKeepTheirOwnResults() async throws {
        let dir = TestTemporaries.directory("groupcommit")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStore(path: dir + "/s.sqlite")
        let shared = event("shared", ts: "2026-01-01T00:00:00Z")
        let results = try await withThrowingTaskGroup(of: (Int, IngestResult).self) { group in
            for i in 0..<40 {
                group.addTask {
                    let own = (0..<25).map { event("b\(i)-\($0)", ts: "2026-01-01T00:00:\(String(format: "%02d", $0))Z") }
                    return (i, try await store.ingest(IngestBatch(cluster: "c", node: "n\(i % 3)", batchID: "\(i)", events: own + [shared])))
                }
            }
            var out: [Int: IngestResult] = [:]
            for try await (i, r) in group { out[i] = r }
            return out
        }
        #expect(results.count == 40)
        #expect(results.values.reduce(0) { $0 + $1.stored } == 40 * 25 + 1)
        #expect(results.values.reduce(0) { $0 + $1.duplicates } == 39)
        #expect(results.values.allSatisfy { $0.stored >= 25 })
        #expect(try await store.count(EventQuery()) == 1_001)
        let totals = try await store.ingestTotals()
        #expect(totals.batches == 40)
        // The chain holds every batch that stored events as a block of its own, and verifies.
        let report = try await ChainVerifier(source: store, trustedKeys: [:]).run()
        let chain = try #require(report.clusters.first { $0.cluster == "c" })
        #expect(chain.problems.filter { $0.kind != .noCheckpoint }.isEmpty, "\(chain.problems)")
        #expect(chain.blocks == 40)
        #expect(chain.eventsVerified == 1_001)
    }

    /// The page caches that bound the aggregator's memory: 64 MiB for the writer, 16 MiB per reader.
    @Test func readerConnectionsKeepSmallerPageCaches() async throws {
        let dir = TestTemporaries.directory("caches")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStore(path: dir + "/s.sqlite")
        let writer = try await store.pool.write { db in try Int.fetchOne(db, sql: "PRAGMA cache_size") }
        let reader = try await store.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA cache_size") }
        #expect(writer == -65_536)
        #expect(reader == -16_384)
    }
}
