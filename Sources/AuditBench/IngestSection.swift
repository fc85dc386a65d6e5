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
    mutating func ingest() async throws {
        let perAgent = quick ? 8_000 : 200_000
        say("aggregator ingest: 3 agents × \(perAgent) events")
        let certs = try certificates()
        var all: [[UInt8]] = []
        for i in 1...3 {
            try FileManager.default.createDirectory(atPath: dir + "/n\(i)", withIntermediateDirectories: true)
            let lines = try generate(dir + "/n\(i)/audit.log", events: perAgent, seed: UInt64(20 + i), node: "n\(i)")
            ingestLines.append(lines)
            all += lines
        }
        let store = dir + "/ingest.sqlite"
        let (aggregator, address) = try startAggregator(store: store, certs: certs, name: "ingest-aggregator")
        defer { stop(aggregator) }
        let t = ContinuousClock.now
        var agents: [Process] = []
        for i in 1...3 {
            agents.append(try startCatchUpAgent(node: i, aggregators: [address], state: "state", log: "agent-n\(i).log"))
        }
        for a in agents { a.waitUntilExit() }
        let wall = seconds(since: t)
        let aggregatorRSS = Self.peakRSSMiB(aggregator.processIdentifier)
        let db = try SQLiteStore(path: store, readOnly: true)
        let stored = try await db.count(EventQuery())
        try await db.close()
        let storeBytes = [store, store + "-wal"].reduce(0.0) { total, p in
            total + Double(((try? FileManager.default.attributesOfItem(atPath: p))?[.size] as? Int) ?? 0)
        }
        guard stored == all.count else { throw BenchError("ingest stored \(stored) of \(all.count) events; see \(dir)") }
        say("aggregator ingest: raw SQLite reference")
        let timestamps = all.map { (try? EventScanner.scan($0))?.orderTimestamp.microseconds ?? 0 }
        let raw = try RawInsertReference.run(path: dir + "/raw.sqlite", events: all, timestamps: timestamps)
        let rate = Double(all.count) / wall
        let rawRate = Double(all.count) / raw
        rawInsertRate = rawRate
        figures.append(BenchFigure(section: "aggregator ingest", name: "3 agents → mTLS → SQLite (de-dup on), events/s",
                                   value: rate, unit: "events/s", referenceName: "raw SQLite insert of the same rows, one process",
                                   reference: rawRate, target: "≥ 100,000 events/s and ≥ 0.5× raw",
                                   met: rate >= 100_000 && rate >= 0.5 * rawRate))
        figures.append(BenchFigure(section: "aggregator ingest", name: "aggregator peak RSS (alerts on), MiB", value: aggregatorRSS, unit: "MiB"))
        figures.append(BenchFigure(section: "aggregator ingest", name: "SQLite store bytes per event (\(stored) events)",
                                   value: storeBytes / Double(max(1, stored)), unit: "bytes",
                                   referenceName: "event bytes on the wire, mean",
                                   reference: Double(all.reduce(0) { $0 + $1.count }) / Double(max(1, all.count))))
        try? FileManager.default.removeItem(atPath: dir + "/raw.sqlite")
    }

}

extension Bench {
    /// The ingest figure of the store: a light replay client posts the same events as ready-made gzip
    /// batches over mutual TLS on six connections (two per node), so that the agents' work does not share
    /// the machine's two cores with the aggregator. Dedupe, chain and alerts are on, as in production.
    mutating func ingestReplay() async throws {
        let certs = try certificates()
        let bodies = try ReplayClient.bodies(ingestLines)
        let total = bodies.reduce(0) { $0 + $1.events }
        say("aggregator ingest: replay client, \(total) events in \(bodies.count) gzip batches on 6 connections")
        let store = dir + "/replay.sqlite"
        let (aggregator, address) = try startAggregator(store: store, certs: certs, name: "replay-aggregator")
        defer { stop(aggregator) }
        let cpuBefore = Self.cpuSeconds(aggregator.processIdentifier)
        let t = ContinuousClock.now
        let outcome = ReplayClient.post(bodies, to: address, cluster: "bench", certs: certs, connections: 6)
        let wall = seconds(since: t)
        let cpu = Self.cpuSeconds(aggregator.processIdentifier) - cpuBefore
        let rss = Self.peakRSSMiB(aggregator.processIdentifier)
        if let failure = outcome.failure { throw BenchError("replay ingest: \(failure); see \(dir)/replay-aggregator.log") }
        guard outcome.stored == total else { throw BenchError("replay ingest stored \(outcome.stored) of \(total) events; see \(dir)") }
        let rate = Double(total) / wall
        figures.append(BenchFigure(section: "aggregator ingest", name: "replay client → mTLS → SQLite (de-dup, chain, alerts on), events/s",
                                   value: rate, unit: "events/s",
                                   referenceName: rawInsertRate.map { _ in "raw SQLite insert of the same rows, one process" },
                                   reference: rawInsertRate, target: "≥ 100,000 events/s", met: rate >= 100_000))
        figures.append(BenchFigure(section: "aggregator ingest", name: "events per aggregator CPU-second (replay)",
                                   value: cpu > 0 ? Double(total) / cpu : 0, unit: "events/s",
                                   referenceName: "wall-clock events/s of the same run", reference: rate))
        figures.append(BenchFigure(section: "aggregator ingest", name: "aggregator peak RSS during replay ingest, MiB", value: rss, unit: "MiB"))
        if outcome.refusals > 0 { say("aggregator ingest: the aggregator refused \(outcome.refusals) times with 429/503 (retried)") }
    }
}
