import CurlClient
import Foundation
import Gzip
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// End-to-end: what reaches the store from interleaved, repeated, reordered and forged streams.
@Suite(.serialized) struct ExactlyOnceTests {
    /// Three agents ship interleaving streams that carry injected duplicates (another node's
    /// lines, and a node's own lines twice) and same-auditID/other-content forgeries, while a
    /// fourth client posts batches newest-first, one of them twice and one overlapping what
    /// an agent ships. The store holds each distinct event once, reports exactly the forged
    /// auditIDs as collisions, and answers in timestamp order.
    @Test func interleavedStreamsWithDuplicatesReorderingAndCollisions() throws {
        let h = try Harness()
        let nodes = ["m1", "m2", "m3"]
        try h.makeCertificates(cluster: "prod", nodes: nodes)
        var files: [String: [[UInt8]]] = [:]
        for (i, n) in nodes.enumerated() {
            // The same start time and rate for every node: the streams interleave in time.
            files[n] = try h.generate(events: 3_000, seed: 60 + i, node: n, to: "\(h.dir)/\(n)-gen.log")
        }
        let m1 = try #require(files["m1"]), m2 = try #require(files["m2"]), m3 = try #require(files["m3"])
        // Injected duplicates: m2 also carries 300 of m1's lines (an event seen through two
        // apiservers of one cluster); m3 carries 100 of its own lines a second time, later.
        let copiedFromM1 = Array(m1[1_000..<1_300])
        let repeatedInM3 = Array(m3[500..<600])
        // Forgeries: other bytes, the same auditID and stage as 40 of m1's events, from m3.
        let forgedIndexes = stride(from: 17, to: 3_000, by: 75).map { $0 }
        let forged = forgedIndexes.map { i -> [UInt8] in [UInt8]("{\"forged\":true,".utf8) + m1[i].dropFirst() }
        var m3Stream = m3
        m3Stream.insert(contentsOf: forged, at: 1_500)
        m3Stream += repeatedInM3
        let streams = ["m1": m1, "m2": m2 + copiedFromM1, "m3": m3Stream]
        for (n, lines) in streams {
            let data = lines.reduce(into: [UInt8]()) { $0 += $1; $0.append(0x0A) }
            try Data(data).write(to: URL(fileURLWithPath: "\(h.dir)/\(n).log"))
        }
        // Posted directly, newest batch first: 400 more events of m3, a batch sent twice,
        // and a batch overlapping what m1's agent ships.
        let extra = try h.generate(events: 400, seed: 99, node: "m3", to: "\(h.dir)/extra-gen.log")
        var batches = stride(from: 0, to: extra.count, by: 80).map { Array(extra[$0..<min($0 + 80, extra.count)]) }.reversed().map { $0 }
        batches.insert(batches[1], at: 3)
        batches.append(Array(m1[2_000..<2_050]))

        try h.startAggregator()
        var agents: [ChildProcess] = []
        for n in nodes {
            agents.append(try h.start(h.agentArguments(cluster: "prod", node: n, path: "\(h.dir)/\(n).log", state: "\(h.dir)/state-\(n)",
                                                       extra: ["--batch-max-events", "150", "--batch-linger-ms", "50"]),
                                      log: "agent-\(n).log"))
        }
        let client = try HTTPClient(tls: ClientTLSConfiguration(
            certificateFile: h.certs + "/agent-prod-m3.pem", keyFile: h.certs + "/agent-prod-m3-key.pem", caFile: h.certs + "/ca.pem"))
        var postedDuplicates = 0
        for (i, batch) in batches.enumerated() {
            let body = try Gzip.compress(batch.reduce(into: [UInt8]()) { $0 += $1; $0.append(0x0A) })
            let r = try client.request(method: "POST", url: "https://\(h.aggregatorAddress)/v1/batches", headers: [
                "Content-Encoding: gzip", "X-Auditship-Cluster: prod", "X-Auditship-Node: m3",
                "X-Auditship-Batch-Id: direct-\(i == 3 ? 1 : i)",
            ], body: body, timeoutSeconds: 60)
            #expect(r.status == 200, "batch \(i): \(r.bodyText)")
            let answer = (try JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any]
            postedDuplicates += answer?["duplicates"] as? Int ?? 0
        }
        #expect(postedDuplicates >= 80, "the batch sent twice is stored once (duplicates: \(postedDuplicates))")

        var distinct: [[UInt8]: Int] = [:]
        for line in streams.values.joined() { distinct[line] = 1 }
        for line in extra { distinct[line] = 1 }
        try h.waitUntil("every distinct event is stored", seconds: 240) { try h.count() >= distinct.count }
        for a in agents { kill(a.processIdentifier, SIGTERM); a.waitUntilExit(); #expect(a.terminationStatus == 0) }

        let stored = try h.storedEvents()
        #expect(stored.count == distinct.count)
        #expect(multiset(stored.map(\.event)) == distinct)
        #expect(Set(stored.map(\.cluster)) == ["prod"])
        // Collisions: exactly the forged auditIDs, two events each.
        let (_, out) = try h.run(["query", "--store", h.storeURL, "--collisions"])
        var collided: [String: Int] = [:]
        for line in splitLines(Data(out.utf8)) {
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
                  let id = o["auditID"] as? String else { continue }
            collided[id] = o["events"] as? Int ?? 0
        }
        let forgedIDs = Set(forgedIndexes.compactMap { i -> String? in
            ((try? JSONSerialization.jsonObject(with: Data(m1[i]))) as? [String: Any])?["auditID"] as? String
        })
        #expect(Set(collided.keys) == forgedIDs)
        #expect(collided.values.allSatisfy { $0 == 2 })
        // Timestamp order across nodes and the posted batches: (stageTimestamp, requestReceivedTimestamp).
        let keys = stored.map { e -> String in
            let o = (try? JSONSerialization.jsonObject(with: Data(e.event))) as? [String: Any]
            return (o?["stageTimestamp"] as? String ?? "") + " " + (o?["requestReceivedTimestamp"] as? String ?? "")
        }
        #expect(keys == keys.sorted(), "query answers in timestamp order")
    }
}
