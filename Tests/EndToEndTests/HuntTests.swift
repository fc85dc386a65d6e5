import Foundation
import SharedFixtures
import Testing

/// End-to-end: `auditship alerts hunt` over a store, directly and through the aggregator with
/// reader certificates, finds exactly what `alerts test` finds on the same events.
@Suite(.serialized) struct HuntTests {
    /// (rule, auditID, stage) of each JSON firing line in a command's output, with repeats.
    static func firings(_ output: String) -> [String: Int] {
        var out: [String: Int] = [:]
        for line in output.split(separator: "\n") where line.hasPrefix("{") {
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { continue }
            out["\(o["rule"] as? String ?? "?") \(o["auditID"] as? String ?? "?") \(o["stage"] as? String ?? "?")", default: 0] += 1
        }
        return out
    }

    @Test func huntFindsWhatAlertsTestFindsInTheStoreAndThroughTheAggregator() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "prod", nodes: ["m1"], readers: ["admin", "staging-only=staging"])
        let log = "\(h.dir)/audit.log"
        _ = try h.generate(events: 3_000, seed: 11, node: "m1", to: log)
        let handle = try #require(FileHandle(forWritingAtPath: log))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(AlertTests.firingEvents().map { $0.line + "\n" }.joined().utf8))
        try handle.close()
        // With ../shared, SigmaHQ's Kubernetes rules are hunted beside the built-in pack.
        var rules: [String] = []
        if SharedData.exists("real-world/rules/sigma") { rules = ["--rules", SharedData.path("real-world/rules/sigma")] }

        try h.run(["backfill", "--cluster", "prod", "--node", "m1", "--state-dir", "\(h.dir)/state", "--store", h.storeURL, log])
        let (_, testOut) = try h.run(["alerts", "test", "--format", "json"] + rules + [log])
        let expected = Self.firings(testOut)
        #expect(expected.values.reduce(0, +) >= 3, "the appended events fire: \(testOut.suffix(2000))")

        let window = ["--since", "2000-01-01T00:00:00Z", "--format", "json"]
        let (_, direct) = try h.run(["alerts", "hunt", "--store", h.storeURL, "--explain"] + window + rules)
        #expect(Self.firings(direct) == expected, "\(direct.suffix(3000))")
        #expect(direct.contains("events read ("), "the summary says what was read (and how much was parsed)")
        // Hunting records and sends nothing (no aggregator has evaluated these events yet).
        let (_, recorded) = try h.run(["alerts", "list", "--store", h.storeURL, "--since", "3650d", "--format", "json"])
        #expect(!recorded.contains("{"), "\(recorded.suffix(1000))")

        try h.startAggregator()
        func reader(_ name: String) -> [String] {
            ["--aggregator", "https://\(h.aggregatorAddress)", "--tls-cert", h.certs + "/reader-\(name).pem",
             "--tls-key", h.certs + "/reader-\(name)-key.pem", "--ca", h.certs + "/ca.pem"]
        }
        let (_, remote) = try h.run(["alerts", "hunt"] + reader("admin") + window + rules)
        #expect(Self.firings(remote) == expected, "\(remote.suffix(3000))")
        // A reader of another cluster hunts nothing of prod's.
        let (_, limited) = try h.run(["alerts", "hunt"] + reader("staging-only") + window + rules)
        #expect(Self.firings(limited).isEmpty, "\(limited.suffix(2000))")
        #expect(limited.contains("0 events read"), "\(limited.suffix(2000))")
    }
}
