import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Drives the real `auditship` binary in a scratch directory: certificates,
/// logs, an aggregator and agents as child processes on 127.0.0.1.
final class Harness: @unchecked Sendable {
    let dir: String
    let binary: String
    private var processes: [ChildProcess] = []
    private(set) var aggregatorAddress = ""
    private var aggregator: ChildProcess?
    /// Where aggregators and queries keep events: the harness's SQLite file unless a test
    /// points it elsewhere (a PostgreSQL URL from ``startPostgres()``).
    var storeURL: String
    private var postgresDirectory: String?

    static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// The binary under test: $AUDITSHIP_BIN, else the debug build of this checkout.
    static var binaryPath: String {
        if let p = ProcessInfo.processInfo.environment["AUDITSHIP_BIN"] { return p }
        return repositoryRoot + "/.build/debug/auditship"
    }

    init(_ name: String = #function) throws {
        binary = Harness.binaryPath
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw HarnessError("no auditship binary at \(binary): run `swift build` first")
        }
        dir = NSTemporaryDirectory() + "auditship-e2e-\(name.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        storeURL = "sqlite:" + dir + "/store.sqlite"
    }

    deinit {
        for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        for p in processes { p.waitUntilExit() }
        if let pg = postgresDirectory {
            _ = Harness.shell("/bin/bash \(shellQuoted(Harness.repositoryRoot + "/Tests/postgres-server")) stop \(shellQuoted(pg))")
        }
        if ProcessInfo.processInfo.environment["AUDITSHIP_KEEP_E2E"] == nil {
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    /// Runs the binary to completion; returns status and output (stdout+stderr).
    @discardableResult
    func run(_ args: [String], expectStatus: Int32? = 0) throws -> (status: Int32, output: String) {
        let out = dir + "/run-\(UUID().uuidString.prefix(6)).out"
        let p = try ChildProcess(executable: binary, arguments: args, output: out)
        p.waitUntilExit()
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        if let expectStatus, p.terminationStatus != expectStatus {
            throw HarnessError("auditship \(args.joined(separator: " ")) exited \(p.terminationStatus):\n\(text.suffix(3000))")
        }
        return (p.terminationStatus, text)
    }

    /// Starts the binary in the background, output to `log`.
    func start(_ args: [String], log: String) throws -> ChildProcess {
        let p = try ChildProcess(executable: binary, arguments: args, output: dir + "/" + log)
        processes.append(p)
        return p
    }

    /// A log file's text (bytes that are not UTF-8 repaired, so that one odd byte never hides the rest).
    func read(_ log: String) -> String {
        (try? Data(contentsOf: URL(fileURLWithPath: dir + "/" + log))).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    var certs: String { dir + "/certs" }

    func makeCertificates(cluster: String, nodes: [String], readers: [String] = ["admin"], into: String? = nil) throws {
        var args = ["certs", "init", "--out", into ?? certs, "--cluster", cluster]
        for n in nodes { args += ["--node", n] }
        for r in readers { args += ["--reader", r] }
        try run(args)
    }

    @discardableResult
    func generate(events: Int, seed: Int, node: String, to path: String) throws -> [[UInt8]] {
        try run(["generate", "--events", "\(events)", "--seed", "\(seed)", "--node", node, "--rate", "500", "--out", path])
        return splitLines(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    var storePath: String { dir + "/store.sqlite" }

    func startAggregator(extra: [String] = []) throws {
        let started = try startAggregator(name: "aggregator", listen: aggregatorAddress.isEmpty ? "127.0.0.1:0" : aggregatorAddress, extra: extra)
        aggregator = started.process
        aggregatorAddress = started.address
    }

    /// Starts an aggregator on `store` (default ``storeURL``), logging to NAME.log; returns it
    /// once it listens, with its HOST:PORT. Tests with several aggregators use this directly.
    func startAggregator(name: String, listen: String = "127.0.0.1:0", store: String? = nil,
                         extra: [String] = []) throws -> (process: ChildProcess, address: String) {
        let ready = dir + "/\(name).ready"
        try? FileManager.default.removeItem(atPath: ready)
        let p = try start(["aggregator", "--listen", listen, "--ready-file", ready,
                           "--tls-cert", certs + "/aggregator.pem", "--tls-key", certs + "/aggregator-key.pem",
                           "--client-ca", certs + "/ca.pem", "--store", store ?? storeURL] + extra, log: "\(name).log")
        var address = ""
        try waitUntil("\(name) listens", seconds: 60) {
            guard p.isRunning else { throw HarnessError("\(name) exited: \(self.read("\(name).log").suffix(2000))") }
            guard let s = try? String(contentsOfFile: ready, encoding: .utf8) else { return false }
            address = s.trimmingCharacters(in: .whitespacesAndNewlines)
            return !address.isEmpty
        }
        return (p, address)
    }

    /// Starts a PostgreSQL server of this test (`Tests/postgres-server`, in the scratch
    /// directory, stopped when the harness goes) and points ``storeURL`` at its empty database.
    /// When none can start, the test is skipped with the reason printed, or fails when
    /// AUDITSHIP_REQUIRE_POSTGRES=1 (CI).
    func startPostgres() throws {
        let pg = dir + "/pg"
        let err = dir + "/pg.err"
        let script = Harness.repositoryRoot + "/Tests/postgres-server"
        postgresDirectory = pg
        let (status, output) = Harness.shell("/bin/bash \(shellQuoted(script)) start \(shellQuoted(pg)) 2>\(shellQuoted(err))")
        let url = output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard status == 0, url.hasPrefix("postgres") else {
            let why = "postgres-server start failed (status \(status)): " + ((try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
            if ProcessInfo.processInfo.environment["AUDITSHIP_REQUIRE_POSTGRES"] == "1" {
                throw HarnessError("PostgreSQL is required (AUDITSHIP_REQUIRE_POSTGRES=1) but unavailable: \(why)")
            }
            FileHandle.standardError.write(Data("skipping PostgreSQL end-to-end test: \(why)\n".utf8))
            try Test.cancel("PostgreSQL unavailable: \(why)")
        }
        storeURL = url
    }

    /// Runs a shell command with popen (waiting on a Foundation Process from a test
    /// can hang on Linux while other threads are busy); returns its status and stdout.
    static func shell(_ command: String) -> (status: Int32, output: String) {
        guard let pipe = popen(command, "r") else { return (-1, "") }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, pipe)
            if n <= 0 { break }
            output += buffer[0..<n]
        }
        return (pclose(pipe), String(decoding: output, as: UTF8.self))
    }

    /// The process id of the aggregator started by ``startAggregator(extra:)`` (0 when none runs).
    var aggregatorPID: Int32 { aggregator?.processIdentifier ?? 0 }

    func stopAggregator(signal: Int32 = SIGTERM) {
        guard let p = aggregator else { return }
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        aggregator = nil
    }

    func agentArguments(cluster: String, node: String, path: String, state: String, aggregators: [String]? = nil,
                        extra: [String] = []) -> [String] {
        ["agent"] + (aggregators ?? [aggregatorAddress]).flatMap { ["--aggregator", "https://\($0)"] } + ["--cluster", cluster, "--node", node, "--path", path,
         "--state-dir", state, "--tls-cert", "\(certs)/agent-\(cluster)-\(node).pem",
         "--tls-key", "\(certs)/agent-\(cluster)-\(node)-key.pem", "--ca", "\(certs)/ca.pem",
         "--retry-initial-ms", "100", "--retry-max-ms", "1000"] + extra
    }

    /// Stored events as (cluster, node, exact event bytes), in query order.
    func storedEvents(_ filters: [String] = []) throws -> [(cluster: String, node: String, event: [UInt8])] {
        let out = dir + "/query-\(UUID().uuidString.prefix(6)).ndjson"
        let p = try ChildProcess(executable: binary, arguments: ["query", "--store", storeURL, "--format", "json"] + filters,
                                 output: out, errorToOutput: false)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw HarnessError("query exited \(p.terminationStatus)") }
        // Parsed by hand over raw bytes: the documented line shape is
        // {"cluster":"C","node":"N","event":EVENT} with C and N plain names.
        let data = try Data(contentsOf: URL(fileURLWithPath: out))
        var result: [(cluster: String, node: String, event: [UInt8])] = []
        for line in splitLines(data) {
            result.append(try Harness.parseQueryLine(line))
        }
        return result
    }

    static func parseQueryLine(_ line: [UInt8]) throws -> (cluster: String, node: String, event: [UInt8]) {
        let clusterKey = Array("{\"cluster\":\"".utf8)
        let nodeKey = Array("\",\"node\":\"".utf8)
        let eventKey = Array("\",\"event\":".utf8)
        // Names hold no quotes, so the first quote after each key ends the value.
        guard line.count > clusterKey.count + 2, line.starts(with: clusterKey),
              let clusterEnd = line[clusterKey.count...].firstIndex(of: 0x22),
              line[clusterEnd...].starts(with: nodeKey),
              let nodeEnd = line[(clusterEnd + nodeKey.count)...].firstIndex(of: 0x22),
              line[nodeEnd...].starts(with: eventKey),
              line.last == UInt8(ascii: "}") else {
            throw HarnessError("query line does not have the documented shape: \(String(decoding: line.prefix(200), as: UTF8.self))")
        }
        let cluster = String(decoding: line[clusterKey.count..<clusterEnd], as: UTF8.self)
        let node = String(decoding: line[(clusterEnd + nodeKey.count)..<nodeEnd], as: UTF8.self)
        return (cluster, node, Array(line[(nodeEnd + eventKey.count)..<(line.count - 1)]))
    }

    func count(_ filters: [String] = []) throws -> Int {
        if storeURL.hasPrefix("sqlite:"), !FileManager.default.fileExists(atPath: String(storeURL.dropFirst(7))) { return 0 }
        let (_, out) = try run(["query", "--store", storeURL, "--count"] + filters)
        return Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// The address a process logged with "metrics listening address=HOST:PORT" (the latest one).
    func metricsAddress(log: String) throws -> String {
        var address = ""
        try waitUntil("\(log) reports its metrics address", seconds: 30) {
            guard let line = read(log).split(separator: "\n").last(where: { $0.contains("metrics listening") }),
                  let r = line.range(of: "address=") else { return false }
            address = String(line[r.upperBound...].split(separator: " ").first ?? "")
            return !address.isEmpty
        }
        return address
    }

    func waitUntil(_ what: String, seconds: Double, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return }
            usleep(100_000)
        }
        throw HarnessError("timed out after \(Int(seconds)) s waiting until \(what)")
    }
}

func shellQuoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

func quote(_ s: String) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: [s])) ?? Data("[\"\"]".utf8)
    return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Multiset of byte strings.
func multiset(_ items: [[UInt8]]) -> [[UInt8]: Int] {
    var m: [[UInt8]: Int] = [:]
    for i in items { m[i, default: 0] += 1 }
    return m
}

/// Splits text into lines (without newlines), fast also in debug builds.
func splitLines(_ data: Data) -> [[UInt8]] {
    var out: [[UInt8]] = []
    data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
        guard let base = raw.baseAddress else { return }
        var start = 0
        while start < raw.count {
            let found: UnsafeMutableRawPointer? = memchr(base + start, 0x0A, raw.count - start)
            let end = found.map { UnsafeRawPointer($0) - base } ?? raw.count
            if end > start { out.append([UInt8](UnsafeRawBufferPointer(start: base + start, count: end - start))) }
            start = end + 1
        }
    }
    return out
}
