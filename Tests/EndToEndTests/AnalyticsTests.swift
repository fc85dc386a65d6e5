import AuditModel
import CurlClient
import Foundation
import Testing

/// End-to-end: `query --histogram` and `query --facets` answer the same from the store and through
/// the aggregator's API (reader certificate), and agree with counts made from the events.
@Suite struct AnalyticsTests {
    @Test func histogramAndFacetsAgreeWithTheEventsThroughTheStoreAndTheAPI() throws {
        let h = try Harness()
        try h.run(["certs", "init", "--out", h.certs, "--cluster", "edge", "--webhook", "--reader", "admin"])
        try h.startAggregator()
        let events = try h.generate(events: 3000, seed: 12, node: "x", to: "\(h.dir)/gen.log")
        let c = try HTTPClient(tls: ClientTLSConfiguration(certificateFile: h.certs + "/webhook-edge.pem",
                                                           keyFile: h.certs + "/webhook-edge-key.pem", caFile: h.certs + "/ca.pem"))
        for chunk in stride(from: 0, to: events.count, by: 500) {
            let list = "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"metadata\":{},\"items\":[" +
                events[chunk..<min(events.count, chunk + 500)].map { String(decoding: $0, as: UTF8.self) }.joined(separator: ",") + "]}"
            let r = try c.request(method: "POST", url: "https://\(h.aggregatorAddress)/v1/webhook",
                                  headers: ["Content-Type: application/json"], body: Array(list.utf8))
            #expect(r.status == 200)
        }
        // What the answers must be, counted from the events themselves.
        var perMinute: [Int64: Int] = [:]
        var users: [String: Int] = [:]
        var verbsOfGets = 0
        for e in events {
            let s = try EventScanner.scan(e)
            let t = s.orderTimestamp.microseconds
            perMinute[t - ((t % 60_000_000) + 60_000_000) % 60_000_000, default: 0] += 1
            if let u = s.username, !u.isEmpty { users[u, default: 0] += 1 }
            if s.verb == "get" { verbsOfGets += 1 }
        }
        let reader = ["--aggregator", "https://\(h.aggregatorAddress)", "--tls-cert", h.certs + "/reader-admin.pem",
                      "--tls-key", h.certs + "/reader-admin-key.pem", "--ca", h.certs + "/ca.pem"]
        let store = ["--store", h.storeURL]

        let (_, histStore) = try h.run(["query"] + store + ["--histogram", "1m"])
        let (_, histAPI) = try h.run(["query"] + reader + ["--histogram", "1m"])
        #expect(histStore.trimmingCharacters(in: .whitespacesAndNewlines) == histAPI.trimmingCharacters(in: .whitespacesAndNewlines))
        let buckets = try #require(try JSONSerialization.jsonObject(with: Data(histStore.utf8)) as? [[String: Any]])
        var got: [Int64: Int] = [:]
        for b in buckets {
            let text = try #require(b["start"] as? String)
            let start = try #require(Timestamp(rfc3339: text))
            got[start.microseconds] = b["count"] as? Int
        }
        #expect(got == perMinute)

        let (_, facetStore) = try h.run(["query"] + store + ["--facets", "user,verb", "--top", "3"])
        let (_, facetAPI) = try h.run(["query"] + reader + ["--facets", "user,verb", "--top", "3"])
        #expect(facetStore.trimmingCharacters(in: .whitespacesAndNewlines) == facetAPI.trimmingCharacters(in: .whitespacesAndNewlines))
        let facets = try #require(try JSONSerialization.jsonObject(with: Data(facetStore.utf8)) as? [String: [[String: Any]]])
        let topUsers = users.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.prefix(3)
        #expect(facets["user"]?.map { $0["value"] as? String ?? "" } == topUsers.map(\.key))
        #expect(facets["user"]?.map { $0["count"] as? Int ?? 0 } == topUsers.map(\.value))
        #expect(facets["verb"]?.first { $0["value"] as? String == "get" }?["count"] as? Int == verbsOfGets)

        // One object's history, and a response class, the same through the store and the API.
        let summaries = try events.map { try EventScanner.scan($0) }
        let object = try #require(summaries.first { !$0.name.isEmpty && !$0.namespace.isEmpty })
        let history = summaries.filter { $0.name == object.name && $0.resource == object.resource && $0.namespace == object.namespace }
        let objectArgs = ["--resource", object.resource, "--namespace", object.namespace, "--name", object.name]
        let (_, objStore) = try h.run(["query"] + store + objectArgs)
        let (_, objAPI) = try h.run(["query"] + reader + objectArgs)
        #expect(objStore == objAPI)
        #expect(objStore.split(separator: "\n").count == history.count)
        let fours = summaries.filter { ($0.responseCode ?? 0) / 100 == 4 }.count
        let (_, codeCount) = try h.run(["query"] + reader + ["--code", "4xx", "--count"])
        #expect(codeCount.trimmingCharacters(in: .whitespacesAndNewlines) == "\(fours)")
        // Relative times: everything generated lies within the last 100,000 hours, nothing within the last minute.
        let (_, recent) = try h.run(["query"] + store + ["--since", "1m", "--count"])
        #expect(recent.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        let (_, ages) = try h.run(["query"] + reader + ["--since", "100000h", "--count"])
        #expect(ages.trimmingCharacters(in: .whitespacesAndNewlines) == "\(events.count)")

        // Filters apply; a bad field is refused with what is allowed.
        let (_, onlyGets) = try h.run(["query"] + reader + ["--verb", "get", "--facets", "verb"])
        #expect(onlyGets.contains("\"count\":\(verbsOfGets)"))
        let (status, err) = try h.run(["query"] + store + ["--facets", "colour"], expectStatus: nil)
        #expect(status != 0)
        #expect(err.contains("'colour' is not a field"))
    }
}
