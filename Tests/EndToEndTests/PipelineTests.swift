import CurlClient
import Foundation
import Gzip
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// End-to-end: real processes on 127.0.0.1.
@Suite(.serialized) struct PipelineTests {
    /// Three agents and one aggregator; one agent is SIGKILLed mid-stream and
    /// restarted; the store then holds exactly the generated events, each once.
    @Test func threeAgentsOneKilledMidStreamStoresEveryEventOnce() throws {
        let h = try Harness()
        let nodes = ["m1", "m2", "m3"]
        try h.makeCertificates(cluster: "prod", nodes: nodes)
        var expected: [[UInt8]] = []
        for (i, n) in nodes.enumerated() {
            expected += try h.generate(events: 15_000, seed: 10 + i, node: n, to: "\(h.dir)/\(n).log")
        }
        try h.startAggregator()
        var agents: [String: ChildProcess] = [:]
        for n in nodes {
            // Small batches so the stream lasts long enough to be interrupted.
            agents[n] = try h.start(h.agentArguments(cluster: "prod", node: n, path: "\(h.dir)/\(n).log", state: "\(h.dir)/state-\(n)",
                                                      extra: ["--batch-max-events", "100", "--batch-linger-ms", "50"]),
                                    log: "agent-\(n).log")
        }
        // Kill m1 once part, but not all, of the stream is stored.
        try h.waitUntil("some events are stored", seconds: 120) { try h.count(["--node", "m1"]) >= 2_000 }
        let victim = try #require(agents["m1"])
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        let storedAtKill = try h.count(["--node", "m1"])
        #expect(storedAtKill < 15_000, "the kill should land mid-stream (stored \(storedAtKill))")
        agents["m1"] = try h.start(h.agentArguments(cluster: "prod", node: "m1", path: "\(h.dir)/m1.log", state: "\(h.dir)/state-m1",
                                                     extra: ["--batch-max-events", "100", "--batch-linger-ms", "50"]),
                                   log: "agent-m1-restarted.log")
        try h.waitUntil("every event is stored", seconds: 180) { try h.count() >= expected.count }
        // Let any in-flight re-delivery land, then compare.
        usleep(500_000)
        let stored = try h.storedEvents()
        #expect(stored.count == expected.count)
        #expect(multiset(stored.map(\.event)) == multiset(expected))
        #expect(Set(stored.map(\.node)) == Set(nodes))
        #expect(h.read("agent-m1-restarted.log").contains("resuming file from checkpoint"))
        // Timestamp order across nodes.
        let times = stored.map { e -> String in
            let obj = (try? JSONSerialization.jsonObject(with: Data(e.event))) as? [String: Any]
            return obj?["stageTimestamp"] as? String ?? ""
        }
        #expect(times == times.sorted())
        for p in agents.values { kill(p.processIdentifier, SIGTERM); p.waitUntilExit(); #expect(p.terminationStatus == 0) }
    }

    /// A malformed line is reported with its file and line number, quarantined,
    /// and the lines after it are stored.
    @Test func malformedLineIsReportedWithFileAndLineAndTheRestFlows() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "c1", nodes: ["n1"])
        let good = try h.generate(events: 50, seed: 3, node: "n1", to: "\(h.dir)/gen.log")
        var lines = good.map { String(decoding: $0, as: UTF8.self) }
        lines.insert("{\"auditID\":\"broken\", this is not json", at: 2)
        lines.insert("plain text from a misconfigured logger", at: 10)
        let path = "\(h.dir)/audit.log"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        try h.startAggregator()
        let (status, output) = try h.run(h.agentArguments(cluster: "c1", node: "n1", path: path, state: "\(h.dir)/state", extra: ["--exit-when-caught-up"]))
        #expect(status == 0)
        #expect(output.contains("file.line=3"))
        #expect(output.contains("file.line=11"))
        #expect(output.contains("file.path=\(path)"))
        #expect(!output.contains("misconfigured logger"), "event content must not reach our logs")
        let stored = try h.storedEvents()
        #expect(multiset(stored.map(\.event)) == multiset(good))
        let quarantine = try String(contentsOfFile: "\(h.dir)/state/quarantine.ndjson", encoding: .utf8)
        #expect(quarantine.split(separator: "\n").count == 2)
        #expect(quarantine.contains("\"line\":3"))
        // A second run ships nothing new: the checkpoint is past the bad lines too.
        let (_, again) = try h.run(h.agentArguments(cluster: "c1", node: "n1", path: path, state: "\(h.dir)/state", extra: ["--exit-when-caught-up"]))
        #expect(!again.contains("line quarantined"))
        #expect(try h.count() == good.count)
    }

    /// Mutual TLS: no client certificate, or one from another CA, fails the handshake;
    /// a certificate for one cluster cannot write for another; a reader cannot write.
    @Test func certificatesDecideWhoMayWrite() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "blue", nodes: ["n1"])
        try h.makeCertificates(cluster: "blue", nodes: ["n1"], into: h.dir + "/other-ca")
        try h.startAggregator()
        let url = "https://\(h.aggregatorAddress)/v1/batches"
        let body = try Gzip.compress(Array("{\"auditID\":\"x\",\"verb\":\"get\"}\n".utf8))
        func post(cert: String?, key: String?, cluster: String = "blue", node: String = "n1") throws -> HTTPResponse {
            let c = try HTTPClient(tls: ClientTLSConfiguration(certificateFile: cert, keyFile: key, caFile: h.certs + "/ca.pem"))
            return try c.request(method: "POST", url: url, headers: [
                "Content-Encoding: gzip", "X-Auditship-Cluster: \(cluster)", "X-Auditship-Node: \(node)",
            ], body: body, timeoutSeconds: 20)
        }
        // No certificate.
        #expect { try post(cert: nil, key: nil) } throws: { ($0 as? HTTPClientError)?.kind == .tls }
        // A certificate from another CA.
        #expect { try post(cert: h.dir + "/other-ca/agent-blue-n1.pem", key: h.dir + "/other-ca/agent-blue-n1-key.pem") } throws: {
            ($0 as? HTTPClientError)?.kind == .tls
        }
        // The right certificate claiming another cluster or node.
        let wrongCluster = try post(cert: h.certs + "/agent-blue-n1.pem", key: h.certs + "/agent-blue-n1-key.pem", cluster: "red")
        #expect(wrongCluster.status == 403)
        #expect(wrongCluster.bodyText.contains("wrong_cluster"))
        let wrongNode = try post(cert: h.certs + "/agent-blue-n1.pem", key: h.certs + "/agent-blue-n1-key.pem", node: "n2")
        #expect(wrongNode.status == 403)
        // A reader may not write.
        let reader = try post(cert: h.certs + "/reader-admin.pem", key: h.certs + "/reader-admin-key.pem")
        #expect(reader.status == 403)
        // The agent's own certificate works.
        let ok = try post(cert: h.certs + "/agent-blue-n1.pem", key: h.certs + "/agent-blue-n1-key.pem")
        #expect(ok.status == 200)
        #expect(ok.bodyText.contains("\"stored\":1"))
        #expect(h.read("aggregator.log").contains("wrong_cluster"))
        #expect(try h.count() == 1)
    }

    /// The webhook endpoint takes an EventList as kube-apiserver posts it.
    @Test func webhookTakesAnEventList() throws {
        let h = try Harness()
        try h.run(["certs", "init", "--out", h.certs, "--cluster", "edge", "--webhook", "--reader", "admin"])
        try h.startAggregator()
        let events = try h.generate(events: 20, seed: 9, node: "x", to: "\(h.dir)/gen.log")
        let list = "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"metadata\":{},\"items\":[" +
            events.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ",") + "]}"
        let c = try HTTPClient(tls: ClientTLSConfiguration(certificateFile: h.certs + "/webhook-edge.pem",
                                                           keyFile: h.certs + "/webhook-edge-key.pem", caFile: h.certs + "/ca.pem"))
        let r = try c.request(method: "POST", url: "https://\(h.aggregatorAddress)/v1/webhook",
                              headers: ["Content-Type: application/json"], body: Array(list.utf8))
        #expect(r.status == 200)
        let stored = try h.storedEvents(["--cluster", "edge"])
        #expect(multiset(stored.map(\.event)) == multiset(events))
        #expect(Set(stored.map(\.node)) == ["webhook"])
        // The reader queries through the aggregator.
        let (_, viaAPI) = try h.run(["query", "--aggregator", "https://\(h.aggregatorAddress)", "--tls-cert", h.certs + "/reader-admin.pem",
                                     "--tls-key", h.certs + "/reader-admin-key.pem", "--ca", h.certs + "/ca.pem", "--count"])
        #expect(viaAPI.trimmingCharacters(in: .whitespacesAndNewlines) == "20")
    }

    /// The agent applies an audit Policy: what it stores is what `policy simulate` predicts;
    /// SIGHUP with a broken policy keeps the old one in force.
    @Test func agentAppliesThePolicyAndSurvivesABadReload() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "p", nodes: ["n1"])
        let log = "\(h.dir)/audit.log"
        try h.generate(events: 3000, seed: 21, node: "n1", to: log)
        let policy = Harness.repositoryRoot + "/Deploy/policies/recommended.yaml"
        let (_, simulated) = try h.run(["policy", "simulate", "--policy", policy, "--format", "json", log])
        let totals = try #require((try JSONSerialization.jsonObject(with: Data(simulated.utf8)) as? [String: Any])?["totals"] as? [String: Any])
        let expectedAfter = try #require(totals["events_after"] as? Int)
        #expect(expectedAfter > 0 && expectedAfter < 3000)
        try h.startAggregator()
        // Work on a copy of the policy so that it can be broken while the agent runs.
        let livePolicy = "\(h.dir)/policy.yaml"
        try FileManager.default.copyItem(atPath: policy, toPath: livePolicy)
        let agent = try h.start(h.agentArguments(cluster: "p", node: "n1", path: log, state: "\(h.dir)/state", extra: ["--policy", livePolicy]),
                                log: "agent.log")
        try h.waitUntil("the policy-filtered events are stored", seconds: 120) { try h.count() >= expectedAfter }
        try "rules: [ {level: Loud} ]\n".write(toFile: livePolicy, atomically: true, encoding: .utf8)
        kill(agent.processIdentifier, SIGHUP)
        try h.waitUntil("the agent reports the refused policy", seconds: 30) { h.read("agent.log").contains("new policy refused") }
        #expect(agent.isRunning)
        // New lines are still filtered by the old policy.
        let more = try h.generate(events: 400, seed: 22, node: "n1", to: "\(h.dir)/more.log")
        let handle = try #require(FileHandle(forWritingAtPath: log))
        handle.seekToEndOfFile()
        for line in more { handle.write(Data(line)); handle.write(Data([0x0A])) }
        try handle.close()
        let (_, moreSimulated) = try h.run(["policy", "simulate", "--policy", policy, "--format", "json", "\(h.dir)/more.log"])
        let moreTotals = try #require((try JSONSerialization.jsonObject(with: Data(moreSimulated.utf8)) as? [String: Any])?["totals"] as? [String: Any])
        let moreAfter = try #require(moreTotals["events_after"] as? Int)
        try h.waitUntil("the appended events are stored", seconds: 120) { try h.count() >= expectedAfter + moreAfter }
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
        #expect(agent.terminationStatus == 0)
        #expect(try h.count() == expectedAfter + moreAfter)
        #expect(try h.count(["--user", "system:kube-proxy"]) == 0)
    }
}
