import AuditModel
import AuditStore
import Foundation
import OpenSSLKit
import Testing

func event(_ id: String, stage: String = "ResponseComplete", user: String = "alice", verb: String = "get",
           resource: String = "pods", ts: String, extra: String = "") -> IngestEvent {
    let line = #"{"auditID":"\#(id)","stage":"\#(stage)","verb":"\#(verb)","user":{"username":"\#(user)"},"objectRef":{"resource":"\#(resource)","namespace":"default"},"requestReceivedTimestamp":"\#(ts)","stageTimestamp":"\#(ts)"\#(extra)}"#
    let bytes = Array(line.utf8)
    // The tests build their own events; a failure to scan is a test bug.
    let summary = (try? EventScanner.scan(bytes)) ?? EventSummary()
    return IngestEvent(bytes: bytes, summary: summary, digest: SHA256.hash(bytes))
}

@Suite struct SQLiteStoreTests {
    func store() throws -> SQLiteStore {
        let dir = NSTemporaryDirectory() + "auditship-store-\(UUID().uuidString.prefix(8))"
        return try SQLiteStore(path: dir + "/store.sqlite")
    }

    @Test func storesOnceAndCountsDuplicates() async throws {
        let s = try store()
        let a = event("a", ts: "2026-01-01T00:00:02Z")
        let b = event("b", ts: "2026-01-01T00:00:01Z")
        let r1 = try await s.ingest(IngestBatch(cluster: "c1", node: "n1", batchID: "1", events: [a, b]))
        #expect(r1 == IngestResult(stored: 2, duplicates: 0))
        let r2 = try await s.ingest(IngestBatch(cluster: "c1", node: "n2", batchID: "2", events: [a, b, a]))
        #expect(r2 == IngestResult(stored: 0, duplicates: 3))
        // The same bytes from another cluster are another cluster's event.
        let r3 = try await s.ingest(IngestBatch(cluster: "c2", node: "n1", batchID: "3", events: [a]))
        #expect(r3 == IngestResult(stored: 1, duplicates: 0))
        #expect(try await s.count(EventQuery()) == 3)
        #expect(try await s.ingestTotals().duplicates == 3)
    }

    @Test func sameAuditIDDifferentContentIsKept() async throws {
        let s = try store()
        let a = event("same", ts: "2026-01-01T00:00:01Z")
        let forged = event("same", user: "mallory", ts: "2026-01-01T00:00:01Z")
        _ = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "1", events: [a]))
        let r = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "2", events: [forged]))
        #expect(r.stored == 1)
        #expect(try await s.count(EventQuery()) == 2)
    }

    @Test func answersInTimestampOrderAcrossNodes() async throws {
        let s = try store()
        _ = try await s.ingest(IngestBatch(cluster: "c", node: "n1", batchID: "1", events: [
            event("3", ts: "2026-01-01T00:00:03Z"), event("1", ts: "2026-01-01T00:00:01Z"),
        ]))
        _ = try await s.ingest(IngestBatch(cluster: "c", node: "n2", batchID: "2", events: [
            event("2", ts: "2026-01-01T00:00:02Z"), event("1", stage: "RequestReceived", ts: "2026-01-01T00:00:01Z"),
        ]))
        let ids = try await s.events(EventQuery()).map { (try? EventScanner.scan($0.bytes))?.auditID ?? "?" }
        #expect(ids == ["1", "1", "2", "3"])
        let stages = try await s.events(EventQuery(until: Timestamp(rfc3339: "2026-01-01T00:00:02Z"))).map { (try? EventScanner.scan($0.bytes))?.stage ?? "?" }
        #expect(stages == ["RequestReceived", "ResponseComplete"])
    }

    @Test func filters() async throws {
        let s = try store()
        _ = try await s.ingest(IngestBatch(cluster: "c", node: "n1", batchID: "1", events: [
            event("1", user: "alice", verb: "get", resource: "secrets", ts: "2026-01-01T00:00:01Z"),
            event("2", user: "bob", verb: "list", resource: "pods", ts: "2026-01-01T00:00:02Z"),
            event("3", user: "alice", verb: "create", resource: "pods", ts: "2026-01-01T00:00:03Z", extra: ""),
        ]))
        #expect(try await s.count(EventQuery(user: "alice")) == 2)
        #expect(try await s.count(EventQuery(user: "alice", resource: "pods")) == 1)
        #expect(try await s.count(EventQuery(verb: "list")) == 1)
        #expect(try await s.count(EventQuery(user: "nobody")) == 0)
        #expect(try await s.count(EventQuery(node: "n1", since: Timestamp(rfc3339: "2026-01-01T00:00:02Z"))) == 2)
        let stored = try await s.events(EventQuery(user: "bob"))
        #expect(stored.count == 1)
        #expect(stored.first?.cluster == "c")
        #expect(stored.first?.node == "n1")
    }

    @Test func keepsTheExactBytes() async throws {
        let s = try store()
        let odd = #"{ "auditID" : "x",   "verb":"get" ,"stageTimestamp":"2026-01-01T00:00:00.000001Z","note":"caf\u00e9"}"#
        let bytes = Array(odd.utf8)
        let e = IngestEvent(bytes: bytes, summary: try EventScanner.scan(bytes), digest: SHA256.hash(bytes))
        _ = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "1", events: [e]))
        #expect(try await s.events(EventQuery()).first?.bytes == bytes)
    }
}
