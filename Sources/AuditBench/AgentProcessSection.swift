import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension Bench {
    /// CPU seconds (user + system) of the children waited for so far.
    static func childrenCPU() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return s(usage.ru_utime) + s(usage.ru_stime)
    }

    /// The whole agent process, not its pipeline alone: it ships a generated file (no policy, every
    /// event sent) to a real aggregator over mutual TLS until caught up, with its reading, compressing
    /// and delivery threads. Its CPU is set beside `gzip -1` over the same file, and its wall-clock
    /// throughput (two cores, shared with the aggregator) beside zlib level 1 alone on one core.
    mutating func agentProcess() throws {
        // About 1 GB in the full run: the memory figure is the peak RSS on a 1 GB file.
        let events = quick ? 20_000 : 1_350_000
        say("whole agent process: generating \(events) events")
        let certs = try certificates()
        let node = dir + "/n1-process"
        try FileManager.default.createDirectory(atPath: node, withIntermediateDirectories: true)
        let file = node + "/audit.log"
        try generate(file, events: events, seed: 71, node: "n1", keep: false)
        let bytes = Double(((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int) ?? 0)
        say("whole agent process: gzip -1 reference")
        guard FileManager.default.isExecutableFile(atPath: "/bin/gzip") else { throw BenchError("gzip is not installed (/bin/gzip)") }
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-1", "-c", file]
        gzip.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        var before = Self.childrenCPU()
        let gzipStart = ContinuousClock.now
        try gzip.run()
        gzip.waitUntilExit()
        let gzipWall = seconds(since: gzipStart)
        let gzipCPU = Self.childrenCPU() - before
        say("whole agent process: shipping to an aggregator")
        let (aggregator, address) = try startAggregator(store: dir + "/agent-process.sqlite", certs: certs, name: "agent-process-aggregator")
        defer { stop(aggregator) }
        before = Self.childrenCPU()
        let shipStart = ContinuousClock.now
        let agent = try start(["agent", "--aggregator", "https://" + address, "--cluster", "bench", "--node", "n1",
                                    "--path", file, "--state-dir", node + "/state",
                                    "--tls-cert", certs + "/agent-bench-n1.pem", "--tls-key", certs + "/agent-bench-n1-key.pem",
                                    "--ca", certs + "/ca.pem", "--exit-when-caught-up", "--log-level", "warning"], log: "agent-process.log")
        // The agent's own peak resident set (VmHWM, a high-water mark) read while it runs; the
        // children's ru_maxrss would be the largest child of the whole bench so far.
        var agentRSS = 0.0
        while agent.isRunning {
            agentRSS = max(agentRSS, Self.peakRSSMiB(agent.processIdentifier))
            usleep(20_000)
        }
        agent.waitUntilExit()
        let wall = seconds(since: shipStart)
        let agentCPU = Self.childrenCPU() - before
        guard agent.terminationStatus == 0 else { throw BenchError("the agent exited \(agent.terminationStatus); see \(dir)/agent-process.log") }
        let mb = bytes / 1e6
        figures.append(BenchFigure(section: "whole agent process", name: "CPU seconds shipping \(Int(mb)) MB to an aggregator (mTLS, gzip 1, no policy)",
                                   value: agentCPU, unit: "s", referenceName: "gzip -1 over the same file", reference: gzipCPU,
                                   target: "≤ 1× gzip -1", met: agentCPU <= gzipCPU))
        // Bound by the aggregator storing on the same two cores, not by the agent: the agent's own
        // two-core figure (reading and compressing threads, no network) is in the pipeline section.
        figures.append(BenchFigure(section: "whole agent process", name: "wall-clock MB/s, two cores shared with the aggregator (its ingest is the bound)",
                                   value: mb / wall, unit: "MB/s", referenceName: "gzip -1 alone, one core", reference: mb / gzipWall))
        figures.append(BenchFigure(section: "whole agent process", name: "peak RSS, with its queues (its VmHWM, read every 20 ms while it runs)",
                                   value: agentRSS, unit: "MiB", target: "≤ 48 MiB", met: agentRSS <= 48))
        try? FileManager.default.removeItem(atPath: file)
    }
}
