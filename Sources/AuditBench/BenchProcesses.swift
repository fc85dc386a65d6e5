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
    /// Writes generated events to `path`; returns (events, bytes).
    @discardableResult
    func generate(_ path: String, events: Int, seed: UInt64, node: String, rate: Double = 100, keep: Bool = true) throws -> [[UInt8]] {
        var lines: [[UInt8]] = []
        lines.reserveCapacity(events)
        var out: [UInt8] = []
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw BenchError("cannot create \(path)")
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
        guard p.terminationStatus == 0 else { throw BenchError("auditship \(args.first ?? "") exited \(p.terminationStatus)") }
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

    struct ChildResult: Decodable {
        var events: Int; var bytes: Int; var cpu: Double; var maxrss_kib: Int
        /// Bytes out of a compression reference (zlib, zstd).
        var compressed: Int?
        /// Wall-clock seconds of the work, measured in the child (without its start-up).
        var wall: Double?
    }

    func child(_ mode: String, file: String) throws -> (ChildResult, wall: Double) {
        let t = ContinuousClock.now
        let out = try run(["bench", "--child", mode, "--child-file", file, "--policy", policy, "--gzip-level", "\(level)"])
        let wall = seconds(since: t)
        guard let line = out.split(separator: "\n").last,
              let r = try? JSONDecoder().decode(ChildResult.self, from: Data(line.utf8)) else {
            throw BenchError("bench child \(mode) printed no result")
        }
        return (r, wall)
    }

    func seconds(since t: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - t
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// The bench's development CA and certificates (aggregator, agents n1–n3 of cluster `bench`),
    /// made once per run, whichever section needs them first.
    func certificates() throws -> String {
        let certs = dir + "/certs"
        if !FileManager.default.fileExists(atPath: certs + "/ca.pem") {
            _ = try run(["certs", "init", "--out", certs, "--cluster", "bench", "--node", "n1", "--node", "n2", "--node", "n3"])
        }
        return certs
    }

    func startAggregator(store: String, certs: String, name: String, extra: [String] = []) throws -> (Process, String) {
        let ready = dir + "/\(name).ready"
        try? FileManager.default.removeItem(atPath: ready)
        let p = try start(["aggregator", "--listen", "127.0.0.1:0", "--ready-file", ready,
                           "--tls-cert", certs + "/aggregator.pem", "--tls-key", certs + "/aggregator-key.pem",
                           "--client-ca", certs + "/ca.pem", "--store", store.hasPrefix("postgres") ? store : "sqlite:" + store,
                           "--log-level", "warning"] + extra, log: "\(name).log")
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            guard p.isRunning else { throw BenchError("the aggregator exited; see \(dir)/\(name).log") }
            if let s = try? String(contentsOfFile: ready, encoding: .utf8), !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                return (p, s.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            usleep(50_000)
        }
        throw BenchError("the aggregator did not start within 60 s")
    }

    func stop(_ p: Process) {
        if p.isRunning { kill(p.processIdentifier, SIGTERM) }
        p.waitUntilExit()
    }

    /// A running process's peak resident set (VmHWM), MiB; 0 when /proc cannot say.
    static func peakRSSMiB(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kib / 1024
    }


    /// Starts the agent of bench node `n<node>` on its generated file, shipping to `aggregators`
    /// until it has caught up (then it exits).
    func startCatchUpAgent(node i: Int, aggregators: [String], state: String, log: String) throws -> Process {
        let certs = dir + "/certs"
        return try start(["agent"] + aggregators.flatMap { ["--aggregator", "https://" + $0] } + [
            "--cluster", "bench", "--node", "n\(i)", "--path", dir + "/n\(i)/audit.log", "--state-dir", dir + "/n\(i)/" + state,
            "--tls-cert", certs + "/agent-bench-n\(i).pem", "--tls-key", certs + "/agent-bench-n\(i)-key.pem",
            "--ca", certs + "/ca.pem", "--exit-when-caught-up", "--batch-linger-ms", "50", "--log-level", "warning",
        ], log: log)
    }
}
