import AuditAgent
import AuditChain
import AuditGenerator
import AuditModel
import AuditStore
import Foundation
import Gzip
import OpenSSLKit
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

extension Bench {
    /// Appends lines at a steady rate, noting when each was written.
    final class SteadyWriter: @unchecked Sendable {
        let path: String
        let lines: [[UInt8]]
        let rate: Int
        let written = Mutex<[Double]>([])

        init(path: String, lines: [[UInt8]], rate: Int) {
            self.path = path
            self.lines = lines
            self.rate = rate
        }

        func run() {
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            defer { close(fd) }
            let start = Date()
            var i = 0
            while i < lines.count {
                let due = min(lines.count, Int(Date().timeIntervalSince(start) * Double(rate)) + 1)
                if i >= due { usleep(1000); continue }
                var chunk: [UInt8] = []
                let from = i
                while i < due { chunk += lines[i]; chunk.append(0x0A); i += 1 }
                _ = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                let now = Date().timeIntervalSince1970
                written.withLock { w in for _ in from..<i { w.append(now) } }
            }
        }
    }

    mutating func latency() async throws {
        let seconds = quick ? 3 : 30
        let rate = 2000
        say("end-to-end latency: \(rate) events/s for \(seconds) s")
        let lines = Array(AuditLogGenerator(GeneratorConfiguration(events: rate * seconds, seed: 51, node: "n1", rate: Double(rate))))
        var index: [[UInt8]: Int] = [:]
        for (i, l) in lines.enumerated() { index[l] = i }
        let certs = try certificates()
        let live = dir + "/latency/audit.log"
        try FileManager.default.createDirectory(atPath: dir + "/latency", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: live, contents: nil)
        let storePath = dir + "/latency.sqlite"
        let (aggregator, address) = try startAggregator(store: storePath, certs: certs, name: "latency-aggregator")
        defer { stop(aggregator) }
        let agent = try start(["agent", "--aggregator", "https://" + address, "--cluster", "bench", "--node", "n1",
                               "--path", live, "--state-dir", dir + "/latency/state",
                               "--tls-cert", certs + "/agent-bench-n1.pem", "--tls-key", certs + "/agent-bench-n1-key.pem",
                               "--ca", certs + "/ca.pem", "--log-level", "warning"], log: "latency-agent.log")
        defer { stop(agent) }
        usleep(500_000)
        let writer = SteadyWriter(path: live, lines: lines, rate: rate)
        let thread = Thread { writer.run() }
        thread.start()
        let store = try SQLiteStore(path: storePath, readOnly: true)
        var latencies: [Double] = []
        var last: Int64 = 0
        let deadline = Date().addingTimeInterval(Double(seconds) + 60)
        while latencies.count < lines.count && Date() < deadline {
            let found = try await store.events(EventQuery(limit: 10_000, ingestedAfter: last, ingestOrder: true))
            let now = Date().timeIntervalSince1970
            let times = writer.written.withLock { $0 }
            for e in found {
                last = max(last, e.sequence)
                if let i = index[e.bytes], i < times.count { latencies.append(now - times[i]) }
            }
            if found.isEmpty { usleep(10_000) }
        }
        try await store.close()
        guard latencies.count == lines.count else {
            throw BenchError("latency: only \(latencies.count) of \(lines.count) events arrived within the time allowed")
        }
        latencies.sort()
        func pct(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] * 1000 }
        figures.append(BenchFigure(section: "end-to-end latency", name: "append → queryable at \(rate) events/s, p50", value: pct(0.5), unit: "ms"))
        figures.append(BenchFigure(section: "end-to-end latency", name: "p99", value: pct(0.99), unit: "ms", target: "≤ 300 ms", met: pct(0.99) <= 300))
        figures.append(BenchFigure(section: "end-to-end latency", name: "max", value: (latencies.last ?? 0) * 1000, unit: "ms"))
    }

}
