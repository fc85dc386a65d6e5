import ArgumentParser
import AuditBench
import AuditStorePostgres
import Foundation

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
    @Option(help: "Store sizes for the query figures, comma-separated (1m, 10m, 100m or a number). Default 1m.") var scale: String = "1m"
    @Option(help: "table or json.") var format: String = "table"
    @Option(help: "Kubernetes audit Policy for the pipeline figure.") var policy: String = "Deploy/policies/recommended.yaml"
    @Option(help: "gzip level of the agent and of the zlib reference.") var gzipLevel: Int32 = 1
    @Option(help: "Scratch directory (default: a new one under the temporary directory, removed afterwards).") var workDir: String?
    @Option(help: "PostgreSQL server for the PostgreSQL ingest figure, postgres://USER@HOST:PORT/DB (password from PGPASSWORD; the bench creates and leaves five databases bench_*). Without it that figure is skipped.") var postgres: String?
    @Option(help: "Run only these sections (comma-separated): pipeline, ingest, chain, postgres, latency, backfill, query, blocks. Default: all.") var only: String?
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
            try BenchChild.run(child, file: childFile, policy: policy, gzipLevel: gzipLevel)
            return
        }
        var bench = try Bench(quick: quick, policy: policy, level: gzipLevel, workDir: workDir, progress: format == "table")
        if let postgres { bench.postgres = try PostgresLocation(postgres) }
        var scales: [Int] = []
        for part in scale.split(separator: ",") {
            let t = part.trimmingCharacters(in: .whitespaces).lowercased()
            let n = t.hasSuffix("m") ? Int(t.dropLast()).map { $0 * 1_000_000 } : t.hasSuffix("k") ? Int(t.dropLast()).map { $0 * 1_000 } : Int(t)
            guard let n, n > 0 else { throw ValidationError("--scale: '\(part)' is not a size like 1m, 10m or 250000") }
            scales.append(n)
        }
        bench.queryScales = scales
        defer { bench.cleanUp() }
        var sections: Set<String>?
        if let only {
            sections = Set(only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            if let unknown = sections?.subtracting(Bench.sections).sorted().first {
                throw ValidationError("--only: no section '\(unknown)'; the sections are \(Bench.sections.joined(separator: ", "))")
            }
        }
        try await bench.runAll(only: sections)
        if format == "json" {
            print(bench.json())
        } else {
            print(bench.table())
        }
    }

}
