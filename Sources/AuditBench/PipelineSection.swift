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

extension Bench {
    mutating func pipeline() throws {
        let events = quick ? 40_000 : 1_350_000  // about 1 GB in the full run
        say("agent pipeline: generating \(events) events")
        let file = dir + "/pipeline.log"
        _ = try generate(file, events: events, seed: 11, node: "master-1", keep: false)
        say("agent pipeline: measuring")
        let (z, _) = try child("zlib", file: file)
        let (zs, _) = try child("zstd", file: file)
        let (p, _) = try child("pipeline", file: file)
        let (n, _) = try child("pipeline-without-policy", file: file)
        let (pz, _) = try child("pipeline-zstd", file: file)
        let (pt, _) = try child("pipeline-threads", file: file)
        let mb = Double(p.bytes) / 1e6
        let pipelineRate = Double(p.events) / p.cpu
        let zlibRate = Double(p.events) / z.cpu  // the same bytes hold the same events
        figures.append(BenchFigure(section: "agent pipeline", name: "events/s on one core (policy: recommended, gzip \(level))",
                                   value: pipelineRate, unit: "events/s", referenceName: "zlib deflate alone, same bytes and level",
                                   reference: zlibRate, target: "≥ 0.7× zlib", met: pipelineRate >= 0.7 * zlibRate))
        figures.append(BenchFigure(section: "agent pipeline", name: "MB/s on one core", value: mb / p.cpu, unit: "MB/s",
                                   referenceName: "zlib deflate alone", reference: Double(z.bytes) / 1e6 / z.cpu))
        figures.append(BenchFigure(section: "agent pipeline", name: "CPU seconds per GB", value: p.cpu / (mb / 1000), unit: "s/GB",
                                   referenceName: "zlib deflate alone", reference: z.cpu / (Double(z.bytes) / 1e9)))
        figures.append(BenchFigure(section: "agent pipeline", name: "peak RSS reading \(Int(mb)) MB", value: Double(p.maxrss_kib) / 1024, unit: "MiB",
                                   referenceName: "zlib reference process", reference: Double(z.maxrss_kib) / 1024,
                                   target: "≤ 48 MiB", met: Double(p.maxrss_kib) / 1024 <= 48))
        // --compression zstd: the compressor alone, beside zlib, over the same bytes and pieces.
        figures.append(BenchFigure(section: "agent pipeline", name: "events/s on one core with --compression zstd (policy: recommended)",
                                   value: Double(pz.events) / pz.cpu, unit: "events/s", referenceName: "zlib deflate alone, same bytes, level \(level)",
                                   reference: zlibRate, target: "≥ 0.7× zlib", met: Double(pz.events) / pz.cpu >= 0.7 * zlibRate))
        figures.append(BenchFigure(section: "agent pipeline", name: "zstd level 1 alone (what --compression zstd sends), CPU seconds per GB",
                                   value: zs.cpu / (Double(zs.bytes) / 1e9), unit: "s/GB",
                                   referenceName: "zlib deflate alone, level \(level)", reference: z.cpu / (Double(z.bytes) / 1e9)))
        figures.append(BenchFigure(section: "agent pipeline", name: "zstd level 1 alone, compressed bytes per input byte",
                                   value: Double(zs.compressed ?? 0) / Double(max(1, zs.bytes)), unit: "ratio",
                                   referenceName: "zlib deflate alone, level \(level)", reference: Double(z.compressed ?? 0) / Double(max(1, z.bytes))))
        // The agent's own work on two cores: reading and validating on one thread, compressing on
        // another (no policy, every event; no network), beside zlib alone on one core.
        let threadsRate = Double(pt.bytes) / 1e6 / max(pt.wall ?? 0, 1e-9)
        let zlibWallRate = Double(z.bytes) / 1e6 / max(z.wall ?? z.cpu, 1e-9)
        figures.append(BenchFigure(section: "agent pipeline", name: "wall-clock MB/s on two cores (reading thread + compressing thread, no policy, no network)",
                                   value: threadsRate, unit: "MB/s", referenceName: "zlib deflate alone, one core, wall-clock", reference: zlibWallRate,
                                   target: "≥ 1.2× zlib level 1 alone", met: threadsRate >= 1.2 * zlibWallRate))
        let policyShare = max(0, p.cpu - n.cpu) / p.cpu
        figures.append(BenchFigure(section: "agent pipeline", name: "share of per-event time spent in the policy", value: policyShare * 100, unit: "%",
                                   referenceName: "pipeline without policy, events/s", reference: nil,
                                   target: "< 20 % (without policy: \(Int(Double(n.events) / n.cpu)) events/s)", met: policyShare < 0.2))
        try? FileManager.default.removeItem(atPath: file)
    }
}
