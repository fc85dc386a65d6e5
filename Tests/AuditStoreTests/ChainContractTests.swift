import AuditChain
import AuditModel
@testable import AuditStore
@testable import AuditStorePostgres
import Foundation
import GRDB
import OpenSSLKit
import PostgresNIO
import Testing

/// A store under test with a way around it: the tamper cases edit its tables directly, as an
/// administrator (or an attacker) with write access to the database would.
struct ChainFixture {
    let store: any EventStore
    let backend: StoreBackend
    let signer: CheckpointSigner
    var source: any ChainCheckpointStore { store as! any ChainCheckpointStore }  // both backends are

    static func make(_ backend: StoreBackend) async throws -> ChainFixture {
        ChainFixture(store: try await backend.make(), backend: backend, signer: try CheckpointSigner(key: try PrivateKey.generateEd25519()))
    }

    /// Runs SQL on the store's database, outside the store's API.
    func tamper(_ sql: String) async throws {
        switch store {
        case let s as SQLiteStore:
            try await s.pool.write { try $0.execute(sql: sql) }
        case let p as PostgresStore:
            _ = try await p.client.query(PostgresQuery(unsafeSQL: sql), logger: p.logger).collect()
        default:
            Issue.record("unknown store")
        }
    }

    /// Edits stored events directly: SQL on PostgreSQL's rows, the records of SQLite's blocks
    /// (the `blocks` table rewritten, nothing else touched).
    func tamperEvents(postgres sql: String, sqlite edit: @escaping @Sendable (inout [SQLiteStore.StoredRecord]) -> Void) async throws {
        switch store {
        case let s as SQLiteStore: try await s.rewriteStoredEvents(edit)
        default: try await tamper(sql)
        }
    }

    /// Turns `alice` into `alicf` in an event's bytes (one byte changed).
    func flipByte(id: Int64) async throws {
        try await tamperEvents(
            postgres: "UPDATE events SET raw = convert_to(replace(convert_from(raw, 'UTF8'), 'alice', 'alicf'), 'UTF8') WHERE id = \(id)",
            sqlite: { records in
                for i in records.indices where records[i].id == id {
                    records[i].bytes = Array(String(decoding: records[i].bytes, as: UTF8.self).replacingOccurrences(of: "alice", with: "alicf").utf8)
                }
            })
    }

    /// Deletes the stored events whose ids satisfy `condition` (SQL over `id` for PostgreSQL).
    func deleteEvents(where sql: String, _ condition: @escaping @Sendable (Int64) -> Bool) async throws {
        try await tamperEvents(postgres: "DELETE FROM events WHERE \(sql)", sqlite: { $0.removeAll { condition($0.id) } })
    }

    /// Ingests `batches` batches of `size` events (cluster c, node n), timestamps a second apart from `start`.
    func fill(batches: Int, size: Int, start: String = "2026-01-10T00:00:00Z") async throws {
        let t0 = try #require(Timestamp(rfc3339: start)).microseconds
        var k = 0
        for b in 0..<batches {
            var events: [IngestEvent] = []
            for _ in 0..<size {
                events.append(event("ev-\(k)", ts: Timestamp(microseconds: t0 + Int64(k) * 1_000_000).format(fractionDigits: 0)))
                k += 1
            }
            _ = try await store.ingest(IngestBatch(cluster: "c", node: "n", batchID: "b\(b)", events: events))
        }
    }

    /// Signs every chain head and stores the checkpoints; returns them.
    @discardableResult
    func checkpoint(at time: Int64 = 1_800_000_000_000_000) async throws -> [Checkpoint] {
        let pruned = try await source.chainState().prunedBefore
        let cps = try await source.chainHeads().map { try signer.sign(head: $0, signedAt: time, prunedBefore: pruned) }
        try await source.saveCheckpoints(cps, keyID: signer.keyID, publicKeyPEM: signer.publicKeyPEM)
        return cps
    }

    /// Verifies trusting `keys` (default: the fixture's signer; `storeKeys`: the keys the store recorded).
    func verify(external: [Checkpoint] = [], since: String? = nil, keys: [String: PublicKey]? = nil, storeKeys: Bool = false) async throws -> VerificationReport {
        try await ChainVerifier(source: source, trustedKeys: storeKeys ? nil : (keys ?? [signer.keyID: signer.publicKey]), externalCheckpoints: external,
                                since: since.flatMap { Timestamp(rfc3339: $0)?.microseconds }).run()
    }

    /// Ingest ids in order.
    func ids() async throws -> [Int64] {
        try await store.events(EventQuery(ingestedAfter: 0, ingestOrder: true)).map(\.sequence)
    }
}

extension VerificationReport {
    var problems: [ChainProblem] { clusters.flatMap(\.problems) }
    var kinds: [ChainProblem.Kind] { problems.map(\.kind) }
}

/// The tamper-evidence contract: each way of editing a store after the fact is detected and
/// reported precisely, on every backend; an untouched store verifies clean.
@Suite struct ChainContractTests {

    @Test(arguments: StoreBackend.allCases)
    func untouchedStoreVerifiesAndBlocksFollowBatches(backend: StoreBackend) async throws {
        let f = try await ChainFixture.make(backend)
        try await f.fill(batches: 5, size: 4)
        // A batch of duplicates only stores nothing and makes no block.
        _ = try await f.store.ingest(IngestBatch(cluster: "c", node: "n", batchID: "dup", events: [event("ev-0", ts: "2026-01-10T00:00:00Z")]))
        _ = try await f.store.ingest(IngestBatch(cluster: "other", node: "m", batchID: "o", events: [event("x", ts: "2026-01-10T00:00:00Z")]))
        try await f.checkpoint()
        let r = try await f.verify()
        #expect(r.ok, "\(r.problems)")
        let c = try #require(r.clusters.first { $0.cluster == "c" })
        #expect(c.blocks == 5)
        #expect(c.eventsVerified == 20)
        #expect(c.anchor?.height == 5)
        #expect(c.unsignedFrom == nil)
        #expect(r.clusters.first { $0.cluster == "other" }?.eventsVerified == 1)
        // Blocks chain: each names the previous one's hash.
        let blocks = try await f.source.chainBlocks(cluster: "c", from: 1, through: 10, leaves: true)
        #expect(blocks.map(\.height) == [1, 2, 3, 4, 5])
        #expect(blocks.first?.previous == ChainFormat.zeroHash)
        for (a, b) in zip(blocks, blocks.dropFirst()) { #expect(b.previous == a.hash) }
        #expect(blocks.allSatisfy { $0.computedHash == $0.hash && $0.leafCount == 4 })
    }

    @Test(arguments: StoreBackend.allCases)
    func oneChangedByteIsReportedAsThatEventModified(backend: StoreBackend) async throws {
        let f = try await ChainFixture.make(backend)
        try await f.fill(batches: 5, size: 4)
        try await f.checkpoint()
        let ids = try await f.ids()
        try await f.flipByte(id: ids[9])
        let r = try await f.verify()
        #expect(!r.ok)
        #expect(r.kinds == [.modified])
        #expect(r.problems.first?.event == ids[9])
        #expect(r.problems.first?.block == 3)  // events 8-11 are the third batch
        #expect(r.clusters.first { $0.cluster == "c" }?.eventsVerified == 19)
    }

    @Test(arguments: StoreBackend.allCases)
    func deletedRowIsReported(backend: StoreBackend) async throws {
        let f = try await ChainFixture.make(backend)
        try await f.fill(batches: 5, size: 4)
        try await f.checkpoint()
        let ids = try await f.ids()
        let victim = ids[2]
        try await f.deleteEvents(where: "id = \(victim)") { $0 == victim }
        let r = try await f.verify()
        #expect(r.kinds == [.deleted])
        #expect(r.problems.first?.event == ids[2])
        #expect(r.problems.first?.block == 1)
    }

    @Test(arguments: StoreBackend.allCases)
    func insertedRowIsReported(backend: StoreBackend) async throws {
        let f = try await ChainFixture.make(backend)
        try await f.fill(batches: 5, size: 4)
        try await f.checkpoint()
        let ids = try await f.ids()
        let forged: Int64 = 1_000_000
        switch backend {
        case .sqlite:
            try await f.tamperEvents(postgres: "", sqlite: { records in
                guard var copy = records.first(where: { $0.id == ids[5] }) else { return }
                copy.id = forged
                copy.bytes = Array(String(decoding: copy.bytes, as: UTF8.self).replacingOccurrences(of: "alice", with: "mallory").utf8)
                copy.row.auditID = "forged"
                records.append(copy)
            })
        case .postgres:
            try await f.tamper("""
                INSERT INTO events(id, cluster, node, digest, ts, rts, audit_id, stage, usr, verb, resource, subresource, namespace, code, raw)
                SELECT \(forged), cluster, node, sha256(raw || 'x'::bytea), ts, rts, 'forged', stage, usr, verb, resource, subresource, namespace, code,
                       convert_to(replace(convert_from(raw, 'UTF8'), 'alice', 'mallory'), 'UTF8')
                FROM events WHERE id = \(ids[5])
                """)
        }
        let r = try await f.verify()
        #expect(r.kinds == [.inserted])
        #expect(r.problems.first?.event == forged)
    }

    @Test(arguments: StoreBackend.allCases)
    func swappedRowsAreReportedAsReordered(backend: StoreBackend) async throws {
        let f = try await ChainFixture.make(backend)
        try await f.fill(batches: 5, size: 4)
        try await f.checkpoint()
        let ids = try await f.ids()
        let (x, y) = (ids[4], ids[13])
        switch backend {
        case .sqlite:
            try await f.tamperEvents(postgres: "", sqlite: { records in
                guard let i = records.firstIndex(where: { $0.id == x }), let j = records.firstIndex(where: { $0.id == y }) else { return }
                records[i].id = y
                records[j].id = x
            })
        case .postgres:
            try await f.tamper("UPDATE events SET id = -1 WHERE id = \(x)")
            try await f.tamper("UPDATE events SET id = \(x) WHERE id = \(y)")
            try await f.tamper("UPDATE events SET id = \(y) WHERE id = -1")
        }
        let r = try await f.verify()
        #expect(r.kinds == [.reordered, .reordered])
        #expect(Set(r.problems.compactMap(\.event)) == [x, y])
        #expect(Set(r.problems.compactMap(\.block)) == [2, 4])
    }

    @Test(arguments: StoreBackend.allCases)
    func deletedLastBlocksAreReportedMissing(backend: StoreBackend) async throws {
        let f = try await ChainFixture.make(backend)
        try await f.fill(batches: 5, size: 4)
        try await f.checkpoint()
        let ids = try await f.ids()
        // The last two blocks and their events go: the chain itself is consistent again,
        // but the stored checkpoint of height 5 is beyond its end.
        let from = ids[12]
        try await f.deleteEvents(where: "id >= \(from)") { $0 >= from }
        try await f.tamper("DELETE FROM chain_blocks WHERE height > 3")
        if backend == .postgres { try await f.tamper("UPDATE chain_heads SET height = 3") }
        let r = try await f.verify()
        #expect(r.kinds == [.blocksMissing])
        #expect(r.problems.first?.block == 4)
        #expect(r.problems.first?.message.contains("blocks 4-5 are missing") == true)
    }

    @Test(arguments: StoreBackend.allCases)
    func rollbackToAnOlderStateIsCaughtByExportedCheckpoints(backend: StoreBackend) async throws {
        let f = try await ChainFixture.make(backend)
        try await f.fill(batches: 3, size: 4)
        let old = try await f.checkpoint(at: 1_800_000_000_000_000)
        let ids3 = try await f.ids()
        try await f.fill(batches: 2, size: 4, start: "2026-01-11T00:00:00Z")
        let exported = try await f.checkpoint(at: 1_800_000_060_000_000)
        // Put the store back exactly as it was after three batches: events, blocks and the
        // checkpoints stored since. Inside the store, nothing shows.
        let kept = ids3.last ?? 0
        try await f.deleteEvents(where: "id > \(kept)") { $0 > kept }
        try await f.tamper("DELETE FROM chain_blocks WHERE height > 3")
        try await f.tamper("DELETE FROM chain_checkpoints WHERE height > 3")
        if backend == .postgres { try await f.tamper("UPDATE chain_heads SET height = 3") }
        let inside = try await f.verify()
        #expect(inside.ok, "\(inside.problems)")
        #expect(old.first?.height == 3)
        // The checkpoints exported elsewhere are newer than anything in it.
        let r = try await f.verify(external: exported)
        #expect(r.kinds == [.blocksMissing])
        #expect(r.problems.first?.message.contains("covers blocks up to 5, but the chain ends at 3") == true)
    }

    /// One batch (one chain block) with an event on each side of the retention cutoff: the old
    /// one is pruned, the new one still verifies, and deleting it afterwards is deletion.
    @Test(arguments: StoreBackend.allCases)
    func retentionThroughTheMiddleOfABatchPrunesExactly(backend: StoreBackend) async throws {
        let f = try await ChainFixture.make(backend)
        _ = try await f.store.ingest(IngestBatch(cluster: "c", node: "n", batchID: "straddle", events: [
            event("ev-old", ts: "2026-01-10T10:00:00Z"), event("ev-new", ts: "2026-01-11T10:00:00Z"),
        ]))
        try await f.fill(batches: 1, size: 3, start: "2026-01-12T00:00:00Z")
        #expect(try await f.store.deleteEvents(before: try #require(Timestamp(rfc3339: "2026-01-11T00:00:00Z"))) == 1)
        try await f.checkpoint()
        let r = try await f.verify()
        #expect(r.ok, "\(r.problems)")
        #expect(r.clusters.first?.eventsPruned == 1)
        #expect(r.clusters.first?.eventsVerified == 4)
        let ids = try await f.ids()
        let survivor = ids[0]
        try await f.deleteEvents(where: "id = \(survivor)") { $0 == survivor }
        let after = try await f.verify()
        #expect(after.kinds == [.deleted])
        #expect(after.problems.first?.event == survivor)
    }

    @Test(arguments: StoreBackend.allCases)
    func retentionPrunesWithoutBreakingTheChain(backend: StoreBackend) async throws {
        let f = try await ChainFixture.make(backend)
        // Two days: batches 1-2 on January 10, 3-4 on January 11.
        try await f.fill(batches: 2, size: 4, start: "2026-01-10T00:00:00Z")
        try await f.fill(batches: 2, size: 4, start: "2026-01-11T00:00:00Z")
        let deleted = try await f.store.deleteEvents(before: try #require(Timestamp(rfc3339: "2026-01-11T00:00:00Z")))
        #expect(deleted == 8)
        try await f.checkpoint()
        let r = try await f.verify()
        #expect(r.ok, "\(r.problems)")
        let c = try #require(r.clusters.first)
        #expect(c.eventsPruned == 8)
        #expect(c.blocksFullyPruned == 2)
        #expect(c.eventsVerified == 8)
        // Deleting a newer event is still deletion, not pruning.
        let ids = try await f.ids()
        let first = ids[0]
        try await f.deleteEvents(where: "id = \(first)") { $0 == first }
        let after = try await f.verify()
        #expect(after.kinds == [.deleted])
        // New events after retention get new ids: nothing reuses an id a block recorded.
        let stillThere = try await f.ids()
        try await f.fill(batches: 1, size: 2, start: "2026-01-12T00:00:00Z")
        let newIDs = try await f.ids().filter { !stillThere.contains($0) }
        #expect(newIDs.allSatisfy { $0 > (ids.last ?? 0) })
    }

    @Test(arguments: StoreBackend.allCases)
    func checkpointsAreCheckedAgainstTrustedKeys(backend: StoreBackend) async throws {
        let f = try await ChainFixture.make(backend)
        try await f.fill(batches: 2, size: 2)
        let cps = try await f.checkpoint()
        // Another key is not trusted; the store's recorded key is used only when none is given.
        let stranger = try CheckpointSigner(key: try PrivateKey.generateEd25519())
        let r1 = try await f.verify(keys: [stranger.keyID: stranger.publicKey])
        #expect(r1.kinds.contains(.unknownKey))
        let r2 = try await f.verify(storeKeys: true)
        #expect(r2.ok && r2.keysFromStore)
        // A forged checkpoint (altered head, same signature) does not verify.
        var forged = try #require(cps.first)
        forged.head = [UInt8](repeating: 7, count: 32)
        forged.signedAt += 1
        let r3 = try await f.verify(external: [forged])
        #expect(r3.kinds == [.badSignature])
        // A correctly signed checkpoint for another head at the same height does not match the chain.
        let other = try f.signer.sign(head: ChainHead(cluster: "c", height: 2, hash: [UInt8](repeating: 9, count: 32)), signedAt: 5, prunedBefore: 0)
        let r4 = try await f.verify(external: [other])
        #expect(r4.kinds == [.checkpointMismatch])
        // A chain with no checkpoint at all is not proven.
        let g = try await ChainFixture.make(backend)
        try await g.fill(batches: 1, size: 1)
        #expect(try await g.verify().kinds == [.noCheckpoint])
    }

    @Test(arguments: StoreBackend.allCases)
    func editedBlockHeaderBreaksTheChain(backend: StoreBackend) async throws {
        let f = try await ChainFixture.make(backend)
        try await f.fill(batches: 4, size: 2)
        try await f.checkpoint()
        // Change a header field of block 2: its hash changes, so it no longer matches the hash
        // recorded for it, and block 3 no longer names it.
        try await f.tamper("UPDATE chain_blocks SET created_at = created_at + 1 WHERE height = 2")
        let r = try await f.verify()
        #expect(r.kinds == [.blockModified, .chainBroken])
        #expect(r.problems.map(\.block) == [2, 3])
    }

    @Test(arguments: StoreBackend.allCases)
    func timeRangeReadsOnlyTheBlocksItCovers(backend: StoreBackend) async throws {
        let f = try await ChainFixture.make(backend)
        try await f.fill(batches: 3, size: 4, start: "2026-01-10T00:00:00Z")
        try await f.fill(batches: 2, size: 4, start: "2026-01-11T00:00:00Z")
        try await f.checkpoint()
        let ids = try await f.ids()
        // Tamper in an old block and in a new one: the range check sees only the new one.
        try await f.flipByte(id: ids[1])
        try await f.flipByte(id: ids[17])
        let r = try await f.verify(since: "2026-01-11T00:00:00Z")
        let c = try #require(r.clusters.first)
        #expect(c.firstHeight == 4 && c.lastHeight == 5 && c.blocks == 2)
        #expect(r.kinds == [.modified])
        #expect(r.problems.first?.event == ids[17])
        #expect(try await f.verify().kinds == [.modified, .modified])
    }

    @Test(arguments: StoreBackend.allCases)
    func proofBundleChecksOutAndCatchesAnEditedEvent(backend: StoreBackend) async throws {
        let f = try await ChainFixture.make(backend)
        try await f.fill(batches: 4, size: 3)
        try await f.checkpoint()
        let all = try await f.store.events(EventQuery())
        let picked = [all[0], all[4], all[11]]  // blocks 1, 2 and 4
        let bundle = try await ProofBundle.build(events: picked.map { (id: $0.sequence, cluster: $0.cluster, node: $0.node, raw: $0.bytes) },
                                                 source: f.source)
        let read = try ProofBundle(json: bundle.json())
        let r = read.verify(trustedKeys: [f.signer.keyID: f.signer.publicKey])
        #expect(r.ok, "\(r.problems)")
        #expect(r.verified == picked.count)
        var edited = read
        edited.events[0].raw = Array(String(decoding: edited.events[0].raw, as: UTF8.self).replacingOccurrences(of: "alice", with: "alicf").utf8)
        let r2 = edited.verify(trustedKeys: [f.signer.keyID: f.signer.publicKey])
        #expect(r2.problems.count == 1)
        #expect(r2.problems.first?.contains("do not hash to its leaf") == true)
        // A block made up above the signed head proves nothing, even one that links to it.
        var forged = read
        let top = try #require(forged.blocks.max { $0.height < $1.height })
        let fake = Array(#"{"kind":"Event","auditID":"forged","stage":"ResponseComplete"}"#.utf8)
        var leaves: [UInt8] = []
        ChainFormat.appendLeaf(&leaves, id: 999_999, timestamp: 0, eventHash: ChainFormat.eventHash(cluster: "c", node: "n", digest: SHA256.hash(fake)))
        let extra = ChainBlock.next(cluster: "c", afterHeight: top.height, previous: top.computedHash, createdAt: 0, leaves: leaves, batchID: "x")
        forged.blocks.append(extra)
        forged.events.append(ProofBundle.Event(cluster: "c", node: "n", id: 999_999, block: extra.height, raw: fake))
        let r3 = forged.verify(trustedKeys: [f.signer.keyID: f.signer.publicKey])
        #expect(r3.verified == picked.count)
        #expect(r3.problems == ["cluster c: event 999999: block \(extra.height) is not linked to a verified checkpoint"])
        // Against another key the checkpoint proves nothing.
        let stranger = try CheckpointSigner(key: try PrivateKey.generateP256())
        #expect(!read.verify(trustedKeys: [stranger.keyID: stranger.publicKey]).ok)
    }
}
