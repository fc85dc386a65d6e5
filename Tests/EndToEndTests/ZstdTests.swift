import CurlClient
import Foundation
import Testing

/// `--compression zstd`: the agent sends (and spools) zstd bodies, the aggregator takes them with
/// the same limits as gzip, and every event is stored once.
@Suite(.serialized) struct ZstdTests {
    /// The aggregator is down at first, so batches go to the spool as zstd; once it is up, they
    /// are sent as they are (Content-Encoding from their first bytes) and the store holds exactly the log.
    @Test func anAgentShipsZstdBodiesThroughItsSpool() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "z", nodes: ["n1"])
        let lines = try h.generate(events: 3000, seed: 61, node: "n1", to: "\(h.dir)/audit.log")
        try h.startAggregator()
        h.stopAggregator()
        let agent = try h.start(h.agentArguments(cluster: "z", node: "n1", path: "\(h.dir)/audit.log", state: "\(h.dir)/state",
                                                  extra: ["--compression", "zstd", "--batch-max-events", "500", "--batch-linger-ms", "20",
                                                          "--poll-interval-ms", "20", "--metrics-listen", "127.0.0.1:0"]),
                                log: "agent.log")
        defer { kill(agent.processIdentifier, SIGTERM); agent.waitUntilExit() }
        let address = try h.metricsAddress(log: "agent.log")
        let client = try HTTPClientForTests()
        try h.waitUntil("the agent has spooled the whole log", seconds: 60) {
            try client.metric(address, "auditship_agent_events_read_total") >= Double(lines.count)
                && client.metric(address, "auditship_agent_spool_batches") >= 4
        }
        // The spooled bodies are zstd frames (magic 28 b5 2f fd), not gzip.
        let spool = "\(h.dir)/state/spool"
        let files = try FileManager.default.contentsOfDirectory(atPath: spool).filter { !$0.hasPrefix(".") && $0 != "damaged" }
        let bytes = try files.map { try [UInt8](Data(contentsOf: URL(fileURLWithPath: spool + "/" + $0))) }
        let zstdMagic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]
        #expect(!bytes.isEmpty && bytes.allSatisfy { b in (0..<max(0, b.count - 3)).contains { Array(b[$0..<$0 + 4]) == zstdMagic } },
                "every spool file holds a zstd frame")
        try h.startAggregator()
        try h.waitUntil("every event is stored", seconds: 120) { try h.count() >= lines.count }
        usleep(300_000)
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(lines))
        try h.waitUntil("the spool drains", seconds: 30) { try client.metric(address, "auditship_agent_spool_batches") == 0 }
        h.stopAggregator()
    }

    /// zstd bodies get gzip's limits: a bomb is refused at the decompressed-size limit, garbage
    /// says it is not zstd, an unknown encoding names the ones accepted.
    @Test func zstdBodiesHaveTheSameLimits() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "z", nodes: ["n1"])
        try h.startAggregator(extra: ["--max-decompressed-bytes", "4000000"])
        defer { h.stopAggregator() }
        let http = try HTTPClient(tls: ClientTLSConfiguration(certificateFile: h.certs + "/agent-z-n1.pem", keyFile: h.certs + "/agent-z-n1-key.pem",
                                                              caFile: h.certs + "/ca.pem"))
        func post(_ body: [UInt8], encoding: String) throws -> CurlClient.HTTPResponse {
            try http.request(method: "POST", url: "https://\(h.aggregatorAddress)/v1/batches", headers: [
                "Content-Type: application/x-ndjson", "Content-Encoding: \(encoding)", "X-Auditship-Cluster: z",
                "X-Auditship-Node: n1", "X-Auditship-Batch-Id: zstd-\(body.count)",
            ], body: body)
        }
        let zeros = [UInt8](repeating: 0, count: 64 << 20)
        let bomb = try zstd(zeros)
        #expect(bomb.count < 100_000)
        let r1 = try post(bomb, encoding: "zstd")
        #expect(r1.status == 413 && r1.bodyText.contains("too_large"))
        let r2 = try post(Array("not zstd at all".utf8), encoding: "zstd")
        #expect(r2.status == 400 && r2.bodyText.contains("bad_zstd"))
        let r3 = try post(Array("x".utf8), encoding: "br")
        #expect(r3.status == 415 && r3.bodyText.contains("gzip, zstd or identity"))
        let good = try h.generate(events: 50, seed: 62, node: "n1", to: "\(h.dir)/gen.log")
        let r4 = try post(try zstd(Array(good.map { $0 + [0x0A] }.joined())), encoding: "zstd")
        #expect(r4.status == 200)
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(good))
    }

    /// zstd level 1 by Debian's `zstd` tool (the tests' own reference, not the code under test).
    func zstd(_ bytes: [UInt8]) throws -> [UInt8] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zstd-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/in"))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "zstd -q -1 -f '\(dir)/in' -o '\(dir)/out.zst'"]
        try p.run()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "the zstd tool is needed (apt-get install zstd; Tests/run installs it)")
        return try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/out.zst")))
    }
}
