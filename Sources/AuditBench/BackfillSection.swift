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
    mutating func backfill() throws {
        let wanted = quick ? 15_000 : 1_350_000
        say("backfill: generating \(wanted) events of history")
        let history = dir + "/history"
        try FileManager.default.createDirectory(atPath: history, withIntermediateDirectories: true)
        // Four files of a quarter each, generated one at a time (memory stays at one file).
        var files: [String] = []
        var bytes = 0
        for i in 0..<4 {
            let name = history + (i == 3 ? "/audit.log" : "/audit-2026-01-01T0\(i)-00-00.000.log")
            try generate(name, events: wanted / 4, seed: UInt64(31 + i), node: "n1", keep: false)
            let size = Int((try FileManager.default.attributesOfItem(atPath: name)[.size] as? NSNumber)?.int64Value ?? 0)
            bytes += size
            if i < 2 {
                let data = try Data(contentsOf: URL(fileURLWithPath: name))
                try Data(try Gzip.compress([UInt8](data), level: 6)).write(to: URL(fileURLWithPath: name + ".gz"))
                try FileManager.default.removeItem(atPath: name)
                files.append(name + ".gz")
            } else {
                files.append(name)
            }
        }
        let events = wanted / 4 * 4
        say("backfill: gzip -dcf reference")
        let g = Process()
        g.executableURL = URL(fileURLWithPath: "/bin/sh")
        g.arguments = ["-c", "gzip -dcf \"$@\" > /dev/null", "sh"] + files
        let tg = ContinuousClock.now
        try g.run()
        g.waitUntilExit()
        let gzipSeconds = seconds(since: tg)
        say("backfill: through the aggregator")
        let certs = try certificates()
        let (aggregator, address) = try startAggregator(store: dir + "/backfill.sqlite", certs: certs, name: "backfill-aggregator")
        defer { stop(aggregator) }
        let t = ContinuousClock.now
        _ = try run(["backfill", "--cluster", "bench", "--node", "n1", "--state-dir", dir + "/backfill-state",
                     "--aggregator", "https://" + address, "--tls-cert", certs + "/agent-bench-n1.pem",
                     "--tls-key", certs + "/agent-bench-n1-key.pem", "--ca", certs + "/ca.pem", history])
        let wall = seconds(since: t)
        let mb = Double(bytes) / 1e6
        figures.append(BenchFigure(section: "backfill", name: "\(Int(mb)) MB (2 .gz + 2 plain) → aggregator → SQLite, MB/s",
                                   value: mb / wall, unit: "MB/s", referenceName: "gzip -dcf of the same files",
                                   reference: mb / gzipSeconds, target: "≥ 0.5× gzip -dcf", met: mb / wall >= 0.5 * mb / gzipSeconds))
        figures.append(BenchFigure(section: "backfill", name: "events/s", value: Double(events) / wall, unit: "events/s",
                                   referenceName: "gzip -dcf, events/s", reference: Double(events) / gzipSeconds))
        // Straight into SQLite (`backfill --store`, an air-gapped import): reading, scanning and
        // sealing beside the store's writer, no network.
        say("backfill: straight into SQLite")
        let direct = dir + "/backfill-direct.sqlite"
        let cpuBefore = Self.childrenCPU()
        let td = ContinuousClock.now
        _ = try run(["backfill", "--cluster", "bench", "--node", "n1", "--state-dir", dir + "/backfill-direct-state",
                     "--store", "sqlite:" + direct, history])
        let directWall = seconds(since: td)
        let directCPU = Self.childrenCPU() - cpuBefore
        figures.append(BenchFigure(section: "backfill", name: "\(Int(mb)) MB straight into SQLite (`backfill --store`), events/s",
                                   value: Double(events) / directWall, unit: "events/s", referenceName: "gzip -dcf, events/s",
                                   reference: Double(events) / gzipSeconds, target: "≥ 100,000 events/s", met: Double(events) / directWall >= 100_000))
        figures.append(BenchFigure(section: "backfill", name: "the same, events per CPU-second of the backfill process",
                                   value: Double(events) / directCPU, unit: "events/CPU-s"))
        for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: direct + suffix) }
    }

}
