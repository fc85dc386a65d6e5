import ArgumentParser
import AuditAgent
import AuditChain
import AuditGenerator
import AuditModel
import AuditStore
import AuditStorePostgres
import Foundation
import Gzip
import Logging
import OpenSSLKit
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `auditship bench`: speed and memory, each figure beside the reference it is judged by,
/// measured in the same run on the same data.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the agent pipeline, aggregator ingest, backfill and queries beside their references.",
        discussion: """
            Run it from a release build (swift build -c release) in the repository root (for the default
            --policy). Figures: agent pipeline (read, split, scan, policy, batch, gzip; one core) beside zlib
            alone on the same bytes; peak RSS of the pipeline; aggregator ingest from three agents over loopback
            mutual TLS into SQLite beside a raw SQLite insert of the same rows; backfill through the aggregator
            beside `gzip -dcf` of the same files; a one-hour user query and a count per verb over a store.
            With --postgres, also three agents → two aggregators → PostgreSQL beside three direct writers of the
            same batches into a PostgreSQL store, and the database's bytes per event.
            --quick runs small sizes (under a minute) for smoke tests; it asserts nothing about speed.
            """)

    @Flag(help: "Small sizes, for a smoke run.") var quick = false
    @Option(help: "table or json.") var format: String = "table"
    @Option(help: "Kubernetes audit Policy for the pipeline figure.") var policy: String = "Deploy/policies/recommended.yaml"
    @Option(help: "gzip level of the agent and of the zlib reference.") var gzipLevel: Int32 = 1
    @Option(help: "Scratch directory (default: a new one under the temporary directory, removed afterwards).") var workDir: String?
    @Option(help: "PostgreSQL server for the PostgreSQL ingest figure, postgres://USER@HOST:PORT/DB (password from PGPASSWORD; the bench creates and leaves five databases bench_*). Without it that figure is skipped.") var postgres: String?
    @Option(help: .hidden) var child: String?
    @Option(help: .hidden) var childFile: String?

    func validate() throws {
        guard ["table", "json"].contains(format) else { throw ValidationError("--format must be table or json") }
        guard (1...9).contains(gzipLevel) else { throw ValidationError("--gzip-level must be 1 to 9") }
        if child == nil && !FileManager.default.fileExists(atPath: policy) {
            throw ValidationError("policy file '\(policy)' not found: run from the repository root or pass --policy")
        }
    }

    func run() async throws {
        if let child, let childFile {
            try runChild(child, file: childFile)
            return
        }
        var bench = try Bench(quick: quick, policy: policy, level: gzipLevel, workDir: workDir, progress: format == "table")
        if let postgres { bench.postgres = try PostgresLocation(postgres) }
        defer { bench.cleanUp() }
        try await bench.runAll()
        if format == "json" {
            print(bench.json())
        } else {
            print(bench.table())
        }
    }

    /// Measurements that need a process of their own (peak RSS, CPU time).
    func runChild(_ mode: String, file: String) throws {
        var events = 0
        var bytes = 0
        let level = gzipLevel
        switch mode {
        case "pipeline", "pipeline-without-policy":
            let filter = mode == "pipeline" ? try PolicyFilter(policy: Agent.loadPolicy(policy)) : nil
            let f = try OpenFile(path: file)
            let (identity, _) = try f.identity()
            let tailed = TailedFile(path: file, file: f, identity: identity, offset: 0, line: 0, maxLineBytes: 4 << 20)
            var batch: [SourcedEvent] = []
            var quarantined: [QuarantinedLine] = []
            var body: [UInt8] = []
            while true {
                batch.removeAll(keepingCapacity: true)
                let readAny = try tailed.read(fileIndex: 0, eventBudget: 1000, byteBudget: 4 << 20, events: &batch, quarantined: &quarantined)
                if !readAny && tailed.reachedEnd && batch.isEmpty { break }
                body.removeAll(keepingCapacity: true)
                for e in batch {
                    events += 1
                    bytes += e.bytes.count + 1
                    var out = e.bytes
                    if let filter {
                        switch try filter.apply(e.bytes, e.summary).0 {
                        case .keep: break
                        case .rewrite(let b): out = b
                        case .drop: continue
                        }
                    }
                    body.append(contentsOf: out)
                    body.append(0x0A)
                }
                if !body.isEmpty { _ = try Gzip.compress(body, level: level) }
            }
        case "zlib":
            // The same bytes in batch-sized pieces (about 1000 events each), deflated.
            let f = try OpenFile(path: file)
            let (_, size) = try f.identity()
            var chunk = [UInt8](repeating: 0, count: 800 * 1024)
            var offset: Int64 = 0
            while offset < size {
                let n = try f.read(into: &chunk, at: offset)
                if n == 0 { break }
                offset += Int64(n)
                bytes += n
                _ = try chunk.withUnsafeBytes { try Gzip.compress(UnsafeRawBufferPointer(rebasing: $0[0..<n]), level: level) }
            }
            events = -1
        default:
            throw ValidationError("unknown bench child '\(mode)'")
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        // VmHWM is this process's own peak (ru_maxrss would include the parent's, inherited at spawn).
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let hwm = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }?
            .split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) } ?? usage.ru_maxrss
        print("{\"events\":\(events),\"bytes\":\(bytes),\"cpu\":\(cpu),\"maxrss_kib\":\(hwm)}")
    }
}

/// One measured figure and what it is judged against.
struct BenchFigure {
    var section: String
    var name: String
    var value: Double
    var unit: String
    var referenceName: String?
    var reference: Double?
    /// A target in words, with whether it was met.
    var target: String?
    var met: Bool?
    var ratio: Double? { reference.flatMap { $0 > 0 ? value / $0 : nil } }
}

struct Bench {
    let quick: Bool
    let policy: String
    let level: Int32
    let dir: String
    let removeDir: Bool
    let progress: Bool
    var figures: [BenchFigure] = []
    let executable: String
    /// The server for the PostgreSQL ingest figure, if any.
    var postgres: PostgresLocation?
    /// The three agents' files of the ingest figure, reused by the PostgreSQL one.
    var ingestLines: [[[UInt8]]] = []

    init(quick: Bool, policy: String, level: Int32, workDir: String?, progress: Bool) throws {
        self.quick = quick
        self.policy = policy
        self.level = level
        self.progress = progress
        if let workDir {
            dir = workDir
            removeDir = false
        } else {
            dir = NSTemporaryDirectory() + "auditship-bench-\(getpid())"
            removeDir = true
        }
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    func cleanUp() {
        if removeDir { try? FileManager.default.removeItem(atPath: dir) }
    }

    func say(_ s: String) {
        if progress { FileHandle.standardError.write(Data(("bench: " + s + "\n").utf8)) }
    }

    mutating func runAll() async throws {
        try pipeline()
        try await ingest()
        try await chainCost()
        if let postgres {
            try await ingestPostgres(server: postgres)
        } else {
            say("aggregator ingest into PostgreSQL: skipped (no --postgres)")
        }
        try await latency()
        try backfill()
        try await query()
    }

    // MARK: helpers

    /// Writes generated events to `path`; returns (events, bytes).
    @discardableResult
    func generate(_ path: String, events: Int, seed: UInt64, node: String, rate: Double = 100, keep: Bool = true) throws -> [[UInt8]] {
        var lines: [[UInt8]] = []
        lines.reserveCapacity(events)
        var out: [UInt8] = []
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw ValidationError("cannot create \(path)")
        }
        for line in AuditLogGenerator(GeneratorConfiguration(events: events, seed: seed, node: node, rate: rate)) {
            out.append(contentsOf: line)
            out.append(0x0A)
            if keep { lines.append(line) }
            if out.count > 4 << 20 { h.write(Data(out)); out.removeAll(keepingCapacity: true) }
        }
        h.write(Data(out))
        try h.close()
        return lines
    }

    /// Runs this binary; returns its standard output.
    func run(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ValidationError("auditship \(args.first ?? "") exited \(p.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }

    func start(_ args: [String], log: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        _ = FileManager.default.createFile(atPath: dir + "/" + log, contents: nil)
        let h = FileHandle(forWritingAtPath: dir + "/" + log)
        p.standardOutput = h
        p.standardError = h
        try p.run()
        return p
    }

    struct ChildResult: Decodable { var events: Int; var bytes: Int; var cpu: Double; var maxrss_kib: Int }

    func child(_ mode: String, file: String) throws -> (ChildResult, wall: Double) {
        let t = ContinuousClock.now
        let out = try run(["bench", "--child", mode, "--child-file", file, "--policy", policy, "--gzip-level", "\(level)"])
        let wall = seconds(since: t)
        guard let line = out.split(separator: "\n").last,
              let r = try? JSONDecoder().decode(ChildResult.self, from: Data(line.utf8)) else {
            throw ValidationError("bench child \(mode) printed no result")
        }
        return (r, wall)
    }

    func seconds(since t: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - t
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    func startAggregator(store: String, certs: String, name: String) throws -> (Process, String) {
        let ready = dir + "/\(name).ready"
        try? FileManager.default.removeItem(atPath: ready)
        let p = try start(["aggregator", "--listen", "127.0.0.1:0", "--ready-file", ready,
                           "--tls-cert", certs + "/aggregator.pem", "--tls-key", certs + "/aggregator-key.pem",
                           "--client-ca", certs + "/ca.pem", "--store", store.hasPrefix("postgres") ? store : "sqlite:" + store,
                           "--log-level", "warning"], log: "\(name).log")
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            guard p.isRunning else { throw ValidationError("the aggregator exited; see \(dir)/\(name).log") }
            if let s = try? String(contentsOfFile: ready, encoding: .utf8), !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                return (p, s.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            usleep(50_000)
        }
        throw ValidationError("the aggregator did not start within 60 s")
    }

    func stop(_ p: Process) {
        if p.isRunning { kill(p.processIdentifier, SIGTERM) }
        p.waitUntilExit()
    }

    // MARK: sections

    mutating func pipeline() throws {
        let events = quick ? 40_000 : 1_350_000  // about 1 GB in the full run
        say("agent pipeline: generating \(events) events")
        let file = dir + "/pipeline.log"
        _ = try generate(file, events: events, seed: 11, node: "master-1", keep: false)
        say("agent pipeline: measuring")
        let (z, _) = try child("zlib", file: file)
        let (p, _) = try child("pipeline", file: file)
        let (n, _) = try child("pipeline-without-policy", file: file)
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
        let policyShare = max(0, p.cpu - n.cpu) / p.cpu
        figures.append(BenchFigure(section: "agent pipeline", name: "share of per-event time spent in the policy", value: policyShare * 100, unit: "%",
                                   referenceName: "pipeline without policy, events/s", reference: nil,
                                   target: "< 20 % (without policy: \(Int(Double(n.events) / n.cpu)) events/s)", met: policyShare < 0.2))
        try? FileManager.default.removeItem(atPath: file)
    }

    mutating func ingest() async throws {
        let perAgent = quick ? 8_000 : 200_000
        say("aggregator ingest: 3 agents × \(perAgent) events")
        let certs = dir + "/certs"
        _ = try run(["certs", "init", "--out", certs, "--cluster", "bench", "--node", "n1", "--node", "n2", "--node", "n3"])
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
            agents.append(try start(["agent", "--aggregator", "https://" + address, "--cluster", "bench", "--node", "n\(i)",
                                     "--path", dir + "/n\(i)/audit.log", "--state-dir", dir + "/n\(i)/state",
                                     "--tls-cert", certs + "/agent-bench-n\(i).pem", "--tls-key", certs + "/agent-bench-n\(i)-key.pem",
                                     "--ca", certs + "/ca.pem", "--exit-when-caught-up", "--batch-linger-ms", "50", "--log-level", "warning"],
                                    log: "agent-n\(i).log"))
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
        guard stored == all.count else { throw ValidationError("ingest stored \(stored) of \(all.count) events; see \(dir)") }
        say("aggregator ingest: raw SQLite reference")
        let timestamps = all.map { (try? EventScanner.scan($0))?.orderTimestamp.microseconds ?? 0 }
        let raw = try RawInsertReference.run(path: dir + "/raw.sqlite", events: all, timestamps: timestamps)
        let rate = Double(all.count) / wall
        let rawRate = Double(all.count) / raw
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

    /// The hash chain's cost on ingest: the ingest figure's events, scanned once, stored in 1,000-event
    /// batches by one in-process writer into a SQLite store with and without chain blocks; two rounds in
    /// alternating order, the best of each kept.
    mutating func chainCost() async throws {
        say("hash chain cost: SQLite store ingest with and without the chain")
        let batches = try Self.batches(ingestLines)
        let total = batches.reduce(0) { $0 + $1.events.count }
        var best: [Bool: Double] = [:]
        for (round, order) in [[false, true], [true, false]].enumerated() {
            for chain in order {
                let path = dir + "/chain-\(chain)-\(round).sqlite"
                let store = try SQLiteStore(path: path, readOnly: false, hashChain: chain)
                let t = ContinuousClock.now
                for b in batches { _ = try await store.ingest(b) }
                let rate = Double(total) / seconds(since: t)
                if chain && round == 0 {
                    // What a full `verify` of this store takes, beside reading every event once.
                    let signer = try CheckpointSigner(key: try PrivateKey.generateEd25519())
                    let heads = try await store.chainHeads()
                    try await store.saveCheckpoints(try heads.map { try signer.sign(head: $0, signedAt: 1, prunedBefore: 0) },
                                                    keyID: signer.keyID, publicKeyPEM: signer.publicKeyPEM)
                    let tv = ContinuousClock.now
                    let report = try await ChainVerifier(source: store, trustedKeys: [signer.keyID: signer.publicKey]).run()
                    let verifySeconds = seconds(since: tv)
                    guard report.ok, report.clusters.reduce(0, { $0 + $1.eventsVerified }) == total else {
                        throw ValidationError("verify of the bench store did not come out clean: \(VerifyCommand.text(report))")
                    }
                    let tr = ContinuousClock.now
                    var read = 0
                    var after: Int64 = 0
                    while true {
                        let page = try await store.events(EventQuery(limit: 10_000, ingestedAfter: after, ingestOrder: true))
                        read += page.count
                        guard let last = page.last?.sequence, page.count == 10_000 else { break }
                        after = last
                    }
                    let readSeconds = seconds(since: tr)
                    figures.append(BenchFigure(section: "hash chain", name: "auditship verify of the whole store (\(total) events), events/s",
                                               value: Double(total) / verifySeconds, unit: "events/s",
                                               referenceName: "reading every event once through the store's query (\(read) events)",
                                               reference: Double(read) / readSeconds))
                }
                try store.closeNow()
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
                best[chain] = max(best[chain] ?? 0, rate)
            }
        }
        let on = best[true] ?? 0, off = best[false] ?? 0
        figures.append(BenchFigure(section: "hash chain", name: "SQLite store ingest with the hash chain, events/s (1 writer, 1,000-event batches)",
                                   value: on, unit: "events/s", referenceName: "the same store and events without chain blocks",
                                   reference: off, target: "≥ 0.95× without (chain costs < 5%)", met: on >= 0.95 * off))
    }

    /// The files' lines as 1,000-event batches of nodes n1, n2, n3 (scanned and hashed here, not timed).
    static func batches(_ files: [[[UInt8]]]) throws -> [IngestBatch] {
        var out: [IngestBatch] = []
        for (i, lines) in files.enumerated() {
            for start in stride(from: 0, to: lines.count, by: 1000) {
                let events = try lines[start..<min(start + 1000, lines.count)].map { line in
                    IngestEvent(bytes: line, summary: try EventScanner.scan(line), digest: SHA256.hash(line))
                }
                out.append(IngestBatch(cluster: "bench", node: "n\(i + 1)", batchID: "b\(i)-\(start)", events: events))
            }
        }
        return out
    }

    /// Three agents → two aggregators → one PostgreSQL database, beside three in-process
    /// writers of the same events in the same batch size into another database of the server.
    mutating func ingestPostgres(server: PostgresLocation) async throws {
        let password = ProcessInfo.processInfo.environment["PGPASSWORD"]
        var quiet = Logger(label: "auditship.bench.postgres")
        quiet.logLevel = .warning
        let certs = dir + "/certs"
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
            agents.append(try start(["agent", "--aggregator", "https://" + a.1, "--aggregator", "https://" + b.1,
                                     "--cluster", "bench", "--node", "n\(i)",
                                     "--path", dir + "/n\(i)/audit.log", "--state-dir", dir + "/n\(i)/state-pg",
                                     "--tls-cert", certs + "/agent-bench-n\(i).pem", "--tls-key", certs + "/agent-bench-n\(i)-key.pem",
                                     "--ca", certs + "/ca.pem", "--exit-when-caught-up", "--batch-linger-ms", "50", "--log-level", "warning"],
                                    log: "pg-agent-n\(i).log"))
        }
        for p in agents { p.waitUntilExit() }
        let wall = seconds(since: t)
        let aggregatorRSS = max(Self.peakRSSMiB(a.0.processIdentifier), Self.peakRSSMiB(b.0.processIdentifier))
        let store = try await PostgresStore.connect(location: viaAgents, password: password, logger: quiet)
        let stored = try await store.count(EventQuery())
        let bytes = try await store.databaseBytes()
        try await store.close()
        guard stored == total else { throw ValidationError("PostgreSQL ingest stored \(stored) of \(total) events; see \(dir)") }

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

    /// A running process's peak resident set (VmHWM), MiB; 0 when /proc cannot say.
    static func peakRSSMiB(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kib / 1024
    }

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
        let certs = dir + "/certs"
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
            throw ValidationError("latency: only \(latencies.count) of \(lines.count) events arrived within the time allowed")
        }
        latencies.sort()
        func pct(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] * 1000 }
        figures.append(BenchFigure(section: "end-to-end latency", name: "append → queryable at \(rate) events/s, p50", value: pct(0.5), unit: "ms"))
        figures.append(BenchFigure(section: "end-to-end latency", name: "p99", value: pct(0.99), unit: "ms", target: "≤ 1000 ms", met: pct(0.99) <= 1000))
        figures.append(BenchFigure(section: "end-to-end latency", name: "max", value: (latencies.last ?? 0) * 1000, unit: "ms"))
    }

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
        let certs = dir + "/certs"
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
    }

    mutating func query() async throws {
        let events = quick ? 20_000 : 1_000_000
        say("query: building a store of \(events) events")
        let path = dir + "/query.sqlite"
        let store = try SQLiteStore(path: path)
        var users: [String: Int] = [:]
        var batch: [IngestEvent] = []
        var first: Timestamp?
        var lastSeen = Timestamp(microseconds: 0)
        var n = 0
        for line in AuditLogGenerator(GeneratorConfiguration(events: events, seed: 41, node: "n1", rate: 100)) {
            let s = try EventScanner.scan(line)
            if first == nil { first = s.orderTimestamp }
            lastSeen = max(lastSeen, s.orderTimestamp)
            users[s.username ?? "", default: 0] += 1
            batch.append(IngestEvent(bytes: line, summary: s, digest: SHA256.hash(line)))
            n += 1
            if batch.count == 5000 {
                _ = try await store.ingest(IngestBatch(cluster: "bench", node: "n1", batchID: "q\(n)", events: batch))
                batch.removeAll(keepingCapacity: true)
            }
        }
        if !batch.isEmpty { _ = try await store.ingest(IngestBatch(cluster: "bench", node: "n1", batchID: "q\(n)", events: batch)) }
        let user = users.max { $0.value < $1.value }?.key ?? ""
        // An hour starting a quarter into the data (the quick store spans less than an hour).
        let begin = (first ?? lastSeen).microseconds
        let start = Timestamp(microseconds: begin + (lastSeen.microseconds - begin) / 4)
        var q = EventQuery()
        q.user = user
        q.since = start
        q.until = Timestamp(microseconds: start.microseconds + 3_600_000_000)
        var times: [Double] = []
        var found = 0
        for _ in 0..<5 {
            let t = ContinuousClock.now
            found = try await store.events(q).count
            times.append(seconds(since: t))
        }
        var statTimes: [Double] = []
        for _ in 0..<3 {
            let t = ContinuousClock.now
            _ = try await store.statistics(EventQuery()).byVerb
            statTimes.append(seconds(since: t))
        }
        try await store.close()
        let median = times.sorted()[times.count / 2] * 1000
        figures.append(BenchFigure(section: "query", name: "one hour, one user (\(found) events) of \(events), median ms",
                                   value: median, unit: "ms", referenceName: nil, reference: nil, target: "≤ 100 ms", met: median <= 100))
        figures.append(BenchFigure(section: "query", name: "count per verb over all \(events), median ms",
                                   value: statTimes.sorted()[1] * 1000, unit: "ms"))
    }

    // MARK: output

    func machine() -> String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        return "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(cpu)"
    }

    func number(_ v: Double) -> String {
        v >= 1000 ? String(Int(v.rounded())) : v >= 10 ? String(format: "%.1f", v) : String(format: "%.3f", v)
    }

    func table() -> String {
        var out = "auditship bench\(quick ? " --quick" : "") on \(machine())\n\n"
        for f in figures {
            out += "[\(f.section)] \(f.name)\n    \(number(f.value)) \(f.unit)"
            if let r = f.reference, let name = f.referenceName {
                out += "   beside \(name): \(number(r))"
                if let ratio = f.ratio { out += "   (\(String(format: "%.2f", ratio))×)" }
            }
            if let target = f.target { out += "   target \(target): \(f.met == true ? "met" : f.met == false ? "MISSED" : "-")" }
            out += "\n"
        }
        return out
    }

    func json() -> String {
        var items: [[String: Any]] = []
        for f in figures {
            var d: [String: Any] = ["section": f.section, "name": f.name, "value": f.value, "unit": f.unit]
            if let r = f.reference { d["reference"] = ["name": f.referenceName ?? "", "value": r] as [String: Any] }
            if let ratio = f.ratio { d["ratio"] = ratio }
            if let t = f.target { d["target"] = t }
            if let m = f.met { d["met"] = m }
            items.append(d)
        }
        let root: [String: Any] = ["machine": machine(), "quick": quick, "figures": items]
        let data = (try? JSONSerialization.data(withJSONObject: root, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
