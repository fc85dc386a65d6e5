import ArgumentParser
import AuditAgent
import AuditChain
import AuditGenerator
import AuditModel
import AuditStore
import Foundation
import OpenSSLKit

struct QuickstartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quickstart",
        abstract: "Run the whole system once, locally: certificates, three masters' logs, an aggregator, three agents.",
        discussion: """
            In a temporary directory: creates certificates and three masters' audit logs, starts an aggregator
            and three agents as child processes on 127.0.0.1, waits until every event is stored, ships one log
            a second time to show that re-deliveries are stored once, prints a summary and stops everything.
            """)

    @Option(help: "Events per master.") var events: Int = 20_000
    @Option(help: "Work in this directory and keep it (default: a temporary one, removed at the end).") var dir: String?
    @Option(help: "Give up after this many seconds.") var timeout: Int = 300

    func run() async throws {
        let started = ContinuousClock.now
        let work = dir ?? (NSTemporaryDirectory() + "auditship-quickstart-\(getpid())")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let cluster = "quickstart"
        let nodes = ["master-1", "master-2", "master-3"]
        let certs = work + "/certs"
        let exe = try selfExecutable()
        var children: [Process] = []
        defer {
            for p in children where p.isRunning { p.terminate() }
            for p in children { p.waitUntilExit() }
            if dir == nil { try? FileManager.default.removeItem(atPath: work) }
        }

        say("working in \(work)")
        _ = try CertificateAuthorityDirectory(path: certs).ensure(cluster: cluster, nodes: nodes, readers: ["admin"], webhook: false)
        say("certificates: CA, aggregator, \(nodes.count) agents, 1 reader")

        var expected: [String: [[UInt8]]] = [:]
        // The logs end about now, as a master's would: the web UI's first view (the last 24 hours)
        // then shows them.
        let span = Int64(Double(events) / 200 * 1_000_000)
        let start = Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1_000_000) - span - 60_000_000)
        for (i, node) in nodes.enumerated() {
            let path = "\(work)/\(node)/audit.log"
            try FileManager.default.createDirectory(atPath: "\(work)/\(node)", withIntermediateDirectories: true)
            let gen = AuditLogGenerator(GeneratorConfiguration(events: events, seed: UInt64(1000 + i), node: node, start: start, rate: 200))
            let lines = Array(gen)
            expected[node] = lines
            var data = Data()
            for l in lines { data.append(contentsOf: l); data.append(0x0A) }
            try data.write(to: URL(fileURLWithPath: path))
        }
        say("audit logs: \(nodes.count) × \(events) events")

        let storePath = "\(work)/store.sqlite"
        let ready = "\(work)/aggregator.ready"
        let aggregator = try spawn(exe, ["aggregator", "--listen", "127.0.0.1:0", "--ready-file", ready,
                                         "--tls-cert", "\(certs)/aggregator.pem", "--tls-key", "\(certs)/aggregator-key.pem",
                                         "--client-ca", "\(certs)/ca.pem", "--store", "sqlite:\(storePath)",
                                         "--checkpoint-key", "\(certs)/checkpoint-key.pem", "--checkpoint-export", "\(work)/checkpoints"],
                                   log: "\(work)/aggregator.log")
        children.append(aggregator)
        let address = try await waitForFile(ready, seconds: 30, process: aggregator, log: "\(work)/aggregator.log")
        say("aggregator listening on \(address)")

        func agentArguments(_ node: String, state: String, oneShot: Bool) -> [String] {
            var a = ["agent", "--aggregator", "https://\(address)", "--cluster", cluster, "--node", node,
                     "--path", "\(work)/\(node)/audit.log", "--state-dir", state,
                     "--tls-cert", "\(certs)/agent-\(cluster)-\(node).pem", "--tls-key", "\(certs)/agent-\(cluster)-\(node)-key.pem",
                     "--ca", "\(certs)/ca.pem", "--batch-linger-ms", "200"]
            if oneShot { a.append("--exit-when-caught-up") }
            return a
        }
        for node in nodes {
            children.append(try spawn(exe, agentArguments(node, state: "\(work)/\(node)/state", oneShot: false), log: "\(work)/agent-\(node).log"))
        }
        say("agents started: \(nodes.joined(separator: ", "))")

        let total = nodes.count * events
        let deadline = ContinuousClock.now + .seconds(timeout)
        var stored = 0
        while ContinuousClock.now < deadline {
            if FileManager.default.fileExists(atPath: storePath) {
                stored = (try? await SQLiteStore(path: storePath, readOnly: true).count(EventQuery())) ?? stored
            }
            if stored >= total { break }
            if let dead = children.first(where: { !$0.isRunning }) {
                throw ValidationError("a child process exited early (status \(dead.terminationStatus)); see the logs in \(work)")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        guard stored >= total else { throw ValidationError("only \(stored) of \(total) events stored after \(timeout) s; logs in \(work)") }
        let shippedIn = ContinuousClock.now - started
        say("all \(total) events stored")

        // Ship master-1's log again from scratch: every event is a re-delivery.
        let again = try spawn(exe, agentArguments(nodes[0], state: "\(work)/\(nodes[0])/state-again", oneShot: true),
                              log: "\(work)/agent-\(nodes[0])-again.log")
        again.waitUntilExit()
        guard again.terminationStatus == 0 else { throw ValidationError("re-delivery agent failed; see \(work)/agent-\(nodes[0])-again.log") }

        let store = try SQLiteStore(path: storePath, readOnly: true)
        let perNode = try await store.countsByNode()
        let totals = try await store.ingestTotals()
        // Compare the multisets of event bytes: generated vs stored.
        var want: [[UInt8]: Int] = [:]
        for lines in expected.values { for l in lines { want[SHA256.hash(l), default: 0] += 1 } }
        var have: [[UInt8]: Int] = [:]
        for d in try await store.digests() { have[d.digest, default: 0] += 1 }
        let exact = want == have

        print("")
        print("auditship quickstart summary")
        print("  events per node:")
        for row in perNode { print("    \(row.cluster)/\(row.node): \(row.events)") }
        print("  stored: \(have.values.reduce(0, +)) of \(total) generated; identical to the generated events, none twice: \(exact ? "yes" : "NO")")
        print("  batches: \(totals.batches); duplicates refused: \(totals.duplicates) (from shipping \(nodes[0])'s log a second time)")
        print("  elapsed: \(format(shippedIn)) until all events were stored; \(format(ContinuousClock.now - started)) in all")
        print("  sample query: auditship query --store sqlite:STORE --user alice@example.com --resource secrets --format table --limit 5")
        let sample = try await store.events(EventQuery(user: "alice@example.com", resource: "secrets", limit: 5))
        print(EventTable.render(sample.map { ($0.cluster, $0.node, $0.bytes) }).split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        try await store.close()

        for p in children where p.isRunning { p.terminate() }
        for p in children { p.waitUntilExit() }
        let unclean = children.filter { $0.terminationStatus != 0 }
        print("  stopped: aggregator and \(nodes.count) agents, \(unclean.isEmpty ? "all cleanly" : "\(unclean.count) with a non-zero status")")

        // The aggregator signed its chain's head at shutdown: check the store against it.
        let chain = try SQLiteStore(path: storePath, readOnly: true)
        let exported = try CheckpointExport.read(path: "\(work)/checkpoints")
        let report = try await ChainVerifier(source: chain, trustedKeys: try ChainKeys.load(files: ["\(certs)/checkpoint-key.pub.pem"]),
                                             externalCheckpoints: exported.checkpoints, checkpointFileProblems: exported.problems).run()
        try await chain.close()
        let verified = report.clusters.reduce(0) { $0 + $1.eventsVerified }
        let head = report.clusters.compactMap(\.anchor).map { "\($0.cluster) block \($0.height)" }.joined(separator: ", ")
        print("  tamper evidence: \(report.ok ? "verified" : "FAILED"): \(verified) events in their hash chain, signed up to \(head.isEmpty ? "nothing" : head)"
              + " (\(exported.checkpoints.count) checkpoints exported)")
        print("  check it yourself: auditship verify --store sqlite:STORE --public-key CERTS/checkpoint-key.pub.pem --checkpoints WORK/checkpoints")
        if !report.ok { print(VerifyCommand.text(report).split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")) }
        if dir != nil {
            print("  kept: \(work)")
            print("  look at it in a browser: auditship ui --store sqlite:\(storePath)  (then open the URL it prints)")
        } else {
            print("  to look at the events in a browser, run it with --dir DIR, then: auditship ui --store sqlite:DIR/store.sqlite")
        }
        guard exact, unclean.isEmpty, report.ok else { throw ExitCode(1) }
    }

    func say(_ s: String) { print("quickstart: \(s)") }

    func format(_ d: Duration) -> String {
        let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        return String(format: "%.1f s", Double(ms) / 1000)
    }
}

func selfExecutable() throws -> String {
    if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
    return CommandLine.arguments[0]
}

func spawn(_ exe: String, _ args: [String], log: String) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    let handle = FileHandle(forWritingAtPath: log)
    p.standardError = handle
    p.standardOutput = handle
    try p.run()
    return p
}

func waitForFile(_ path: String, seconds: Int, process: Process, log: String) async throws -> String {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if let data = FileManager.default.contents(atPath: path), let s = String(data: data, encoding: .utf8),
           !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            return s.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if !process.isRunning { throw ValidationError("the aggregator exited with status \(process.terminationStatus); see \(log)") }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw ValidationError("the aggregator did not start within \(seconds) s; see \(log)")
}
