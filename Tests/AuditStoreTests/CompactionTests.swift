import AuditChain
import AuditModel
import AuditStore
import Foundation
import Testing

/// Compaction merges a quiet cluster's small blocks without changing what is stored, what the
/// chain proves, or what de-duplication finds.
@Suite struct CompactionTests {
    /// Everything a reader sees of the store, to compare before and after.
    func snapshot(_ s: any EventStore) async throws -> [String] {
        let all = try await s.events(EventQuery())
        var out = all.map { "\($0.sequence) \($0.cluster) \($0.node) \(String(decoding: $0.bytes, as: UTF8.self))" }
        out.append("count \(try await s.count(EventQuery()))")
        let facets = try await s.facets(EventQuery(), fields: [.user, .verb, .cluster], top: 10)
        for f in [FacetField.user, .verb, .cluster] { out.append("\(f): \((facets[f] ?? []).map { "\($0.value)=\($0.count)" })") }
        out.append("histogram \(try await s.histogram(EventQuery(), bucket: 60_000_000).map { "\($0.start)=\($0.count)" })")
        out.append("alice \(try await s.count(EventQuery(user: "alice")))")
        return out
    }

    @Test func aQuietClustersSmallBlocksMergeAndEverythingStillHolds() async throws {
        let f = try await ChainFixture.make(.sqlite)
        let store = try #require(f.store as? SQLiteStore)
        // 40 batches of 3 events, a second apart: 40 blocks in one hour of one cluster.
        try await f.fill(batches: 40, size: 3)
        let exported = try await f.checkpoint()
        let before = try await snapshot(store)
        #expect(try await store.blockCount() == 40)

        let r = try await store.compact(before: Timestamp(microseconds: 1_900_000_000_000_000))
        #expect(r == CompactionResult(runs: 1, blocks: 40, events: 120))
        #expect(try await store.blockCount() == 1)
        #expect(try await snapshot(store) == before)
        // The checkpoint signed before the merge still verifies, inside the store and exported.
        let report = try await f.verify(external: exported)
        #expect(report.ok, "\(report.problems)")
        #expect(report.clusters.first { $0.cluster == "c" }?.eventsVerified == 120)
        // Re-delivered events are still found.
        var k = 0
        let t0 = try #require(Timestamp(rfc3339: "2026-01-10T00:00:00Z")).microseconds
        var again: [IngestEvent] = []
        for _ in 0..<120 {
            again.append(event("ev-\(k)", ts: Timestamp(microseconds: t0 + Int64(k) * 1_000_000).format(fractionDigits: 0)))
            k += 1
        }
        #expect(try await store.ingest(IngestBatch(cluster: "c", node: "n", batchID: "again", events: again)) == IngestResult(stored: 0, duplicates: 120))
        // A second pass has nothing left to merge.
        #expect(try await store.compact(before: Timestamp(microseconds: 1_900_000_000_000_000)) == CompactionResult())
        // A changed byte in the merged block is still reported as that event modified.
        let ids = try await f.ids()
        try await f.flipByte(id: ids[50])
        let tampered = try await f.verify()
        #expect(tampered.kinds == [.modified])
        #expect(tampered.problems.first?.event == ids[50])
    }

    @Test func onlyContiguousBlocksOfOneClusterAndHourMergeAndRecentHoursWait() async throws {
        let f = try await ChainFixture.make(.sqlite)
        let store = try #require(f.store as? SQLiteStore)
        func batch(_ cluster: String, _ id: String, _ ts: String) async throws {
            _ = try await store.ingest(IngestBatch(cluster: cluster, node: "n", batchID: id, events: [event(id, ts: ts)]))
        }
        // c, c, d, c, c in hour 00; then c, c in hour 01.
        try await batch("c", "a1", "2026-01-10T00:00:01Z")
        try await batch("c", "a2", "2026-01-10T00:00:02Z")
        try await batch("d", "b1", "2026-01-10T00:00:03Z")
        try await batch("c", "a3", "2026-01-10T00:00:04Z")
        try await batch("c", "a4", "2026-01-10T00:00:05Z")
        try await batch("c", "a5", "2026-01-10T01:00:01Z")
        try await batch("c", "a6", "2026-01-10T01:00:02Z")
        let before = try await snapshot(store)
        // Only hour 00 is over: a1+a2 and a3+a4 merge; d's block stays between them.
        let hour1 = try #require(Timestamp(rfc3339: "2026-01-10T01:00:00Z"))
        #expect(try await store.compact(before: hour1) == CompactionResult(runs: 2, blocks: 4, events: 4))
        #expect(try await store.blockCount() == 5)
        // Then hour 01 too.
        #expect(try await store.compact(before: Timestamp(microseconds: hour1.microseconds + 3_600_000_000)) == CompactionResult(runs: 1, blocks: 2, events: 2))
        #expect(try await store.blockCount() == 4)
        #expect(try await snapshot(store) == before)
        try await f.checkpoint()
        let report = try await f.verify()
        #expect(report.ok, "\(report.problems)")
        // Retention still drops whole blocks and the chain stays verifiable.
        #expect(try await store.deleteEvents(before: hour1) == 5)
        #expect(try await store.count(EventQuery()) == 2)
        #expect(try await f.verify().ok)
    }
}
