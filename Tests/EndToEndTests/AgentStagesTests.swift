import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The agent's stages: reading never waits for the network.
@Suite(.serialized) struct AgentStagesTests {
    /// Appends lines to a file in steps, noting after each write the time and the file's size.
    final class GrowingFile: @unchecked Sendable {
        let path: String
        let lines: [[UInt8]]
        let perStep: Int
        let step: Duration
        let history = Mutex<[(time: ContinuousClock.Instant, size: Int)]>([])
        let done = Atomic<Bool>(false)

        init(path: String, lines: [[UInt8]], perStep: Int, step: Duration) {
            self.path = path
            self.lines = lines
            self.perStep = perStep
            self.step = step
        }

        func run() {
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            defer { close(fd) }
            var size = 0
            var i = 0
            let start = ContinuousClock.now
            var k = 0
            while i < lines.count {
                var chunk: [UInt8] = []
                for line in lines[i..<min(lines.count, i + perStep)] { chunk += line; chunk.append(0x0A) }
                i = min(lines.count, i + perStep)
                _ = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                size += chunk.count
                history.withLock { $0.append((.now, size)) }
                k += 1
                let next = start + step * k
                let wait = ContinuousClock.now.duration(to: next)
                if wait > .zero { usleep(useconds_t(wait.components.attoseconds / 1_000_000_000_000 + wait.components.seconds * 1_000_000)) }
            }
            done.store(true, ordering: .releasing)
        }

        /// How long ago the first byte not yet read (past `bytesRead`) was written; 0 when all is read.
        func readLag(bytesRead: Int) -> Double {
            let now = ContinuousClock.now
            guard let firstUnread = history.withLock({ h in h.first { $0.size > bytesRead } }) else { return 0 }
            let d = firstUnread.time.duration(to: now)
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
    }

    /// The aggregator answers each batch only after 5 s while the audit file grows at 1,000
    /// events/s. Reading goes on (the agent's read lag, measured here from the bytes it reports
    /// read against what was written when, stays under a second), batches go to the spool rather
    /// than wait, and once the aggregator answers promptly again every event is stored once.
    @Test func aSlowAggregatorNeverHoldsReadingBack() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "s", nodes: ["n1"])
        try h.startAggregator()
        let proxy = try FaultProxy(upstream: h.aggregatorAddress)
        defer { proxy.stop() }
        proxy.fault = .slowAnswers(milliseconds: 5_000)
        let log = h.dir + "/audit.log"
        let lines = try h.generate(events: 15_000, seed: 431, node: "n1", to: h.dir + "/source.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let agent = try h.start(h.agentArguments(cluster: "s", node: "n1", path: log, state: h.dir + "/state", aggregators: [proxy.address],
                                                 extra: ["--metrics-listen", "127.0.0.1:0"]), log: "agent.log")
        let address = try h.metricsAddress(log: "agent.log")
        let metrics = try HTTPClientForTests()
        let file = GrowingFile(path: log, lines: lines, perStep: 50, step: .milliseconds(50))
        Thread { file.run() }.start()
        var worstLag = 0.0
        var spooled = 0.0
        var samples = 0
        while !file.done.load(ordering: .acquiring) {
            usleep(200_000)
            let read = try metrics.metric(address, "auditship_agent_file_read_bytes_total")
            worstLag = max(worstLag, file.readLag(bytesRead: Int(read)))
            spooled = max(spooled, try metrics.metric(address, "auditship_agent_spooled_batches_total"))
            samples += 1
        }
        print("slow aggregator: \(samples) samples, worst read lag \(String(format: "%.2f", worstLag)) s, \(Int(spooled)) batches spooled")
        #expect(samples >= 50)
        #expect(worstLag < 1.0, "reading waited for the network: \(h.read("agent.log").suffix(2000))")
        #expect(spooled > 0, "batches waited for the slow aggregator instead of going to the spool")
        proxy.fault = .none
        try h.waitUntil("every event is stored once the aggregator answers promptly", seconds: 180) { try h.count() >= lines.count }
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(lines))
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
        #expect(agent.terminationStatus == 0)
    }
}
