import CurlClient
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Bad networks between an agent and the aggregator, through a fault-injecting proxy of the
/// tests' own on 127.0.0.1: after each, the store holds exactly the events written, once each.
@Suite struct NetworkFaultTests {
    /// An aggregator, a proxy in front of it with `fault`, and an agent shipping `events` through
    /// the proxy. `during` runs once the agent has started. Returns the harness, the events and the seconds it took.
    func ship(_ fault: FaultProxy.Fault, events: Int, seed: Int, timeout: Double = 240, name: String = #function,
              during: (Harness, FaultProxy, String) throws -> [[UInt8]] = { _, _, _ in [] }) throws -> (Harness, [[UInt8]], Double) {
        let h = try Harness(name)
        try h.makeCertificates(cluster: "c", nodes: ["m1"])
        try h.startAggregator(extra: ["--metrics-listen", "127.0.0.1:0"])
        let proxy = try FaultProxy(upstream: h.aggregatorAddress)
        defer { proxy.stop() }
        proxy.fault = fault
        let log = h.dir + "/audit.log"
        var lines = try h.generate(events: events, seed: seed, node: "m1", to: log)
        let started = Date()
        let agent = try h.start(h.agentArguments(cluster: "c", node: "m1", path: log, state: h.dir + "/state", aggregators: [proxy.address],
                                                 extra: ["--batch-max-events", "250"]), log: "agent.log")
        lines += try during(h, proxy, log)
        try h.waitUntil("every event is stored through the proxy (\(fault))", seconds: timeout) { try h.count() >= lines.count }
        let seconds = Date().timeIntervalSince(started)
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(lines), "\(h.read("agent.log").suffix(2000))")
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
        return (h, lines, seconds)
    }

    func report(_ what: String, _ events: Int, _ seconds: Double) {
        print("network fault: \(what): \(events) events stored exactly once in \(String(format: "%.1f", seconds)) s")
    }

    @Test func latencyWithJitter() throws {
        let (_, lines, s) = try ship(.latency(milliseconds: 300, jitter: 100), events: 3_000, seed: 401)
        report("300 ms ± 100 ms latency", lines.count, s)
    }

    @Test func aOneMegabitLink() throws {
        let (_, lines, s) = try ship(.bandwidth(bytesPerSecond: 125_000), events: 3_000, seed: 402)
        report("1 Mbit/s", lines.count, s)
    }

    @Test func connectionsResetInTheMiddleOfTheRequestBody() throws {
        let (h, lines, s) = try ship(.resetInRequest(afterBytes: 3_000, connections: 6), events: 3_000, seed: 403)
        #expect(h.read("agent.log").contains("retr"), "the resets were seen and retried")
        report("6 connections reset inside the request body", lines.count, s)
    }

    /// The aggregator committed the batch, the answer never arrived: the agent sends it again and
    /// the store keeps one copy.
    @Test func connectionsResetInTheMiddleOfTheResponse() throws {
        let (h, lines, s) = try ship(.resetInResponse(afterRequestBytes: 8_000, afterBytes: 20, connections: 6), events: 3_000, seed: 404)
        #expect(h.read("agent.log").contains("retr"), "the resets were seen and retried")
        // Batches whose answer was cut off were committed, sent again, and found to be duplicates.
        let metrics = try h.metricsAddress(log: "aggregator.log")
        let text = try HTTPClient(tls: ClientTLSConfiguration()).request(method: "GET", url: "http://\(metrics)/metrics").bodyText
        let duplicates = try PrometheusParser.parse(text).0.first { $0.name == "auditship_aggregator_duplicates_total" && $0.labels["node"] == "m1" }?.value ?? 0
        #expect(duplicates > 0, "a cut-off answer must lead to a re-delivery that is stored once")
        report("6 connections reset inside the response", lines.count, s)
    }

    @Test func aTrickleOfOneBytePerWrite() throws {
        let (_, lines, s) = try ship(.trickle, events: 1_000, seed: 405)
        report("one byte per write", lines.count, s)
    }

    /// 60 s in which connections are accepted and never answered, while the apiserver keeps writing.
    @Test func aPartitionThatAcceptsAndNeverAnswers() throws {
        let partitionSeconds = 60.0
        var caughtUp = 0.0
        let (_, lines, s) = try ship(.none, events: 2_000, seed: 406, timeout: 300) { h, proxy, log in
            try h.waitUntil("some events are stored before the partition", seconds: 60) { try h.count() >= 250 }
            proxy.fault = .partition
            let more = try h.generate(events: 2_000, seed: 407, node: "m1", to: h.dir + "/more.log")
            let handle = try #require(FileHandle(forWritingAtPath: log))
            handle.seekToEndOfFile()
            for chunk in stride(from: 0, to: more.count, by: 200) {
                handle.write(Data(more[chunk..<min(more.count, chunk + 200)].flatMap { $0 + [0x0A] }))
                usleep(useconds_t(partitionSeconds / 10 * 1_000_000))
            }
            try handle.close()
            let stuck = try h.count()
            proxy.fault = .none
            let healed = Date()
            try h.waitUntil("the backlog is stored after the partition", seconds: 240) { try h.count() >= 4_000 }
            caughtUp = Date().timeIntervalSince(healed)
            #expect(stuck < 4_000)
            return more
        }
        report("a \(Int(partitionSeconds)) s partition (caught up \(String(format: "%.1f", caughtUp)) s after it ended)", lines.count, s)
    }
}
