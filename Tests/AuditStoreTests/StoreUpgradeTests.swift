import AuditChain
import AuditModel
@testable import AuditStore
import Foundation
import GRDB
import OpenSSLKit
import Testing

/// A store written by the previous release (one row per event, Tests/Fixtures/store-v4) is
/// upgraded to blocks in place when a writer opens it: every event, id, collision mark and the
/// chain survive, and the checkpoint that release exported still verifies.
@Suite struct StoreUpgradeTests {
    static let fixture = FixtureStores.directory("store-v4")

    /// A fresh copy of the old store, unzipped.
    func oldStore() throws -> String { try FixtureStores.unpack("store-v4") }

    func expectedDigests() throws -> [String] {
        let text = try String(contentsOfFile: Self.fixture + "/digests.txt", encoding: .utf8)
        return text.split(separator: "\n").map(String.init).sorted()
    }

    func verify(_ store: SQLiteStore) async throws -> VerificationReport {
        let keys = try ChainKeys.load(files: [Self.fixture + "/checkpoint-key.pub.pem"])
        let text = try String(contentsOfFile: Self.fixture + "/checkpoints.jsonl", encoding: .utf8)
        let exported = try text.split(separator: "\n").map { try Checkpoint(jsonLine: $0) }
        return try await ChainVerifier(source: store, trustedKeys: keys, externalCheckpoints: exported).run()
    }

    @Test func theOldLayoutIsUpgradedWithEveryEventAndTheChainIntact() async throws {
        let path = try oldStore()
        // Read-only openers (query, verify) say what to do instead of failing on a missing table.
        #expect(throws: StoreError.self) { try SQLiteStore(path: path, readOnly: true) }

        let store = try SQLiteStore(path: path)
        let tables = try await store.pool.read { db in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") }
        #expect(!tables.contains("events"))
        #expect(tables.contains("blocks"))

        // The event multiset is the one the old table held.
        let digests = try await store.digests().map { "\($0.cluster) \(SHA256.hex($0.digest))" }.sorted()
        #expect(digests == (try expectedDigests()))
        #expect(try await store.count(EventQuery()) == 501)
        #expect(try await store.lastSequence() == 501)

        // The collision the old store flagged is still flagged, on both events.
        let collisions = try await store.collisions(EventQuery())
        #expect(collisions.count == 1)
        #expect(collisions.first?.events == 2)
        let flagged = try await store.events(EventQuery(ingestedAfter: 0, ingestOrder: true)).filter(\.collision).map(\.sequence)
        #expect(flagged == [5, 501])

        // The chain written by the old release and its exported checkpoint verify.
        let report = try await verify(store)
        #expect(report.ok, "\(report.clusters.flatMap(\.problems))")
        #expect(report.clusters.first?.eventsVerified == 501)
        #expect((report.clusters.first?.checkpointsVerified ?? 0) >= 1)

        // Queries read the upgraded blocks: both nodes, in time order.
        let page = try await store.events(EventQuery(node: "m2", limit: 1000))
        #expect(page.count == 201)
        #expect(page.map(\.cursor) == page.map(\.cursor).sorted { EventOrder($0) < EventOrder($1) })

        // Re-delivering an old event stores nothing; new ids continue above the old ones.
        let old = try #require(try await store.events(EventQuery(limit: 1)).first)
        let summary = try EventScanner.scan(old.bytes)
        let again = try await store.ingest(IngestBatch(cluster: "prod", node: old.node, batchID: "again",
                                                       events: [IngestEvent(bytes: old.bytes, summary: summary, digest: SHA256.hash(old.bytes))]))
        #expect(again == IngestResult(stored: 0, duplicates: 1))
        try await store.close()

        // Opening it again changes nothing.
        let reopened = try SQLiteStore(path: path)
        #expect(try await reopened.count(EventQuery()) == 501)
        #expect(try await verify(reopened).ok)
        try await reopened.close()
        try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
    }
}
