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
import AuditStorePostgres
import Logging

extension Bench {
    /// Three agents → two aggregators → one PostgreSQL database, beside three in-process
    /// writers of the same events in the same batch size into another database of the server.
    mutating func ingestPostgres(server: PostgresLocation) async throws {
        let password = ProcessInfo.processInfo.environment["PGPASSWORD"]
        var quiet = Logger(label: "auditship.bench.postgres")
        quiet.logLevel = .warning
        let certs = try certificates()
        let files = ingestLines
        let total = files.reduce(0) { $0 + $1.count }
        say("aggregator ingest into PostgreSQL: 3 agents → 2 aggregators, \(total) events")
        let tag = "\(getpid())_\(Int(Date().timeIntervalSince1970))"
        var viaAgents = server
        viaAgents.database = "bench_\(tag)_agents"
        var direct = server
        direct.database = "bench_\(tag)_direct"
        try await PostgresStore.createDatabase(viaAgents.database, server: server, password: password, logger: quiet)
        try await PostgresStore.createDatabase(direct.database, server: server, password: password, logger: quiet)
        let a = try startAggregator(store: viaAgents.description, certs: certs, name: "pg-aggregator-a")
        let b = try startAggregator(store: viaAgents.description, certs: certs, name: "pg-aggregator-b")
        defer { stop(a.0); stop(b.0) }
        let t = ContinuousClock.now
        var agents: [Process] = []
        for i in 1...3 {
            agents.append(try startCatchUpAgent(node: i, aggregators: [a.1, b.1], state: "state-pg", log: "pg-agent-n\(i).log"))
        }
        for p in agents { p.waitUntilExit() }
        let wall = seconds(since: t)
        let aggregatorRSS = max(Self.peakRSSMiB(a.0.processIdentifier), Self.peakRSSMiB(b.0.processIdentifier))
        let store = try await PostgresStore.connect(location: viaAgents, password: password, logger: quiet)
        let stored = try await store.count(EventQuery())
        let bytes = try await store.databaseBytes()
        try await store.close()
        guard stored == total else { throw BenchError("PostgreSQL ingest stored \(stored) of \(total) events; see \(dir)") }

        say("aggregator ingest into PostgreSQL: direct writers reference, with and without the hash chain")
        let all = try Self.batches(files)
        let work = (1...3).map { n in all.filter { $0.node == "n\(n)" } }
        /// Three in-process writers, one per node, into `location`; returns seconds.
        func directWriters(_ location: PostgresLocation, hashChain: Bool) async throws -> Double {
            let store = try await PostgresStore.connect(location: location, password: password, logger: quiet, migrate: true,
                                                        connectTimeout: .seconds(30), hashChain: hashChain)
            let t2 = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in work {
                    group.addTask { for batch in writer { _ = try await store.ingest(batch) } }
                }
                try await group.waitForAll()
            }
            let wall = seconds(since: t2)
            try await store.close()
            return wall
        }
        // With and without the chain, twice each in alternating order (the first into the
        // reference database), each into a fresh database; the best of each kept.
        var referenceWall = Double.infinity, noChainWall = Double.infinity
        for (round, order) in [[true, false], [false, true]].enumerated() {
            for chain in order {
                var location = direct
                if !(round == 0 && chain) {
                    location.database = "bench_\(tag)_\(chain ? "chain" : "nochain")\(round)"
                    try await PostgresStore.createDatabase(location.database, server: server, password: password, logger: quiet)
                }
                let wall = try await directWriters(location, hashChain: chain)
                if chain { referenceWall = min(referenceWall, wall) } else { noChainWall = min(noChainWall, wall) }
            }
        }
        figures.append(BenchFigure(section: "hash chain", name: "PostgreSQL store ingest with the hash chain, events/s (3 writers of one cluster)",
                                   value: Double(total) / referenceWall, unit: "events/s",
                                   referenceName: "the same writers and events without chain blocks", reference: Double(total) / noChainWall,
                                   target: "≥ 0.95× without (chain costs < 5%)", met: noChainWall >= 0.95 * referenceWall))
        let rate = Double(total) / wall
        figures.append(BenchFigure(section: "aggregator ingest (PostgreSQL)", name: "3 agents → 2 aggregators → PostgreSQL, events/s",
                                   value: rate, unit: "events/s",
                                   referenceName: "3 direct writers of 1,000-event batches into a PostgreSQL store",
                                   reference: Double(total) / referenceWall))
        figures.append(BenchFigure(section: "aggregator ingest (PostgreSQL)", name: "aggregator peak RSS (the larger of the two), MiB",
                                   value: aggregatorRSS, unit: "MiB"))
        figures.append(BenchFigure(section: "aggregator ingest (PostgreSQL)", name: "database bytes per event (\(total) events)",
                                   value: Double(bytes) / Double(max(1, total)), unit: "bytes",
                                   referenceName: "event bytes on the wire, mean",
                                   reference: Double(files.joined().reduce(0) { $0 + $1.count }) / Double(max(1, total))))
    }

}
