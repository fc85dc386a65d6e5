import Foundation
import Testing
@testable import AuditPolicy

@Suite("policy simulate")
struct SimulationTests {
    static let policy: AuditPolicy = AuditPolicy(rules: [
        PolicyRule(level: .none, users: ["system:kube-proxy"], verbs: ["watch"]),
        PolicyRule(level: .metadata, resources: [GroupResources(resources: ["secrets"])]),
        PolicyRule(level: .requestResponse, verbs: ["create", "update", "patch", "delete"]),
    ], omitStages: [.requestReceived])

    /// A deterministic mixed stream; outcome derived the way the CLI does it.
    static func run(events: Int) -> (SimulationReport, expectedDropped: Int) {
        var sim = PolicySimulation(policy: policy, topTalkers: 3)
        var rng = SplitMix(seed: 7)
        var dropped = 0
        for i in 0..<events {
            let user = ["system:kube-proxy", "alice", "bob"][Int(rng.next() % 3)]
            let verb = ["watch", "get", "create", "update"][Int(rng.next() % 4)]
            let resource = ["endpoints", "secrets", "pods"][Int(rng.next() % 3)]
            let stage: AuditStage = rng.next() % 2 == 0 ? .requestReceived : .responseComplete
            let request = PolicyRequest.resource(user: user, verb: verb, resource: resource, namespace: "default")
            let decision = policy.evaluate(request)
            let bytes = 500 + Int(rng.next() % 1500)
            let outcome: SimulatedOutcome = decision.records(stage: stage) ? .kept(bytesAfter: bytes / (decision.level == .metadata ? 2 : 1)) : .dropped
            if outcome == .dropped { dropped += 1 }
            sim.record(request: request, stage: stage, originalLevel: "RequestResponse", minute: 29_000_000 + Int64(i / 50),
                       bytesBefore: bytes, outcome: outcome, decision: decision)
        }
        return (sim.report(), dropped)
    }

    @Test(arguments: [0, 1, 137, 5000])
    func totalsReconcile(events: Int) {
        let (r, dropped) = Self.run(events: events)
        let t = r.totals
        #expect(r.reconciles)
        #expect(t.eventsBefore == events)
        #expect(t.eventsDropped == dropped)
        #expect(t.eventsBefore == t.eventsAfter + t.eventsDropped)
        #expect(t.bytesBefore == t.bytesAfter + t.bytesSaved)
        #expect(r.rules.reduce(0) { $0 + $1.hits } == t.eventsBefore)
        #expect(r.rules.reduce(0) { $0 + $1.dropped } == t.eventsDropped)
        #expect(r.rules.reduce(0) { $0 + $1.bytesSaved } == t.bytesSaved)
        #expect(r.levels.reduce(0) { $0 + $1.eventsAfter } == t.eventsAfter)
        #expect(r.levels.reduce(0) { $0 + $1.eventsBefore } == t.eventsBefore)
        #expect(r.perMinute.series.reduce(0) { $0 + $1.before } == t.eventsBefore)
        #expect(r.topTalkers.count <= 3)
    }

    @Test func perRuleAndTalkersAndMinutes() {
        let (r, _) = Self.run(events: 5000)
        #expect(r.rules.count == 4)  // 3 rules + "no rule"
        #expect(r.rules[0].label == "#1 None: watch by system:kube-proxy on anything")
        #expect(r.rules[0].dropped == r.rules[0].hits)  // level None drops everything
        #expect(r.rules[3].rule == nil)
        #expect(!r.topTalkers.contains { $0.user == "system:kube-proxy" && $0.verb == "watch" })
        #expect(r.topTalkers.map(\.events) == r.topTalkers.map(\.events).sorted(by: >))
        #expect(r.perMinute.minutes == 100)
        #expect(r.perMinute.before.min == 50 && r.perMinute.before.max == 50)
        #expect(r.perMinute.after.max <= 50)
        #expect(r.stages.map(\.stage) == ["RequestReceived", "ResponseComplete"])
        #expect(r.stages.first?.eventsAfter == 0)
    }

    @Test func quietMinutesCount() {
        var sim = PolicySimulation(policy: Self.policy)
        let d = Self.policy.evaluate(.nonResource(user: "a", verb: "get", path: "/x"))
        sim.record(request: .nonResource(user: "a", verb: "get", path: "/x"), stage: .responseComplete, originalLevel: "Metadata",
                   timestamp: Date(timeIntervalSince1970: 600), bytesBefore: 10, outcome: .dropped, decision: d)
        sim.record(request: .nonResource(user: "a", verb: "get", path: "/x"), stage: .responseComplete, originalLevel: "Metadata",
                   timestamp: Date(timeIntervalSince1970: 839), bytesBefore: 10, outcome: .kept(bytesAfter: 8), decision: d)
        let r = sim.report()
        #expect(r.perMinute.series.map(\.minute) == [10, 11, 12, 13])
        #expect(r.perMinute.before.min == 0 && r.perMinute.before.max == 1 && r.perMinute.before.avg == 0.5)
        #expect(r.reconciles)
        #expect(r.totals == .init(eventsBefore: 2, eventsAfter: 1, eventsDropped: 1, bytesBefore: 20, bytesAfter: 8, bytesSaved: 12))
        #expect(r.topTalkers.first?.resource == "/x")
    }

    @Test func rendersTableAndJSON() throws {
        let (r, _) = Self.run(events: 300)
        let table = r.renderTable()
        #expect(table.contains("Totals"))
        #expect(table.contains("totals reconcile: before = after + dropped"))
        #expect(table.contains("#2 Metadata: any verb on core secrets"))
        let json = try r.renderJSON()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["totals", "reconciles", "rules", "levels", "stages", "top_talkers", "per_minute"])
        let totals = try #require(object["totals"] as? [String: Any])
        #expect(Set(totals.keys) == ["events_before", "events_after", "events_dropped", "bytes_before", "bytes_after", "bytes_saved"])
        let rules = try #require(object["rules"] as? [[String: Any]])
        #expect(rules.last?["rule"] is NSNull)
        let decoded = try JSONDecoder().decode(SimulationReport.self, from: Data(json.utf8))
        #expect(decoded == r)
    }
}
