import AuditBlock
import AuditModel
import AuditStore
import Foundation
import OpenSSLKit
import SharedFixtures
import Testing

func event(_ id: String, stage: String = "ResponseComplete", user: String = "alice", verb: String = "get",
           resource: String = "pods", ts: String, extra: String = "") -> IngestEvent {
    let line = #"{"auditID":"\#(id)","stage":"\#(stage)","verb":"\#(verb)","user":{"username":"\#(user)"},"objectRef":{"resource":"\#(resource)","namespace":"default"},"requestReceivedTimestamp":"\#(ts)","stageTimestamp":"\#(ts)"\#(extra)}"#
    let bytes = Array(line.utf8)
    // The tests build their own events; a failure to scan is a test bug.
    let summary = (try? EventScanner.scan(bytes)) ?? EventSummary()
    return IngestEvent(bytes: bytes, summary: summary, digest: SHA256.hash(bytes))
}

/// A store backend under test. The same contract suite runs against each.
enum StoreBackend: String, CaseIterable, CustomStringConvertible, Sendable {
    case sqlite
    case postgres

    var description: String { rawValue }

    /// A new, empty store.
    func make() async throws -> any EventStore {
        switch self {
        case .sqlite:
            let dir = TestTemporaries.directory("store")
            return try SQLiteStore(path: dir + "/store.sqlite")
        case .postgres:
            return try await makePostgresStore()  // PostgresBackend.swift
        }
    }
}

/// The store contract: every backend must pass these.
@Suite struct StoreContractTests {

    @Test(arguments: StoreBackend.allCases)
    func storesOnceAndCountsDuplicates(backend: StoreBackend) async throws {
        let s = try await backend.make()
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
    }

    /// A second holding many stored events, then a small batch of that second: a store may read a
    /// second's keys whole or look events up one by one, and both ways must find the duplicate and
    /// the collision.
    @Test(arguments: StoreBackend.allCases)
    func aCrowdedSecondStillFindsDuplicatesAndCollisions(backend: StoreBackend) async throws {
        let s = try await backend.make()
        let crowd = (0..<800).map { event("crowd-\($0)", ts: "2026-01-01T00:00:05.\(String(format: "%06d", $0))Z") }
        let r1 = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "1", events: crowd))
        #expect(r1.stored == 800)
        let forged = event("crowd-17", user: "mallory", ts: "2026-01-01T00:00:05.000017Z")
        let r2 = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "2", events: [crowd[17], forged]))
        #expect(r2.stored == 1)
        #expect(r2.duplicates == 1)
        #expect(r2.collisions == 1)
        // The whole crowd again, one batch: all duplicates.
        let r3 = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "3", events: crowd))
        #expect(r3 == IngestResult(stored: 0, duplicates: 800))
        #expect(try await s.count(EventQuery()) == 801)
    }

    @Test(arguments: StoreBackend.allCases)
    func sameAuditIDDifferentContentIsKept(backend: StoreBackend) async throws {
        let s = try await backend.make()
        let a = event("same", ts: "2026-01-01T00:00:01Z")
        let forged = event("same", user: "mallory", ts: "2026-01-01T00:00:01Z")
        _ = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "1", events: [a]))
        let r = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "2", events: [forged]))
        #expect(r.stored == 1)
        #expect(try await s.count(EventQuery()) == 2)
    }

    @Test(arguments: StoreBackend.allCases)
    func answersInTimestampOrderAcrossNodes(backend: StoreBackend) async throws {
        let s = try await backend.make()
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

    @Test(arguments: StoreBackend.allCases)
    func filters(backend: StoreBackend) async throws {
        let s = try await backend.make()
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

    @Test(arguments: StoreBackend.allCases)
    func keepsTheExactBytes(backend: StoreBackend) async throws {
        let s = try await backend.make()
        let odd = #"{ "auditID" : "x",   "verb":"get" ,"stageTimestamp":"2026-01-01T00:00:00.000001Z","note":"caf\u00e9"}"#
        let bytes = Array(odd.utf8)
        let e = IngestEvent(bytes: bytes, summary: try EventScanner.scan(bytes), digest: SHA256.hash(bytes))
        _ = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "1", events: [e]))
        #expect(try await s.events(EventQuery()).first?.bytes == bytes)
    }

    @Test(arguments: StoreBackend.allCases)
    func collisionsAreCountedAndQueryable(backend: StoreBackend) async throws {
        let s = try await backend.make()
        let a = event("dup-id", ts: "2026-01-01T00:00:01Z")
        // The same request (auditID, stage and receive time) with other bytes.
        let forged = event("dup-id", user: "mallory", verb: "delete", ts: "2026-01-01T00:00:01Z")
        let other = event("other", ts: "2026-01-01T00:00:03Z")
        let r1 = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "1", events: [a, other]))
        #expect(r1.collisions == 0)
        let r2 = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "2", events: [forged, a]))
        #expect(r2 == IngestResult(stored: 1, duplicates: 1, collisions: 1))
        let found = try await s.collisions(EventQuery())
        #expect(found == [AuditIDCollision(cluster: "c", auditID: "dup-id", stage: "ResponseComplete", events: 2)])
        let flagged = try await s.events(EventQuery()).filter(\.collision).count
        #expect(flagged == 2)
        // Another cluster's event with the same auditID is no collision.
        let r3 = try await s.ingest(IngestBatch(cluster: "c2", node: "n", batchID: "3", events: [event("other", user: "x", ts: "2026-01-01T00:00:04Z")]))
        #expect(r3.collisions == 0)
    }

    @Test(arguments: StoreBackend.allCases)
    func cursorPagesThroughInOrder(backend: StoreBackend) async throws {
        let s = try await backend.make()
        var all: [IngestEvent] = []
        for i in 0..<25 { all.append(event("e\(i)", ts: "2026-01-01T00:00:\(String(format: "%02d", 59 - i))Z")) }
        _ = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "1", events: all))
        let everything = try await s.events(EventQuery()).map(\.bytes)
        var paged: [[UInt8]] = []
        var cursor: EventCursor?
        while true {
            let page = try await s.events(EventQuery(limit: 7, after: cursor))
            if page.isEmpty { break }
            paged += page.map(\.bytes)
            cursor = page.last?.cursor
            #expect(EventCursor(cursor?.description ?? "") == cursor)
        }
        #expect(paged == everything)
        #expect(paged.count == 25)
    }

    @Test(arguments: StoreBackend.allCases)
    func followsNewArrivalsByIngestSequence(backend: StoreBackend) async throws {
        let s = try await backend.make()
        #expect(try await s.lastSequence() == 0)
        _ = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "1", events: [event("1", ts: "2026-01-01T00:00:05Z")]))
        let mark = try await s.lastSequence()
        _ = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "2", events: [
            event("2", ts: "2026-01-01T00:00:09Z"), event("3", ts: "2026-01-01T00:00:01Z"),
        ]))
        let new = try await s.events(EventQuery(ingestedAfter: mark, ingestOrder: true))
        #expect(new.map { (try? EventScanner.scan($0.bytes))?.auditID ?? "" } == ["2", "3"])
        #expect(try await s.lastSequence() > mark)
    }

    @Test(arguments: StoreBackend.allCases)
    func statisticsCountPerDimension(backend: StoreBackend) async throws {
        let s = try await backend.make()
        _ = try await s.ingest(IngestBatch(cluster: "c", node: "n1", batchID: "1", events: [
            event("1", user: "alice", verb: "get", ts: "2026-01-01T00:00:01Z"),
            event("2", user: "alice", verb: "list", ts: "2026-01-01T00:00:02Z"),
        ]))
        _ = try await s.ingest(IngestBatch(cluster: "c", node: "n2", batchID: "2", events: [event("3", user: "bob", verb: "get", resource: "secrets", ts: "2026-01-01T00:00:03Z")]))
        let st = try await s.statistics(EventQuery())
        #expect(st.total == 3)
        #expect(st.byUser == ["alice": 2, "bob": 1])
        #expect(st.byVerb == ["get": 2, "list": 1])
        #expect(st.byNode == ["n1": 2, "n2": 1])
        #expect(st.byResource == ["pods": 2, "secrets": 1])
        let windowed = try await s.statistics(EventQuery(since: Timestamp(rfc3339: "2026-01-01T00:00:02Z")))
        #expect(windowed.total == 2)
    }

    @Test(arguments: StoreBackend.allCases)
    func eventFiltersFindOneObjectsHistoryAndMore(backend: StoreBackend) async throws {
        let s = try await backend.make()
        func line(_ id: String, user: String, groups: [String], verb: String, resource: String, apiGroup: String?, name: String,
                  code: Int, stage: String = "ResponseComplete", ts: String, extra: String = "") -> IngestEvent {
            let group = apiGroup.map { #","apiGroup":"\#($0)""# } ?? ""
            let text = #"{"auditID":"\#(id)","stage":"\#(stage)","verb":"\#(verb)","user":{"username":"\#(user)","groups":[\#(groups.map { "\"\($0)\"" }.joined(separator: ","))]},"objectRef":{"resource":"\#(resource)","namespace":"prod","name":"\#(name)"\#(group)},"responseStatus":{"code":\#(code)},"requestReceivedTimestamp":"\#(ts)","stageTimestamp":"\#(ts)"\#(extra)}"#
            let bytes = Array(text.utf8)
            return IngestEvent(bytes: bytes, summary: (try? EventScanner.scan(bytes)) ?? EventSummary(), digest: SHA256.hash(bytes))
        }
        _ = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "1", events: [
            line("e1", user: "alice", groups: ["dev", "ops"], verb: "patch", resource: "deployments", apiGroup: "apps", name: "web", code: 200, ts: "2026-02-01T10:00:01Z"),
            line("e2", user: "bob", groups: ["dev"], verb: "delete", resource: "deployments", apiGroup: "apps", name: "web", code: 403,
                 ts: "2026-02-01T10:00:02Z", extra: #","annotations":{"via":"kubectl-edit"}"#),
            line("e3", user: "alice", groups: ["dev"], verb: "get", resource: "pods", apiGroup: nil, name: "web", code: 404, stage: "RequestReceived", ts: "2026-02-01T10:00:03Z"),
        ]))
        _ = try await s.ingest(IngestBatch(cluster: "c2", node: "m", batchID: "2", events: [
            line("e4", user: "carol", groups: [], verb: "update", resource: "deployments", apiGroup: "apps", name: "web", code: 200, ts: "2026-02-01T09:59:59Z"),
        ]))
        func ids(_ q: EventQuery) async throws -> [String] {
            try await s.events(q).map { (try? EventScanner.scan($0.bytes))?.auditID ?? "?" }
        }
        // One object's history across clusters, in time order.
        #expect(try await ids(EventQuery(resource: "deployments", namespace: "prod", name: "web")) == ["e4", "e1", "e2"])
        #expect(try await ids(EventQuery(resource: "deployments", namespace: "prod", limit: 1, name: "web")) == ["e4"])
        #expect(try await ids(EventQuery(group: "ops")) == ["e1"])
        #expect(try await ids(EventQuery(apiGroup: "apps")) == ["e4", "e1", "e2"])
        #expect(try await ids(EventQuery(code: 404)) == ["e3"])
        #expect(try await ids(EventQuery(codeClass: 4)) == ["e2", "e3"])
        #expect(try await ids(EventQuery(stage: "RequestReceived")) == ["e3"])
        #expect(try await ids(EventQuery(text: "kubectl-edit")) == ["e2"])
        #expect(try await ids(EventQuery(user: "alice", codeClass: 2)) == ["e1"])
        #expect(try await ids(EventQuery(name: "nothing-like-it")) == [])
        #expect(try await s.count(EventQuery(codeClass: 4)) == 2)
        #expect(try await s.count(EventQuery(cluster: "c", name: "web")) == 3)
        #expect(try await s.statistics(EventQuery(group: "dev")).byUser == ["alice": 2, "bob": 1])
        #expect(try await s.facets(EventQuery(name: "web"), fields: [.verb], top: 1)[.verb]?.count == 1)
        // Lists, wildcards and exclusions (the search box's `verb:patch,delete`, `-user:al*`).
        var either = EventQuery()
        either.matches = [FieldMatch(field: .verb, values: ["patch", "delete"])]
        #expect(try await ids(either) == ["e1", "e2"])
        var notAl = EventQuery()
        notAl.matches = [FieldMatch(field: .user, values: ["al*"], wildcard: true, negated: true)]
        #expect(try await ids(notAl) == ["e4", "e2"])
        #expect(try await s.count(notAl) == 2)
        #expect(try await s.facets(notAl, fields: [.user], top: 5)[.user] == [FacetValue(value: "bob", count: 1), FacetValue(value: "carol", count: 1)])
        #expect(try await s.histogram(notAl, bucket: 3_600_000_000).map(\.count).reduce(0, +) == 2)
    }

    @Test(arguments: StoreBackend.allCases)
    func histogramAndFacetsCountTheMatchingEvents(backend: StoreBackend) async throws {
        let s = try await backend.make()
        // Hour 10: alice get ×3, bob delete ×1; hour 11: alice get, carol get; one event in another cluster.
        _ = try await s.ingest(IngestBatch(cluster: "c", node: "n1", batchID: "1", events: [
            event("a1", ts: "2026-01-01T10:05:00Z"), event("a2", ts: "2026-01-01T10:15:00Z"),
            event("a3", ts: "2026-01-01T10:59:59Z"), event("b1", user: "bob", verb: "delete", resource: "secrets", ts: "2026-01-01T10:30:00Z"),
            event("a4", ts: "2026-01-01T11:00:00Z"), event("c1", user: "carol", ts: "2026-01-01T11:30:00Z"),
        ]))
        _ = try await s.ingest(IngestBatch(cluster: "other", node: "n9", batchID: "2", events: [event("x1", user: "bob", ts: "2026-01-01T10:10:00Z")]))
        let hour: Int64 = 3_600_000_000
        let h10 = try #require(Timestamp(rfc3339: "2026-01-01T10:00:00Z"))
        let h11 = try #require(Timestamp(rfc3339: "2026-01-01T11:00:00Z"))
        #expect(try await s.histogram(EventQuery(), bucket: hour) == [HistogramBucket(start: h10, count: 5), HistogramBucket(start: h11, count: 2)])
        #expect(try await s.histogram(EventQuery(cluster: "c", user: "alice"), bucket: hour)
                == [HistogramBucket(start: h10, count: 3), HistogramBucket(start: h11, count: 1)])
        // A window cutting through the hour: only the events inside count.
        let from = try #require(Timestamp(rfc3339: "2026-01-01T10:20:00Z"))
        let window = EventQuery(since: from, until: h11)
        #expect(try await s.histogram(window, bucket: hour) == [HistogramBucket(start: h10, count: 2)])

        let all = try await s.facets(EventQuery(), fields: [.user, .verb, .cluster, .resource], top: 2)
        #expect(all[.user] == [FacetValue(value: "alice", count: 4), FacetValue(value: "bob", count: 2)])
        #expect(all[.verb] == [FacetValue(value: "get", count: 6), FacetValue(value: "delete", count: 1)])
        #expect(all[.cluster] == [FacetValue(value: "c", count: 6), FacetValue(value: "other", count: 1)])
        #expect(all[.resource] == [FacetValue(value: "pods", count: 6), FacetValue(value: "secrets", count: 1)])
        let gets = try await s.facets(EventQuery(cluster: "c", verb: "get"), fields: [.user, .namespace], top: 10)
        #expect(gets[.user] == [FacetValue(value: "alice", count: 4), FacetValue(value: "carol", count: 1)])
        #expect(gets[.namespace] == [FacetValue(value: "default", count: 5)])
        #expect(try await s.facets(window, fields: [.user], top: 10)[.user] == [FacetValue(value: "alice", count: 1), FacetValue(value: "bob", count: 1)])
        #expect(try await s.facets(EventQuery(user: "nobody"), fields: [.verb], top: 10)[.verb] == [])
    }

    /// Counts, facets and hour-multiple histograms over windows that cut hours at either end, or
    /// hold no whole hour, agree with the events counted one by one (the SQLite store answers whole
    /// hours from its hourly rollup, whole minutes of time histograms from its minute rollup, and
    /// the partial hours and minutes from its blocks).
    @Test(arguments: StoreBackend.allCases)
    func countsOverHoursAgreeWithTheEventsOneByOne(backend: StoreBackend) async throws {
        let s = try await backend.make()
        struct E { var id: String; var cluster: String; var node: String; var user: String; var verb: String; var resource: String; var code: Int; var time: Int64 }
        let base = try #require(Timestamp(rfc3339: "2026-03-01T00:00:00Z")).microseconds
        let minute: Int64 = 60_000_000
        var all: [E] = []
        let users = ["alice", "bob", "system:serviceaccount:kube-system:x"], verbs = ["get", "list", "delete"]
        let resources = ["pods", "secrets"], codes = [200, 403, 404, 500]
        // Five hours, one event every 7 minutes, in two clusters; each a batch of its own hour.
        for i in 0..<43 {
            // Off the minute, so that windows cut through minutes with events on both sides.
            let t = base + Int64(i) * 7 * minute + Int64(i % 5) * 11_000_000
            all.append(E(id: "r\(i)", cluster: i % 3 == 0 ? "c2" : "c1", node: i % 4 == 0 ? "n2" : "n1", user: users[i % 3], verb: verbs[(i / 2) % 3],
                         resource: resources[i % 2], code: codes[(i / 3) % 4], time: t))
        }
        for (n, e) in all.enumerated() {
            let ts = Timestamp(microseconds: e.time).format(fractionDigits: 0)
            _ = try await s.ingest(IngestBatch(cluster: e.cluster, node: e.node, batchID: "b\(n)", events: [
                event(e.id, user: e.user, verb: e.verb, resource: e.resource, ts: ts, extra: #","responseStatus":{"code":\#(e.code)}"#),
            ]))
        }
        let hour: Int64 = 3_600_000_000
        let windows: [(Int64?, Int64?)] = [(nil, nil), (base + 20 * minute, base + 4 * hour + 10 * minute), (base + hour, base + 3 * hour),
                                           (base + 5 * minute, base + 50 * minute), (nil, base + 2 * hour + 30 * minute), (base + 90 * minute, nil),
                                           (base + 21 * minute + 30_000_000, base + 3 * hour + 23 * minute + 50_000_000)]
        let filters: [EventQuery] = [EventQuery(), EventQuery(cluster: "c1"), EventQuery(user: "bob"), EventQuery(verb: "get", resource: "pods"),
                                     EventQuery(codeClass: 4), EventQuery(cluster: "c2", user: "alice")]
            + [{ var q = EventQuery(); q.node = "n2"; return q }(), { var q = EventQuery(user: "bob"); q.code = 403; return q }(),
               { var q = EventQuery(); q.node = "n1"; q.codeClass = 5; return q }()]
        for (since, until) in windows {
            for var q in filters {
                q.since = since.map { Timestamp(microseconds: $0) }
                q.until = until.map { Timestamp(microseconds: $0) }
                let kept = all.filter { e in
                    (since.map { e.time >= $0 } ?? true) && (until.map { e.time < $0 } ?? true)
                        && (q.cluster.map { e.cluster == $0 } ?? true) && (q.user.map { e.user == $0 } ?? true)
                        && (q.verb.map { e.verb == $0 } ?? true) && (q.resource.map { e.resource == $0 } ?? true)
                        && (q.codeClass.map { e.code / 100 == $0 } ?? true)
                        && (q.node.map { e.node == $0 } ?? true) && (q.code.map { e.code == $0 } ?? true)
                }
                let label = "window \(String(describing: since)) ..< \(String(describing: until)), \(q)"
                #expect(try await s.count(q) == kept.count, "\(label)")
                for width in [hour, 2 * hour, 5 * minute, 7 * minute] {
                    var expected: [Int64: Int] = [:]
                    for e in kept { expected[e.time - ((e.time % width) + width) % width, default: 0] += 1 }
                    let got = try await s.histogram(q, bucket: width)
                    #expect(Dictionary(uniqueKeysWithValues: got.map { ($0.start.microseconds, $0.count) }) == expected, "\(label), bucket \(width)")
                }
                let stats = try await s.statistics(q)
                #expect(stats.total == kept.count, "\(label)")
                #expect(stats.byNode == Dictionary(grouping: kept, by: \.node).mapValues(\.count), "\(label)")
                #expect(stats.byUser == Dictionary(grouping: kept, by: \.user).mapValues(\.count), "\(label)")
                #expect(stats.byCluster == Dictionary(grouping: kept, by: \.cluster).mapValues(\.count), "\(label)")
                #expect(stats.byVerb == Dictionary(grouping: kept, by: \.verb).mapValues(\.count), "\(label)")
                let beyond = try await s.facets(q, fields: [.node, .code, .verb], top: 10)
                #expect(Dictionary(uniqueKeysWithValues: (beyond[.code] ?? []).map { ($0.value, $0.count) })
                        == Dictionary(grouping: kept, by: { String($0.code) }).mapValues(\.count), "\(label), code")
                #expect(Dictionary(uniqueKeysWithValues: (beyond[.node] ?? []).map { ($0.value, $0.count) })
                        == Dictionary(grouping: kept, by: \.node).mapValues(\.count), "\(label), node")
                let facets = try await s.facets(q, fields: [.cluster, .user, .verb, .resource], top: 10)
                for (field, value) in [(FacetField.cluster, \E.cluster), (.user, \E.user), (.verb, \E.verb), (.resource, \E.resource)] {
                    var expected: [String: Int] = [:]
                    for e in kept { expected[e[keyPath: value], default: 0] += 1 }
                    let got = facets[field] ?? []
                    #expect(Dictionary(uniqueKeysWithValues: got.map { ($0.value, $0.count) }) == expected, "\(label), \(field)")
                }
            }
        }
    }

    @Test(arguments: StoreBackend.allCases)
    func retentionDeletesOldEventsOnly(backend: StoreBackend) async throws {
        let s = try await backend.make()
        _ = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "1", events: [
            event("old", ts: "2025-12-01T00:00:00Z"), event("new", ts: "2026-01-02T00:00:00Z"),
        ]))
        let deleted = try await s.deleteEvents(before: try #require(Timestamp(rfc3339: "2026-01-01T00:00:00Z")))
        #expect(deleted == 1)
        #expect(try await s.events(EventQuery()).map { (try? EventScanner.scan($0.bytes))?.auditID ?? "" } == ["new"])
        // Counts over whole hours (the SQLite store's rollup) lose the dropped events too.
        #expect(try await s.count(EventQuery()) == 1)
        #expect(try await s.facets(EventQuery(), fields: [.user], top: 5)[.user] == [FacetValue(value: "alice", count: 1)])
    }
}

/// The alert log contract (`AlertLog`): every backend keeps alerts and the evaluation
/// watermark the same way.
@Suite struct AlertLogContractTests {
    func alert(_ rule: String, seq: Int64, notify: Bool = true) -> NewAlert {
        NewAlert(rule: rule, severity: "high", message: "m \(seq)", cluster: "c", node: "n", auditID: "a\(seq)",
                 stage: "ResponseComplete", groupKey: "", matches: 1, eventTime: 1_767_225_600_000_000 + seq, eventSequence: seq,
                 notify: notify)
    }

    @Test(arguments: StoreBackend.allCases)
    func watermarkMovesOnlyFromWhereItWasAndAlertsCommitWithIt(backend: StoreBackend) async throws {
        let store = try await backend.make()
        let log = try #require(store as? any AlertLog)
        #expect(try await log.alertWatermark() == 0)
        #expect(try await log.recordAlerts([alert("r1", seq: 3), alert("r2", seq: 3)], evaluatedFrom: 0, through: 10, at: 100))
        #expect(try await log.alertWatermark() == 10)
        // A second evaluator that read from 0 loses: nothing of its page is recorded.
        #expect(try await log.recordAlerts([alert("r3", seq: 4)], evaluatedFrom: 0, through: 12, at: 101) == false)
        #expect(try await log.alertWatermark() == 10)
        // A rule fires at most once per event; the watermark moves on.
        #expect(try await log.recordAlerts([alert("r1", seq: 3), alert("r1", seq: 11, notify: false)], evaluatedFrom: 10, through: 20, at: 102))
        let all = try await log.alerts(since: 0, limit: nil)
        #expect(all.map(\.alert.rule) == ["r1", "r2", "r1"])
        #expect(all.map(\.alert.eventSequence) == [3, 3, 11])
        #expect(all[0].alert == alert("r1", seq: 3))
        #expect(all.map(\.firedAt) == [100, 100, 102])
        #expect(try await log.alerts(since: 101, limit: nil).count == 1)
        #expect(try await log.alerts(since: 0, limit: 2).count == 2)
        try await store.close()
    }

    @Test("a Sigma rule's id and level are kept beside its title; our rules' are nil", arguments: StoreBackend.allCases)
    func sigmaRuleIDAndLevelRoundTrip(backend: StoreBackend) async throws {
        let store = try await backend.make()
        let log = try #require(store as? any AlertLog)
        var sigma = alert("Secret read by a stranger", seq: 5)
        sigma.ruleID = "11111111-2222-4333-8444-555555555555"
        sigma.level = "informational"
        #expect(try await log.recordAlerts([sigma, alert("ours", seq: 5)], evaluatedFrom: 0, through: 5, at: 10))
        let all = try await log.alerts(since: 0, limit: nil)
        #expect(all.map(\.alert) == [sigma, alert("ours", seq: 5)])
        #expect(try await log.pendingAlerts(limit: 5).first?.alert.ruleID == "11111111-2222-4333-8444-555555555555")
        try await store.close()
    }

    @Test(arguments: StoreBackend.allCases)
    func outboxHoldsWhatToNotifyUntilDelivered(backend: StoreBackend) async throws {
        let store = try await backend.make()
        let log = try #require(store as? any AlertLog)
        #expect(try await log.recordAlerts([alert("r1", seq: 1), alert("old", seq: 2, notify: false), alert("r2", seq: 3)],
                                           evaluatedFrom: 0, through: 3, at: 50))
        var pending = try await log.pendingAlerts(limit: 10)
        #expect(pending.map(\.alert.rule) == ["r1", "r2"])
        let first = try #require(pending.first)
        try await log.markAlertFailed(first.id, error: "status 503 from http://127.0.0.1:1/hook")
        pending = try await log.pendingAlerts(limit: 10)
        #expect(pending.first?.failedAttempts == 1)
        #expect(pending.first?.lastError == "status 503 from http://127.0.0.1:1/hook")
        try await log.markAlertDelivered(first.id, at: 60)
        try await log.markAlertDelivered(first.id, at: 70)  // a repeat keeps the first time
        pending = try await log.pendingAlerts(limit: 10)
        #expect(pending.map(\.alert.rule) == ["r2"])
        #expect(try await log.pendingAlerts(limit: 1).count == 1)
        let delivered = try await log.alerts(since: 0, limit: nil).first { $0.id == first.id }
        #expect(delivered?.deliveredAt == 60)
        try await store.close()
    }
}
