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

/// Why the bench could not measure something.
public struct BenchError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One measured figure and what it is judged against.
public struct BenchFigure {
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

/// `auditship bench`: each section measures figures beside their references in the same run.
/// A file per section (`*Section.swift`); process helpers in `BenchProcesses.swift`.
public struct Bench {
    let quick: Bool
    let policy: String
    let level: Int32
    public let dir: String
    let removeDir: Bool
    let progress: Bool
    public internal(set) var figures: [BenchFigure] = []
    let executable: String
    /// The server for the PostgreSQL ingest figure, if any.
    public var postgres: PostgresLocation?
    /// The three agents' files of the ingest figure, reused by the PostgreSQL one.
    var ingestLines: [[[UInt8]]] = []
    /// The raw SQLite insert reference of the ingest section (events/s), reused by the replay figure.
    var rawInsertRate: Double?
    /// Store sizes the query section measures at (`auditship bench --scale`).
    public var queryScales: [Int] = [1_000_000]

    public init(quick: Bool, policy: String, level: Int32, workDir: String?, progress: Bool) throws {
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

    public func cleanUp() {
        if removeDir { try? FileManager.default.removeItem(atPath: dir) }
    }

    func say(_ s: String) {
        if progress { FileHandle.standardError.write(Data(("bench: " + s + "\n").utf8)) }
    }

    /// The sections, in the order a full run measures them.
    public static let sections = ["pipeline", "agent", "ingest", "chain", "postgres", "latency", "backfill", "query", "blocks"]

    /// Runs every section, or those named in `only` (the ingest section's files are made by it, so
    /// `chain` and `postgres` run it too).
    public mutating func runAll(only: Set<String>? = nil) async throws {
        func wanted(_ s: String) -> Bool { only?.contains(s) ?? true }
        if wanted("pipeline") { try pipeline() }
        if wanted("agent") { try agentProcess() }
        if wanted("ingest") || wanted("chain") || wanted("postgres") {
            try await ingest()
            try await ingestReplay()
        }
        if wanted("chain") { try await chainCost() }
        if wanted("postgres") {
            if let postgres {
                try await ingestPostgres(server: postgres)
            } else {
                say("aggregator ingest into PostgreSQL: skipped (no --postgres)")
            }
        }
        if wanted("latency") { try await latency() }
        if wanted("backfill") { try backfill() }
        if wanted("query") { try await query() }
        if wanted("blocks") { try blockFormat() }
    }

}
