import CurlClient
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Whether this machine lets the tests mount a small tmpfs (CI runs as root); the reason when not.
enum Tmpfs {
    static let unavailable: String? = {
        let dir = NSTemporaryDirectory() + "auditship-tmpfs-probe-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mounted = Harness.shell("mount -t tmpfs -o size=1m tmpfs \(shellQuoted(dir)) 2>&1")
        guard mounted.status == 0 else {
            return "a full disk is simulated with a tmpfs, and this machine does not let the tests mount one (\(mounted.output.trimmingCharacters(in: .whitespacesAndNewlines))); CI runs as root"
        }
        _ = Harness.shell("umount \(shellQuoted(dir))")
        return nil
    }()

    static func mount(_ dir: String, size: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let r = Harness.shell("mount -t tmpfs -o size=\(size),mode=0700 tmpfs \(shellQuoted(dir)) 2>&1")
        guard r.status == 0 else { throw HarnessError("cannot mount a tmpfs at \(dir): \(r.output)") }
    }

    static func resize(_ dir: String, size: String) throws {
        let r = Harness.shell("mount -o remount,size=\(size) \(shellQuoted(dir)) 2>&1")
        guard r.status == 0 else { throw HarnessError("cannot resize the tmpfs at \(dir): \(r.output)") }
    }

    static func unmount(_ dir: String) { _ = Harness.shell("umount -l \(shellQuoted(dir)) 2>&1") }
}

/// A full disk on either side: nothing acknowledged is lost, batches wait where they are safe, the
/// refusal says why, and everything flows again, exactly once, when space comes back.
@Suite(.serialized, .enabled(if: Tmpfs.unavailable == nil, Comment(rawValue: Tmpfs.unavailable ?? "")))
struct DiskFullTests {
    @Test func theAggregatorsStoreDiskFillsThenSpaceComesBack() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "c", nodes: ["m1"])
        let disk = h.dir + "/store-disk"
        try Tmpfs.mount(disk, size: "3m")
        defer { Tmpfs.unmount(disk) }
        h.storeURL = "sqlite:" + disk + "/store.sqlite"
        let key = h.certs + "/checkpoint-key.pem", pub = h.certs + "/checkpoint-key.pub.pem"
        try h.startAggregator(extra: ["--metrics-listen", "127.0.0.1:0", "--checkpoint-key", key, "--checkpoint-interval", "1s"])
        let metrics = try h.metricsAddress(log: "aggregator.log")
        let log = h.dir + "/audit.log"
        let lines = try h.generate(events: 8_000, seed: 91, node: "m1", to: log)
        // The agent may back off up to 20 s, so that the aggregator's Retry-After (10 s) is what it follows.
        var arguments = h.agentArguments(cluster: "c", node: "m1", path: log, state: h.dir + "/state",
                                         extra: ["--batch-max-events", "250", "--metrics-listen", "127.0.0.1:0"])
        if let i = arguments.firstIndex(of: "--retry-max-ms") { arguments[i + 1] = "20000" }
        let agent = try h.start(arguments, log: "agent.log")
        let client = try HTTPClient(tls: ClientTLSConfiguration())
        func get(_ address: String, _ path: String) throws -> HTTPResponse { try client.request(method: "GET", url: "http://\(address)\(path)") }

        // The disk fills: batches are refused with a retryable 503 that says so, readiness says why,
        // a metric counts it, and the agent keeps what was refused in its spool.
        try h.waitUntil("the aggregator refuses for a full disk", seconds: 120) {
            h.read("aggregator.log").contains("the store's disk is full")
        }
        let ready = try get(metrics, "/readyz")
        #expect(ready.status == 503)
        #expect(ready.bodyText.contains("store disk full since"), "\(ready.bodyText)")
        #expect(try get(metrics, "/metrics").bodyText.contains("auditship_aggregator_refusals_total{reason=\"store_full\"}"))
        let agentMetrics = try h.metricsAddress(log: "agent.log")
        try h.waitUntil("the agent spools what was refused", seconds: 60) {
            try get(agentMetrics, "/metrics").bodyText.contains("auditship_agent_spooled_batches_total ")
                && !(try get(agentMetrics, "/metrics").bodyText.contains("auditship_agent_spooled_batches_total 0\n"))
        }
        // The agent honours the answer's Retry-After: every retry after a store_full waits at least 10 s.
        let waits = h.read("agent.log").split(separator: "\n").filter { $0.contains("store_full") }
            .compactMap { line in line.range(of: "retry.in_ms=").flatMap { Int(line[$0.upperBound...].prefix { $0.isNumber }) } }
        #expect(!waits.isEmpty && waits.allSatisfy { $0 >= 10_000 }, "\(waits)")
        let storedWhileFull = try h.count()
        #expect(storedWhileFull < lines.count)

        // Space comes back: ingest resumes by itself, every event is stored once, the store verifies.
        try Tmpfs.resize(disk, size: "256m")
        try h.waitUntil("every event is stored", seconds: 180) { try h.count() >= lines.count }
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(lines))
        try h.waitUntil("readiness is back", seconds: 30) { try get(metrics, "/readyz").status == 200 }
        #expect(h.read("aggregator.log").contains("ingest resumed") || h.read("aggregator.log").contains("has space again"))
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
        h.stopAggregator()
        let verify = try h.run(["verify", "--store", h.storeURL, "--public-key", pub])
        #expect(verify.output.contains("verified"), "\(verify.output.suffix(1500))")
    }

    @Test func theAgentsStateDiskFillsThenSpaceComesBack() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "c", nodes: ["m1"])
        // An aggregator that is down while the agent reads: every batch goes to the spool, which fills the small disk.
        try h.startAggregator()
        h.stopAggregator()
        let state = h.dir + "/state-disk"
        try Tmpfs.mount(state, size: "600k")
        defer { Tmpfs.unmount(state) }
        let log = h.dir + "/audit.log"
        let lines = try h.generate(events: 30_000, seed: 93, node: "m1", to: log)
        let agent = try h.start(h.agentArguments(cluster: "c", node: "m1", path: log, state: state,
                                                 extra: ["--batch-max-events", "200", "--metrics-listen", "127.0.0.1:0"]), log: "agent.log")
        try h.waitUntil("the agent says its spool cannot be written", seconds: 120) {
            h.read("agent.log").contains("cannot write to the spool")
        }
        #expect(agent.isRunning, "the agent must keep running: \(h.read("agent.log").suffix(1500))")
        let client = try HTTPClient(tls: ClientTLSConfiguration())
        let agentMetrics = try h.metricsAddress(log: "agent.log")
        // The metrics snapshot is published once per loop pass, after the log line: wait for it.
        try h.waitUntil("the agent counts the failed spool writes", seconds: 30) {
            let text = try client.request(method: "GET", url: "http://\(agentMetrics)/metrics").bodyText
            return text.contains("auditship_agent_spool_write_failures_total ") && !text.contains("auditship_agent_spool_write_failures_total 0\n")
        }
        // Space comes back, and so does the aggregator: the same agent catches up, everything exactly once.
        try Tmpfs.resize(state, size: "64m")
        try h.startAggregator()
        try h.waitUntil("every event is stored", seconds: 180) { try h.count() >= lines.count }
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(lines))
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
        #expect(agent.terminationStatus == 0, "\(h.read("agent.log").suffix(1500))")
    }
}
