import AuditAlerts
import AuditGenerator
import AuditHunt
import AuditModel
import AuditStore
import Foundation

extension Bench {
    /// `alerts hunt` over the query section's store: the built-in pack (and SigmaHQ's Kubernetes rules
    /// where `../shared/real-world/rules/sigma` is beside the repository) over every stored event,
    /// beside the engine alone over the same generated events with nothing to skip (what a hunt
    /// without an index, or `alerts test` over the raw log, costs).
    mutating func hunt(store: SQLiteStore, events: Int) async throws {
        // The reference: every event parsed and given to the engine.
        let sample = min(events, 200_000)
        let engine = AlertEngine(rules: .builtin)
        let lines = Array(AuditLogGenerator(GeneratorConfiguration(events: sample, seed: 41, node: "n1", rate: 100)))
        let t = ContinuousClock.now
        for line in lines { _ = engine.evaluate(event: line, cluster: "bench", node: "n1", now: Date()) }
        let engineRate = Double(sample) / seconds(since: t)
        var packs: [(String, AlertRuleSet)] = [("the built-in pack", .builtin)]
        let sigma = "../shared/real-world/rules/sigma"
        if FileManager.default.fileExists(atPath: sigma), let rules = try? AlertRuleSet.load(paths: [sigma], includeBuiltins: false) {
            packs.append(("SigmaHQ's \(rules.enabledRules.count) Kubernetes rules", rules))
        }
        for (name, rules) in packs {
            say("query: hunting with \(name) over \(events) events")
            let plan = HuntPlan(rules: rules)
            let report = try await Hunter.run(rules: rules, plan: plan, source: StoreHuntSource(store: store), since: nil, until: nil)
            let rate = Double(events) / max(report.seconds, 1e-9)
            figures.append(BenchFigure(
                section: "query",
                name: "alerts hunt, \(name) (\(report.scans) scans, \(report.eventsRead) of \(events) events read, \(report.firings.count) firings), stored events/s",
                value: rate, unit: "events/s", referenceName: "engine alone over every event", reference: engineRate,
                target: "a day of a busy cluster (25 M) in < 10 s: ≥ 2.5 M events/s", met: rate >= 2_500_000))
        }
    }
}
