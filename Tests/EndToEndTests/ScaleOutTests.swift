import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// End-to-end on PostgreSQL: several aggregators on one database, agents failing over.
@Suite(.serialized) struct ScaleOutTests {
    /// Three agents, two aggregators, one PostgreSQL. One aggregator is SIGKILLed mid-stream
    /// and restarted later; its agents move their batches to the other one. The database then
    /// holds exactly the generated events, each once, each tagged with its own node.
    @Test func threeAgentsTwoAggregatorsOneKilledStoreEveryEventOnce() throws {
        let h = try Harness()
        try h.startPostgres()
        // m2 starts at the first aggregator, m1 and m3 at the second (FNV-1a of the node name).
        let nodes = ["m1", "m2", "m3"]
        try h.makeCertificates(cluster: "prod", nodes: nodes)
        var expected: [[UInt8]] = []
        var perNode: [String: [[UInt8]]] = [:]
        for (i, n) in nodes.enumerated() {
            perNode[n] = try h.generate(events: 8_000, seed: 80 + i, node: n, to: "\(h.dir)/\(n)-gen.log")
            expected += perNode[n] ?? []
        }
        // Like a live apiserver, each file grows while the agents run: 100 lines every 100 ms.
        let writers = DispatchGroup()
        for n in nodes {
            let lines = perNode[n] ?? [], path = "\(h.dir)/\(n).log"
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            DispatchQueue.global().async(group: writers) { appendSlowly(lines, to: path, linesPerTick: 100, tickMilliseconds: 100) }
        }
        // Each aggregator signs with a key of its own; both export to one directory (a file per key).
        try h.run(["certs", "init", "--out", "\(h.dir)/keys-b"])
        let exports = "\(h.dir)/checkpoints"
        func signing(_ key: String) -> [String] { ["--checkpoint-key", key, "--checkpoint-interval", "1s", "--checkpoint-export", exports] }
        let keyA = "\(h.certs)/checkpoint-key.pem", keyB = "\(h.dir)/keys-b/checkpoint-key.pem"
        let first = try h.startAggregator(name: "aggregator-a", extra: signing(keyA))
        let second = try h.startAggregator(name: "aggregator-b", extra: signing(keyB))
        var agents: [String: ChildProcess] = [:]
        for n in nodes {
            agents[n] = try h.start(h.agentArguments(cluster: "prod", node: n, path: "\(h.dir)/\(n).log", state: "\(h.dir)/state-\(n)",
                                                      aggregators: [first.address, second.address],
                                                      extra: ["--batch-max-events", "100", "--batch-linger-ms", "50"]),
                                    log: "agent-\(n).log")
        }
        try h.waitUntil("a fifth of the events is stored", seconds: 240) { try h.count() >= expected.count / 5 }
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()
        let atKill = try h.count()
        #expect(atKill < expected.count, "the kill should land mid-stream (stored \(atKill))")
        // The agents of the dead aggregator carry on through the other one.
        try h.waitUntil("more is stored through the remaining aggregator", seconds: 240) {
            try h.count() >= min(expected.count, atKill + 3_000)
        }
        let restarted = try h.startAggregator(name: "aggregator-a-restarted", listen: first.address, extra: signing(keyA))
        writers.wait()
        try h.waitUntil("every event is stored", seconds: 300) { try h.count() >= expected.count }
        usleep(500_000)
        for p in agents.values { kill(p.processIdentifier, SIGTERM); p.waitUntilExit(); #expect(p.terminationStatus == 0) }

        let stored = try h.storedEvents()
        #expect(stored.count == expected.count)
        #expect(multiset(stored.map(\.event)) == multiset(expected))
        for n in nodes {
            #expect(Set(try h.storedEvents(["--node", n]).map(\.event)) == Set(perNode[n] ?? []), "node \(n)")
        }
        // The agents that started at the killed aggregator failed over, and said so.
        #expect(h.read("agent-m2.log").contains("failing over"), "agent m2 should have failed over")
        // With the other aggregator up, the batch moved on at once: no backoff, no spool.
        #expect(!h.read("agent-m2.log").contains("will retry"), "a failover should not need a retry")
        #expect(!h.read("agent-m1.log").contains("failing over"), "agent m1 was never on the killed aggregator")
        // Both aggregators evaluated alert rules on the shared store: each firing is recorded once.
        try h.waitUntil("alert evaluation caught up", seconds: 60) {
            let (_, out) = try h.run(["alerts", "list", "--store", h.storeURL, "--since", "1h", "--format", "json"])
            return splitLines(Data(out.utf8)).count > 0
        }
        let (_, listed) = try h.run(["alerts", "list", "--store", h.storeURL, "--since", "1h", "--format", "json"])
        let keys = splitLines(Data(listed.utf8)).compactMap { line -> String? in
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else { return nil }
            return "\(o["rule"] ?? "") \(o["auditID"] ?? "") \(o["stage"] ?? "")"
        }
        #expect(!keys.isEmpty)
        #expect(Set(keys).count == keys.count, "an alert was recorded twice")
        kill(restarted.process.processIdentifier, SIGTERM)
        restarted.process.waitUntilExit()
        kill(second.process.processIdentifier, SIGTERM)
        second.process.waitUntilExit()
        #expect(second.process.terminationStatus == 0)
        // One chain for the cluster, extended by both aggregators (and not broken by the SIGKILL,
        // whose open transactions rolled back whole), signed by both keys.
        let (_, verified) = try h.run(["verify", "--store", h.storeURL, "--public-key", "\(h.certs)/checkpoint-key.pub.pem",
                                       "--public-key", "\(h.dir)/keys-b/checkpoint-key.pub.pem", "--checkpoints", exports, "--format", "json"])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(verified.utf8)) as? [String: Any])
        // The cluster's chains: `prod`, and lanes `prod~N` opened when batches committed at the same time.
        let chains = (report["clusters"] as? [[String: Any]]) ?? []
        #expect(report["ok"] as? Bool == true, "\(verified)")
        #expect(chains.allSatisfy { ($0["cluster"] as? String).map { $0 == "prod" || $0.hasPrefix("prod~") } == true })
        #expect(chains.reduce(0) { $0 + (($1["eventsVerified"] as? Int) ?? 0) } == expected.count)
        #expect(chains.allSatisfy { $0["unsignedFrom"] == nil }, "the last checkpoints at shutdown cover every chain: \(verified)")
    }
}

/// Appends `lines` to `path` a few at a time, as a running apiserver writes its log.
func appendSlowly(_ lines: [[UInt8]], to path: String, linesPerTick: Int, tickMilliseconds: Int) {
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    guard fd >= 0 else { return }
    defer { close(fd) }
    var i = 0
    while i < lines.count {
        var chunk: [UInt8] = []
        for line in lines[i..<min(i + linesPerTick, lines.count)] { chunk += line; chunk.append(0x0A) }
        i += linesPerTick
        _ = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        usleep(UInt32(tickMilliseconds * 1000))
    }
}
