import AuditGenerator
import CurlClient
import AuditStore
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `auditship soak`: the whole system (an aggregator and three agents, real processes on 127.0.0.1)
/// at a steady rate for a chosen time, with the apiserver's rotation, sampling each process's memory,
/// file descriptors and CPU over time; at the end every written event must be stored.
public struct SoakRun {
    public var duration: Double
    public var rate: Int
    public var interval: Double
    /// Rotate each live file past this size, keeping `backups` old files (like kube-apiserver).
    public var rotateBytes = 64 << 20
    public var backups = 5

    public init(duration: Double, rate: Int, interval: Double) {
        self.duration = duration
        self.rate = rate
        self.interval = interval
    }

    /// One node's apiserver: generated events appended at its rate, with size-based rotation.
    final class Writer: @unchecked Sendable {
        let dir: String
        let node: String
        let rate: Double
        let rotateBytes: Int
        let backups: Int
        let written = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)

        init(dir: String, node: String, rate: Double, rotateBytes: Int, backups: Int) {
            self.dir = dir
            self.node = node
            self.rate = rate
            self.rotateBytes = rotateBytes
            self.backups = backups
        }

        func run() {
            var generator = AuditLogGenerator(GeneratorConfiguration(events: Int.max / 2, seed: UInt64(abs(node.hashValue) % 1000 + 7), node: node, rate: rate))
            let live = dir + "/audit.log"
            var fd = open(live, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            var size = 0
            var rotations = 0
            let start = ContinuousClock.now
            var count = 0
            while !stop.load(ordering: .relaxed) {
                let elapsed = ContinuousClock.now - start
                let due = Int((Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) * rate)
                if count >= due { usleep(2000); continue }
                var chunk: [UInt8] = []
                while count < due, let line = generator.next() {
                    chunk += line
                    chunk.append(0x0A)
                    count += 1
                }
                _ = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                size += chunk.count
                written.store(count, ordering: .relaxed)
                if size >= rotateBytes {
                    close(fd)
                    rotations += 1
                    let stamp = String(format: "2026-01-01T%02d-%02d-%02d.000", rotations / 3600 % 24, rotations / 60 % 60, rotations % 60)
                    rename(live, dir + "/audit-\(stamp).log")
                    let olds = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("audit-") }.sorted()
                    for old in olds.dropLast(backups) { unlink(dir + "/" + old) }
                    fd = open(live, O_WRONLY | O_CREAT | O_APPEND, 0o600)
                    size = 0
                }
            }
            close(fd)
        }
    }

    struct Sample {
        var seconds: Double
        var rss: [Double]
        var fds: [Int]
        var cpu: [Double]
        var written: Int
        var stored: Int64
        /// The aggregator's SQLite heap by its own count (nil when /metrics did not answer).
        var sqliteMiB: Double?
    }

    static func rssMiB(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kib / 1024
    }

    static func fdCount(_ pid: Int32) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).count
    }

    /// Runs the soak in `bench`'s scratch directory; returns the report.
    public func run(in bench: Bench) async throws -> String {
        let dir = bench.dir
        let certs = dir + "/certs"
        _ = try bench.run(["certs", "init", "--out", certs, "--cluster", "soak", "--node", "n1", "--node", "n2", "--node", "n3"])
        let store = dir + "/soak.sqlite"
        let (aggregator, address) = try bench.startAggregator(store: store, certs: certs, name: "soak-aggregator")
        defer { bench.stop(aggregator) }
        var writers: [Writer] = []
        var agents: [Process] = []
        for i in 1...3 {
            let nodeDir = dir + "/n\(i)"
            try FileManager.default.createDirectory(atPath: nodeDir, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: nodeDir + "/audit.log", contents: nil)
            writers.append(Writer(dir: nodeDir, node: "n\(i)", rate: Double(rate) / 3, rotateBytes: rotateBytes, backups: backups))
            agents.append(try bench.start(["agent", "--aggregator", "https://" + address, "--cluster", "soak", "--node", "n\(i)",
                                           "--path", nodeDir + "/audit.log", "--state-dir", nodeDir + "/state",
                                           "--tls-cert", certs + "/agent-soak-n\(i).pem", "--tls-key", certs + "/agent-soak-n\(i)-key.pem",
                                           "--ca", certs + "/ca.pem", "--log-level", "warning"], log: "soak-agent-n\(i).log"))
        }
        defer { for a in agents { bench.stop(a) } }
        let threads = writers.map { w in Thread { w.run() } }
        for t in threads { t.start() }
        let pids = [aggregator.processIdentifier] + agents.map(\.processIdentifier)
        let reader = try SQLiteStore(path: store, readOnly: true)
        var samples: [Sample] = []
        let start = ContinuousClock.now
        func elapsed() -> Double { bench.seconds(since: start) }
        // The aggregator's own count of SQLite's heap, beside its RSS (GET /metrics).
        let metricsClient = try HTTPClient(tls: ClientTLSConfiguration(certificateFile: certs + "/agent-soak-n1.pem",
                                                                       keyFile: certs + "/agent-soak-n1-key.pem", caFile: certs + "/ca.pem"))
        func sqliteMiB() -> Double? {
            guard let r = try? metricsClient.request(method: "GET", url: "https://\(address)/metrics", timeoutSeconds: 10), r.status == 200 else { return nil }
            for line in r.bodyText.split(separator: "\n") where line.hasPrefix("auditship_aggregator_sqlite_memory_bytes ") {
                return line.split(separator: " ").last.flatMap { Double($0) }.map { $0 / 1_048_576 }
            }
            return nil
        }
        func sample() async throws {
            samples.append(Sample(seconds: elapsed(), rss: pids.map(Self.rssMiB), fds: pids.map(Self.fdCount),
                                  cpu: pids.map(Bench.cpuSeconds), written: writers.reduce(0) { $0 + $1.written.load(ordering: .relaxed) },
                                  stored: try await reader.lastSequence(), sqliteMiB: sqliteMiB()))
            if let s = samples.last {
                bench.say(String(format: "soak: %5.0f s  written %d  stored %d  RSS %@ MiB  fds %@", s.seconds, s.written, s.stored,
                                 s.rss.map { String(format: "%.1f", $0) }.joined(separator: "/"), s.fds.map(String.init).joined(separator: "/")))
            }
        }
        try await sample()
        while elapsed() < duration {
            try await Task.sleep(for: .seconds(min(interval, max(0.1, duration - elapsed()))))
            for (p, pid) in zip([aggregator] + agents, pids) where !p.isRunning {
                throw BenchError("soak: process \(pid) exited early; see \(dir)")
            }
            try await sample()
        }
        for w in writers { w.stop.store(true, ordering: .relaxed) }
        for t in threads { while !t.isFinished { usleep(10_000) } }
        let written = writers.reduce(0) { $0 + $1.written.load(ordering: .relaxed) }
        let catchUp = ContinuousClock.now
        while try await reader.lastSequence() < Int64(written), bench.seconds(since: catchUp) < 300 {
            try await Task.sleep(for: .milliseconds(200))
        }
        let caughtUpIn = bench.seconds(since: catchUp)
        try await sample()
        let stored = try await reader.count(EventQuery())
        try await reader.close()
        return report(samples: samples, written: written, stored: stored, caughtUpIn: caughtUpIn)
    }

    func report(samples: [Sample], written: Int, stored: Int, caughtUpIn: Double) -> String {
        let names = ["aggregator", "agent n1", "agent n2", "agent n3"]
        var out = "auditship soak: \(rate) events/s for \(Int(duration)) s, rotation every \(rotateBytes >> 20) MiB keeping \(backups) backups\n\n"
        out += "   time    written     stored  " + names.map { $0.padding(toLength: 22, withPad: " ", startingAt: 0) }.joined() + "\n"
        out += "      s                        " + names.map { _ in "RSS MiB  fds  CPU s   " }.joined() + "aggregator's SQLite heap, MiB\n"
        for s in samples {
            out += String(format: "%7.0f %10d %10d  ", s.seconds, s.written, s.stored)
            for i in names.indices {
                out += String(format: "%7.1f %4d %7.1f   ", s.rss[i], s.fds[i], s.cpu[i])
            }
            out += s.sqliteMiB.map { String(format: "%7.1f", $0) } ?? "      -"
            out += "\n"
        }
        out += "\n"
        // Memory growth after warm-up (the first tenth): first sample past it to the last.
        let warm = samples.first { $0.seconds >= duration / 10 } ?? samples.first
        if let warm, let last = samples.last {
            for i in names.indices {
                let hours = max(1e-9, (last.seconds - warm.seconds) / 3600)
                let growth = last.rss[i] - warm.rss[i]
                let flat = growth < max(5, warm.rss[i] * 0.1)
                // The second half too: a bounded cache that fills during the first half (the store's
                // term ids, capped at 200,000 entries) grows after warm-up and then stays level.
                let half = samples.first { $0.seconds >= last.seconds / 2 } ?? warm
                let halfGrowth = last.rss[i] - half.rss[i]
                let halfFlat = halfGrowth < max(2, half.rss[i] * 0.02)
                out += String(format: "%@: RSS %.1f → %.1f MiB after warm-up (%+.1f MiB/h), peak %.1f; fds %d → %d (max %d); %@; second half %.1f → %.1f MiB: %@\n",
                              names[i], warm.rss[i], last.rss[i], growth / hours, samples.map { $0.rss[i] }.max() ?? 0,
                              warm.fds[i], last.fds[i], samples.map { $0.fds[i] }.max() ?? 0, flat ? "flat" : "GROWING",
                              half.rss[i], last.rss[i], halfFlat ? "level" : "GROWING")
            }
        }
        if let warm, let last = samples.last, let a = warm.sqliteMiB, let b = last.sqliteMiB {
            out += String(format: "aggregator's SQLite heap (its own count): %.1f → %.1f MiB after warm-up, peak %.1f; the rest of its RSS %.1f → %.1f MiB\n",
                          a, b, samples.compactMap(\.sqliteMiB).max() ?? b, warm.rss[0] - a, last.rss[0] - b)
        }
        out += "written \(written), stored \(stored)\(stored == written ? " (every event, once)" : " — MISMATCH"); caught up \(String(format: "%.1f", caughtUpIn)) s after the writers stopped\n"
        return out
    }
}
