import ArgumentParser
import AuditBench
import Foundation

/// `auditship soak`: the whole system at a steady rate for a chosen time; memory, file
/// descriptors and CPU of each process over time, and every event stored once at the end.
struct SoakCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Run an aggregator and three agents at a steady rate and report each process's memory and descriptors over time.",
        discussion: """
            Starts a SQLite aggregator and three agents as child processes on 127.0.0.1, and three writers that append
            generated events at --rate in total to files rotated every 64 MiB (five backups kept, like kube-apiserver).
            Every --interval it samples each process's resident memory (VmRSS), open file descriptors and CPU seconds.
            After --duration the writers stop; when every event is stored it prints the samples, each process's
            memory growth after warm-up (flat, or GROWING), and whether every written event was stored once.
            Exits 1 if not. Run it from a release build.
            """)

    @Option(help: "How long to write, like 1h, 30m or 90s.") var duration: String = "1h"
    @Option(help: "Events per second in total (three nodes).") var rate: Int = 2000
    @Option(help: "How often to sample, like 60s.") var interval: String = "60s"
    @Option(help: "Scratch directory (default: a new one under the temporary directory, removed afterwards).") var workDir: String?

    func run() async throws {
        guard let d = parseDuration(duration), d > .zero else { throw ValidationError("--duration '\(duration)' is not a duration like 1h") }
        guard let i = parseDuration(interval), i >= .seconds(1) else { throw ValidationError("--interval '\(interval)' is not a duration of at least 1s") }
        guard rate > 0 else { throw ValidationError("--rate must be above 0") }
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        let bench = try Bench(quick: true, policy: "", level: 1, workDir: workDir, progress: true)
        defer { bench.cleanUp() }
        let report = try await SoakRun(duration: seconds(d), rate: rate, interval: seconds(i)).run(in: bench)
        print(report)
        if report.contains("MISMATCH") { throw ExitCode(1) }
    }
}
