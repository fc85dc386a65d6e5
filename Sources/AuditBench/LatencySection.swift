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

    /// Appends an exec marker (``Bench/execMarker(_:)``) every `every`, noting when each was written.
    final class MarkerWriter: @unchecked Sendable {
        let path: String
        let count: Int
        let every: Duration
        let written = Mutex<[Double]>([])

        init(path: String, count: Int, every: Duration) {
            self.path = path
            self.count = count
            self.every = every
        }

        func run() {
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            defer { close(fd) }
            let start = ContinuousClock.now
            for n in 0..<count {
                let due = start + every * n
                let wait = ContinuousClock.now.duration(to: due)
                if wait > .zero { usleep(useconds_t(wait.components.seconds * 1_000_000 + wait.components.attoseconds / 1_000_000_000_000)) }
                let line = Bench.execMarker(n) + [0x0A]
                _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                let now = Date().timeIntervalSince1970
                written.withLock { $0.append(now) }
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
        let receiver = try BenchWebhookReceiver()
        defer { receiver.stop() }
        let (aggregator, address) = try startAggregator(store: storePath, certs: certs, name: "latency-aggregator",
                                                        extra: ["--alert-webhook", receiver.url, "--alert-retry-max", "1s"])
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
        // Ten exec markers a second among the steady events, each firing the built-in pod-exec rule.
        let markers = MarkerWriter(path: live, count: seconds * 10, every: .milliseconds(100))
        Thread { markers.run() }.start()
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
        // Each marker's notification names its pod; wait for the last ones.
        var alertLatencies: [Double] = []
        let alertDeadline = Date().addingTimeInterval(30)
        while Date() < alertDeadline {
            let appended = markers.written.withLock { $0 }
            var seen: [Int: Double] = [:]
            for (time, body) in receiver.bodies {
                let text = String(decoding: body, as: UTF8.self)
                var rest = text[...]
                while let r = rest.range(of: "bench-latency-") {
                    let digits = rest[r.upperBound...].prefix { $0.isNumber }
                    if let n = Int(digits), seen[n] == nil { seen[n] = time }
                    rest = rest[r.upperBound...]
                }
            }
            if appended.count == seconds * 10 && seen.count >= appended.count {
                alertLatencies = appended.indices.compactMap { n in seen[n].map { $0 - appended[n] } }
                break
            }
            usleep(100_000)
        }
        guard latencies.count == lines.count else {
            throw BenchError("latency: only \(latencies.count) of \(lines.count) events arrived within the time allowed")
        }
        latencies.sort()
        func pct(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] * 1000 }
        figures.append(BenchFigure(section: "end-to-end latency", name: "append → queryable at \(rate) events/s, p50", value: pct(0.5), unit: "ms"))
        figures.append(BenchFigure(section: "end-to-end latency", name: "p99", value: pct(0.99), unit: "ms", target: "≤ 300 ms", met: pct(0.99) <= 300))
        figures.append(BenchFigure(section: "end-to-end latency", name: "max", value: (latencies.last ?? 0) * 1000, unit: "ms"))
        guard alertLatencies.count == seconds * 10 else {
            throw BenchError("latency: \(alertLatencies.count) of \(seconds * 10) exec markers were notified; see \(dir)/latency-aggregator.log")
        }
        alertLatencies.sort()
        func alertPct(_ p: Double) -> Double { alertLatencies[min(alertLatencies.count - 1, Int(Double(alertLatencies.count) * p))] * 1000 }
        figures.append(BenchFigure(section: "end-to-end latency", name: "append → alert webhook delivered (pod-exec, 10 a second among them), p50",
                                   value: alertPct(0.5), unit: "ms"))
        figures.append(BenchFigure(section: "end-to-end latency", name: "alert p99", value: alertPct(0.99), unit: "ms",
                                   target: "≤ 1000 ms", met: alertPct(0.99) <= 1000))
    }

}
