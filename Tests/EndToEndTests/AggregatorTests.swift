import CurlClient
import Foundation
import Gzip
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct AggregatorTests {
    func post(_ h: Harness, body: [UInt8], encoding: String? = "gzip", path: String = "/v1/batches") throws -> HTTPResponse {
        let c = try HTTPClient(tls: ClientTLSConfiguration(certificateFile: h.certs + "/agent-a-n1.pem", keyFile: h.certs + "/agent-a-n1-key.pem",
                                                           caFile: h.certs + "/ca.pem"))
        var headers = ["X-Auditship-Cluster: a", "X-Auditship-Node: n1"]
        if let encoding { headers.append("Content-Encoding: \(encoding)") }
        return try c.request(method: "POST", url: "https://\(h.aggregatorAddress)\(path)", headers: headers, body: body, timeoutSeconds: 60)
    }

    func errorCode(_ r: HTTPResponse) -> String? {
        ((try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any])?["error"] as? String
    }

    /// Every kind of bad input gets its documented refusal, and the good events around it are stored.
    @Test func badInputIsRefusedPreciselyAndTheRestIsStored() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "a", nodes: ["n1"])
        try h.startAggregator(extra: ["--max-body-bytes", "1000000", "--max-decompressed-bytes", "4000000",
                                      "--max-event-bytes", "100000", "--max-json-depth", "50", "--metrics-listen", "127.0.0.1:0"])
        let good = try h.generate(events: 30, seed: 71, node: "n1", to: "\(h.dir)/gen.log")
        // 1. A gzip bomb: 1 GB of zeros compresses to about 1 MB; refused at the decompression limit.
        let zeros = [UInt8](repeating: 0, count: 200 << 20)
        let bomb = try Gzip.compress(zeros, level: 9)
        let r1 = try post(h, body: bomb)
        #expect(r1.status == 413)
        #expect(errorCode(r1) == "too_large")
        // 2. A body over the compressed limit.
        let big = [UInt8]((0..<1_200_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) })
        let r2 = try post(h, body: big, encoding: nil)
        #expect(r2.status == 413)
        // 3. Not gzip.
        let r3 = try post(h, body: Array("not gzip".utf8))
        #expect(r3.status == 400)
        #expect(errorCode(r3) == "bad_gzip")
        // 4. A batch with a malformed line, a deep line and an oversize event among good ones.
        var lines = good.map { String(decoding: $0, as: UTF8.self) }
        lines.insert("{\"auditID\":\"x\", broken", at: 3)
        lines.insert("{\"auditID\":\"deep\",\"x\":" + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "}", at: 7)
        lines.insert("{\"auditID\":\"huge\",\"x\":\"" + String(repeating: "a", count: 150_000) + "\"}", at: 11)
        let body = try Gzip.compress(Array((lines.joined(separator: "\n") + "\n").utf8))
        let r4 = try post(h, body: body)
        #expect(r4.status == 200)
        let answer = try #require((try JSONSerialization.jsonObject(with: Data(r4.body))) as? [String: Any])
        let rejected = try #require(answer["rejected"] as? [[String: Any]])
        #expect(rejected.map { $0["line"] as? Int } == [4, 8, 12])
        #expect(rejected.map { $0["code"] as? String } == ["invalid_json", "too_deep", "too_large"])
        #expect(answer["stored"] as? Int == good.count)
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(good))
        // The refusals are counted by reason in /metrics.
        let address = try h.metricsAddress(log: "aggregator.log")
        let client = try HTTPClient(tls: ClientTLSConfiguration())
        let text = try client.request(method: "GET", url: "http://\(address)/metrics").bodyText
        let (samples, types) = try PrometheusParser.parse(text)
        #expect(types["auditship_aggregator_batch_seconds"] == "histogram")
        func value(_ name: String, _ labels: [String: String]) -> Double? {
            samples.first { s in s.name == name && labels.allSatisfy { s.labels[$0.key] == $0.value } }?.value
        }
        #expect(value("auditship_aggregator_refusals_total", ["reason": "too_large"]) == 2)
        #expect(value("auditship_aggregator_refusals_total", ["reason": "bad_gzip"]) == 1)
        #expect(value("auditship_aggregator_refused_events_total", ["reason": "too_deep"]) == 1)
        #expect(value("auditship_aggregator_events_stored_total", ["cluster": "a", "node": "n1"]) == Double(good.count))
        // SQLite's own count of its heap (page caches), beside the process's RSS.
        #expect((value("auditship_aggregator_sqlite_memory_bytes", [:]) ?? 0) > 0)
        #expect(try client.request(method: "GET", url: "http://\(address)/readyz").status == 200)
    }

    /// SIGKILL of the aggregator during ingest loses no event it acknowledged.
    @Test func killedAggregatorLosesNoAcknowledgedEvent() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "a", nodes: ["n1"])
        let lines = try h.generate(events: 20_000, seed: 72, node: "n1", to: "\(h.dir)/audit.log")
        try h.startAggregator()
        let agent = try h.start(h.agentArguments(cluster: "a", node: "n1", path: "\(h.dir)/audit.log", state: "\(h.dir)/state",
                                                  extra: ["--batch-max-events", "200", "--metrics-listen", "127.0.0.1:0"]),
                                log: "agent.log")
        let address = try h.metricsAddress(log: "agent.log")
        let metrics = try HTTPClientForTests()
        try h.waitUntil("ingest is under way", seconds: 60) { try metrics.metric(address, "auditship_agent_events_shipped_total") >= 3000 }
        h.stopAggregator(signal: SIGKILL)
        // With the aggregator dead the agent can learn of no new acknowledgement.
        let acknowledged = try metrics.metric(address, "auditship_agent_events_shipped_total")
        let stored = try h.count()
        #expect(Double(stored) >= acknowledged, "acknowledged \(acknowledged), stored after the crash \(stored)")
        try h.startAggregator()
        try h.waitUntil("everything is stored", seconds: 120) { try h.count() >= lines.count }
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(lines))
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
    }

    /// Same auditID and stage with other bytes: both kept, counted and queryable as a collision.
    @Test func auditIDCollisionsAreKeptAndReported() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "a", nodes: ["n1"])
        try h.startAggregator()
        let real = #"{"auditID":"same-id","stage":"ResponseComplete","verb":"delete","user":{"username":"mallory"},"stageTimestamp":"2026-01-01T00:00:01Z"}"#
        let decoy = #"{"auditID":"same-id","stage":"ResponseComplete","verb":"get","user":{"username":"mallory"},"stageTimestamp":"2026-01-01T00:00:02Z"}"#
        for line in [real, decoy, real] {
            #expect(try post(h, body: try Gzip.compress(Array((line + "\n").utf8))).status == 200)
        }
        #expect(try h.count() == 2)
        let (_, out) = try h.run(["query", "--store", "sqlite:" + h.storePath, "--collisions"])
        #expect(out.contains("\"auditID\":\"same-id\""))
        #expect(out.contains("\"events\":2"))
    }

    /// `query --follow` prints new events in timestamp order after the lateness window and
    /// reports an event that arrives after later ones were printed as late (but prints it).
    @Test func followPrintsInOrderAndReportsLateEvents() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "a", nodes: ["n1"])
        try h.startAggregator()
        func event(_ id: String, _ t: Date) -> String {
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return #"{"auditID":"\#(id)","stage":"ResponseComplete","verb":"get","user":{"username":"u"},"stageTimestamp":"\#(f.string(from: t))"}"#
        }
        // Something stored before following starts.
        let now = Date()
        #expect(try post(h, body: try Gzip.compress(Array((event("before", now.addingTimeInterval(-60)) + "\n").utf8))).status == 200)
        let follower = try h.start(["query", "--store", "sqlite:" + h.storePath, "--follow", "--lateness", "1s"], log: "follow.log")
        try h.waitUntil("the follower printed what was stored", seconds: 30) { h.read("follow.log").contains("\"before\"") }
        // Two events out of order in one batch: printed in timestamp order.
        let t = Date()
        let batch = event("second", t.addingTimeInterval(0.2)) + "\n" + event("first", t) + "\n"
        #expect(try post(h, body: try Gzip.compress(Array(batch.utf8))).status == 200)
        try h.waitUntil("both are printed", seconds: 30) { h.read("follow.log").contains("\"second\"") }
        let printed = h.read("follow.log")
        let first = try #require(printed.range(of: "\"first\""))
        let second = try #require(printed.range(of: "\"second\""))
        #expect(first.lowerBound < second.lowerBound)
        // An event stamped before what was already printed: printed, and reported as late.
        #expect(try post(h, body: try Gzip.compress(Array((event("straggler", t.addingTimeInterval(-30)) + "\n").utf8))).status == 200)
        try h.waitUntil("the straggler is printed and reported", seconds: 30) {
            let out = h.read("follow.log")
            return out.contains("\"straggler\"") && out.contains("late event")
        }
        kill(follower.processIdentifier, SIGTERM)
        follower.waitUntilExit()
    }

    /// Readers page through `GET /v1/events` with the cursor the aggregator hands back.
    @Test func readersPageWithCursors() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "a", nodes: ["n1"])
        try h.startAggregator()
        let lines = try h.generate(events: 95, seed: 73, node: "n1", to: "\(h.dir)/gen.log")
        #expect(try post(h, body: try Gzip.compress(Array((lines.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "\n") + "\n").utf8))).status == 200)
        let c = try HTTPClient(tls: ClientTLSConfiguration(certificateFile: h.certs + "/reader-admin.pem", keyFile: h.certs + "/reader-admin-key.pem",
                                                           caFile: h.certs + "/ca.pem"))
        var after: String?
        var pages = 0
        var got: [[UInt8]] = []
        repeat {
            var url = "https://\(h.aggregatorAddress)/v1/events?limit=20"
            if let after { url += "&after=" + (after.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? after) }
            let r = try c.request(method: "GET", url: url)
            #expect(r.status == 200)
            got += splitLines(Data(r.body)).map { (try? Harness.parseQueryLine($0).event) ?? [] }
            pages += 1
            after = r.headers["x-auditship-next-cursor"]
        } while after != nil && pages < 20
        #expect(pages == 5)
        #expect(got.count == 95)
        #expect(try h.storedEvents().map(\.event) == got)
    }

    /// The webhook refuses a too-deep item alone and stores the rest of the EventList.
    @Test func webhookRefusesOneDeepItemAlone() throws {
        let h = try Harness()
        try h.run(["certs", "init", "--out", h.certs, "--cluster", "w", "--webhook"])
        try h.startAggregator(extra: ["--max-json-depth", "50"])
        let good = try h.generate(events: 5, seed: 74, node: "x", to: "\(h.dir)/gen.log")
        let deep = "{\"auditID\":\"deep\",\"x\":" + String(repeating: "[", count: 120) + String(repeating: "]", count: 120) + "}"
        let items = good.map { String(decoding: $0, as: UTF8.self) } + [deep]
        let list = "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"items\":[" + items.joined(separator: ",") + "]}"
        let c = try HTTPClient(tls: ClientTLSConfiguration(certificateFile: h.certs + "/webhook-w.pem", keyFile: h.certs + "/webhook-w-key.pem",
                                                           caFile: h.certs + "/ca.pem"))
        let r = try c.request(method: "POST", url: "https://\(h.aggregatorAddress)/v1/webhook", headers: ["Content-Type: application/json"], body: Array(list.utf8))
        #expect(r.status == 200)
        let answer = try #require((try JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any])
        #expect((answer["rejected"] as? [[String: Any]])?.map { $0["code"] as? String } == ["too_deep"])
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(good))
    }
}
