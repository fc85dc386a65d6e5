import AuditModel
import CurlClient
import Foundation
import Testing

/// An apiserver whose clock jumps back an hour, and events stamped in the future: every event is
/// stored, queries order them by their own timestamps, and late and future events are counted.
@Suite struct ClockTests {
    @Test func clockJumpsAndFutureStampsAreStoredInTimestampOrderAndCounted() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "c", nodes: ["m1"])
        try h.startAggregator(extra: ["--metrics-listen", "127.0.0.1:0"])
        let iso = ISO8601DateFormatter()
        let now = Date()
        func segment(_ name: String, events: Int, seed: Int, startingAt start: Date) throws -> [[UInt8]] {
            try h.run(["generate", "--events", "\(events)", "--seed", "\(seed)", "--node", "m1", "--rate", "100",
                       "--start", iso.string(from: start), "--out", h.dir + "/" + name])
            return splitLines(try Data(contentsOf: URL(fileURLWithPath: h.dir + "/" + name)))
        }
        // Written in this order: ten minutes ago, then the clock jumps back an hour, then two hours ahead.
        let recent = try segment("a.log", events: 1_500, seed: 3, startingAt: now.addingTimeInterval(-600))
        let jumpedBack = try segment("b.log", events: 1_000, seed: 4, startingAt: now.addingTimeInterval(-4_200))
        let future = try segment("c.log", events: 700, seed: 5, startingAt: now.addingTimeInterval(7_200))
        let all = recent + jumpedBack + future
        try Data(all.flatMap { $0 + [0x0A] }).write(to: URL(fileURLWithPath: h.dir + "/audit.log"))
        try h.run(h.agentArguments(cluster: "c", node: "m1", path: h.dir + "/audit.log", state: h.dir + "/state", extra: ["--exit-when-caught-up"]))

        let stored = try h.storedEvents().map(\.event)
        #expect(multiset(stored) == multiset(all))
        // Query order is the events' own order timestamps, not arrival.
        let times = try stored.map { try EventScanner.scan($0).orderTimestamp.microseconds }
        #expect(times == times.sorted())
        let firstFuture = try EventScanner.scan(future[0]).orderTimestamp.microseconds
        #expect(times.firstIndex { $0 >= firstFuture } == recent.count + jumpedBack.count)

        let metrics = try h.metricsAddress(log: "aggregator.log")
        let text = try HTTPClient(tls: ClientTLSConfiguration()).request(method: "GET", url: "http://\(metrics)/metrics").bodyText
        let (samples, _) = try PrometheusParser.parse(text)
        func value(_ name: String) -> Double? { samples.first { $0.name == name && $0.labels["cluster"] == "c" && $0.labels["node"] == "m1" }?.value }
        #expect(value("auditship_aggregator_future_events_total") == Double(future.count))
        #expect(value("auditship_aggregator_late_events_total") == Double(recent.count + jumpedBack.count))
        #expect(value("auditship_aggregator_events_stored_total") == Double(all.count))
    }
}
