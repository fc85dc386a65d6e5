import AuditModel
@testable import AuditStore
import Foundation
import GRDB
import Testing

/// A store of schema v6 (Tests/Fixtures/store-v6) gets the v7 hourly rollup, keyed by node and
/// response code too, rebuilt from its blocks when a writer opens it: counts, facets and
/// statistics of whole hours then agree with the events counted one by one.
@Suite struct RollupUpgradeTests {
    func oldStore() throws -> String { try FixtureStores.unpack("store-v6") }

    @Test func theRollupIsRebuiltWithNodeAndCode() async throws {
        let store = try SQLiteStore(path: try oldStore())
        let columns = try await store.pool.read { db in try db.columns(in: "rollup_hour").map(\.name) }
        #expect(columns.contains("node") && columns.contains("code"))
        let all = try await store.events(EventQuery(ingestedAfter: 0, ingestOrder: true))
        #expect(all.count == 500)
        struct E { var node: String; var user: String; var verb: String; var code: Int?; var time: Int64 }
        let events = try all.map { e -> E in
            let s = try EventScanner.scan(e.bytes)
            return E(node: e.node, user: s.username ?? "", verb: s.verb, code: s.responseCode, time: s.orderTimestamp.microseconds)
        }
        let busiest = Dictionary(grouping: events, by: \.user).max { $0.value.count < $1.value.count }?.key ?? ""
        var byNode = EventQuery(); byNode.node = "m2"
        var byCode = EventQuery(user: busiest); byCode.code = 200
        var byClass = EventQuery(); byClass.codeClass = 4; byClass.node = "m1"
        let hour: Int64 = 3_600_000_000
        let base = try #require(Timestamp(rfc3339: "2026-03-01T11:00:00Z")).microseconds
        for (since, until) in [(nil, nil), (base, base + hour), (base - 30 * 60_000_000, base + 2 * hour)] as [(Int64?, Int64?)] {
            for var q in [EventQuery(), byNode, byCode, byClass, EventQuery(user: busiest)] {
                q.since = since.map { Timestamp(microseconds: $0) }
                q.until = until.map { Timestamp(microseconds: $0) }
                let kept = events.filter { e in
                    (since.map { e.time >= $0 } ?? true) && (until.map { e.time < $0 } ?? true)
                        && (q.node.map { e.node == $0 } ?? true) && (q.user.map { e.user == $0 } ?? true)
                        && (q.code.map { e.code == $0 } ?? true) && (q.codeClass.map { ($0 * 100..<$0 * 100 + 100).contains(e.code ?? 0) } ?? true)
                }
                let label = "\(q)"
                #expect(try await store.count(q) == kept.count, "\(label)")
                let facets = try await store.facets(q, fields: [.node, .code, .verb], top: 100)
                #expect(Dictionary(uniqueKeysWithValues: (facets[.node] ?? []).map { ($0.value, $0.count) })
                        == Dictionary(grouping: kept, by: \.node).mapValues(\.count), "\(label), node")
                #expect(Dictionary(uniqueKeysWithValues: (facets[.code] ?? []).map { ($0.value, $0.count) })
                        == Dictionary(grouping: kept.filter { $0.code != nil }, by: { String($0.code ?? 0) }).mapValues(\.count), "\(label), code")
                #expect(Dictionary(uniqueKeysWithValues: (facets[.verb] ?? []).map { ($0.value, $0.count) })
                        == Dictionary(grouping: kept, by: \.verb).mapValues(\.count), "\(label), verb")
                let stats = try await store.statistics(q)
                #expect(stats.byNode == Dictionary(grouping: kept, by: \.node).mapValues(\.count), "\(label), statistics")
            }
        }
    }
}
