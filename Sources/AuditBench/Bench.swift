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

    public mutating func runAll() async throws {
        try pipeline()
        try await ingest()
        try await ingestReplay()
        try await chainCost()
        if let postgres {
            try await ingestPostgres(server: postgres)
        } else {
            say("aggregator ingest into PostgreSQL: skipped (no --postgres)")
        }
        try await latency()
        try backfill()
        try await query()
        try blockFormat()
    }

}
