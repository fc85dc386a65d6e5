import CurlClient
import Foundation
import Gzip
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Writes an audit log the way kube-apiserver's log backend (lumberjack) does:
/// append; rotate by renaming to `audit-<UTC time>.log` and creating a new
/// file; compress a backup to `.gz` and delete the plain one; delete old backups.
final class LumberjackWriter {
    let dir: String
    let live: String
    private var clock = 0
    private(set) var backups: [String] = []

    init(dir: String) {
        self.dir = dir
        self.live = dir + "/audit.log"
        _ = FileManager.default.createFile(atPath: live, contents: nil, attributes: [.posixPermissions: 0o600])
    }

    func append(_ lines: ArraySlice<[UInt8]>) throws {
        let h = try #require(FileHandle(forWritingAtPath: live))
        h.seekToEndOfFile()
        var data = Data()
        for l in lines { data.append(contentsOf: l); data.append(0x0A) }
        h.write(data)
        try h.close()
    }

    /// Renames the live file to a timestamped backup and creates a new live file.
    @discardableResult
    func rotate() -> String {
        clock += 1
        let name = String(format: "%@/audit-2026-01-01T00-00-%02d.%03d.log", dir, clock / 1000, clock % 1000)
        _ = rename(live, name)
        _ = FileManager.default.createFile(atPath: live, contents: nil, attributes: [.posixPermissions: 0o600])
        backups.append(name)
        return name
    }

    /// Compresses a backup to `NAME.gz` and deletes the plain file.
    func compress(_ backup: String) throws {
        let data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: backup)))
        try Data(try Gzip.compress(data)).write(to: URL(fileURLWithPath: backup + ".gz"))
        try FileManager.default.removeItem(atPath: backup)
        backups = backups.map { $0 == backup ? backup + ".gz" : $0 }
    }
}

@Suite(.serialized) struct RotationTests {
    /// Rotation while the agent runs: rename+create, compression of the backup, more writes.
    @Test func followsRenameCreateAndCompressionWhileRunning() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "r", nodes: ["n1"])
        let lines = try h.generate(events: 6000, seed: 31, node: "n1", to: "\(h.dir)/gen.log")
        let logs = h.dir + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let w = LumberjackWriter(dir: logs)
        try h.startAggregator()
        let agent = try h.start(h.agentArguments(cluster: "r", node: "n1", path: w.live, state: "\(h.dir)/state",
                                                  extra: ["--batch-max-events", "200", "--batch-linger-ms", "50", "--poll-interval-ms", "20"]),
                                log: "agent.log")
        var written = 0
        for step in 0..<6 {
            try w.append(lines[written..<(written + 1000)])
            written += 1000
            usleep(useconds_t(50_000 * (step % 3)))
            let backup = w.rotate()
            if step % 2 == 0 { try w.compress(backup) }
        }
        try h.waitUntil("every event is stored", seconds: 120) { try h.count() >= lines.count }
        usleep(300_000)
        let stored = try h.storedEvents()
        #expect(multiset(stored.map(\.event)) == multiset(lines))
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
        #expect(!h.read("agent.log").contains("lost"))
    }

    /// The agent is down across two rotations; one backup is compressed and its plain twin
    /// deleted while the agent is away; after a restart it continues from the .gz at the same offset.
    @Test func continuesFromBackupsAndGzipTwinsAfterARestart() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "r", nodes: ["n1"])
        let lines = try h.generate(events: 5000, seed: 32, node: "n1", to: "\(h.dir)/gen.log")
        let logs = h.dir + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let w = LumberjackWriter(dir: logs)
        try h.startAggregator()
        let args = h.agentArguments(cluster: "r", node: "n1", path: w.live, state: "\(h.dir)/state",
                                    extra: ["--batch-max-events", "100", "--batch-linger-ms", "20", "--poll-interval-ms", "20"])
        try w.append(lines[0..<1500])
        let first = try h.start(args, log: "agent-1.log")
        try h.waitUntil("part of the first file is stored", seconds: 60) { try h.count() >= 300 }
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let storedBefore = try h.count()
        // While the agent is away: the live file gets more lines, rotates, its backup is
        // compressed (plain twin deleted), a second file is written and rotated, a third begins.
        try w.append(lines[1500..<2500])
        let b1 = w.rotate()
        try w.compress(b1)
        try w.append(lines[2500..<4000])
        w.rotate()
        try w.append(lines[4000..<5000])
        let second = try h.start(args, log: "agent-2.log")
        try h.waitUntil("every event is stored", seconds: 120) { try h.count() >= lines.count }
        usleep(300_000)
        let stored = try h.storedEvents()
        #expect(multiset(stored.map(\.event)) == multiset(lines), "stored \(stored.count), \(storedBefore) before the restart")
        let log = h.read("agent-2.log")
        #expect(log.contains("resuming file from checkpoint"))
        #expect(log.contains(".log.gz"))
        kill(second.processIdentifier, SIGTERM)
        second.waitUntilExit()
        #expect(second.terminationStatus == 0)
        // A third start ships nothing: every backup is recorded as complete.
        let (_, third) = try h.run(args + ["--exit-when-caught-up"])
        #expect(!third.contains("new file; reading from the start"), "\(third.suffix(2000))")
        #expect(try h.count() == lines.count)
    }

    /// copytruncate: the file is copied and truncated in place; the agent starts it again from 0.
    @Test func copytruncateIsDetected() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "r", nodes: ["n1"])
        let lines = try h.generate(events: 2000, seed: 33, node: "n1", to: "\(h.dir)/gen.log")
        let logs = h.dir + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let w = LumberjackWriter(dir: logs)
        try h.startAggregator()
        let agent = try h.start(h.agentArguments(cluster: "r", node: "n1", path: w.live, state: "\(h.dir)/state",
                                                  extra: ["--batch-linger-ms", "20", "--poll-interval-ms", "20"]), log: "agent.log")
        try w.append(lines[0..<1000])
        try h.waitUntil("the first half is stored", seconds: 60) { try h.count() >= 1000 }
        // logrotate copytruncate: copy to audit.log.1, truncate the live file.
        try FileManager.default.copyItem(atPath: w.live, toPath: w.live + ".1")
        truncate(w.live, 0)
        try w.append(lines[1000..<2000])
        try h.waitUntil("the second half is stored", seconds: 60) { try h.count() >= 2000 }
        usleep(300_000)
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(lines))
        try h.waitUntil("the truncation is reported", seconds: 10) { h.read("agent.log").contains("truncated") }
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
    }
}

@Suite(.serialized) struct SpoolTests {
    /// While the aggregator is down the agent reads into its spool, so backups that
    /// kube-apiserver deletes (maxbackup) do not take unshipped events with them.
    @Test func spoolKeepsEventsWhoseBackupsAreDeleted() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "s", nodes: ["n1"])
        let lines = try h.generate(events: 4000, seed: 51, node: "n1", to: "\(h.dir)/gen.log")
        let logs = h.dir + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let w = LumberjackWriter(dir: logs)
        try h.startAggregator()
        h.stopAggregator()
        let agent = try h.start(h.agentArguments(cluster: "s", node: "n1", path: w.live, state: "\(h.dir)/state",
                                                  extra: ["--batch-max-events", "200", "--batch-linger-ms", "20", "--poll-interval-ms", "20",
                                                          "--metrics-listen", "127.0.0.1:0"]),
                                log: "agent.log")
        let address = try h.metricsAddress(log: "agent.log")
        let client = try HTTPClientForTests()
        for step in 0..<4 {
            try w.append(lines[(step * 1000)..<((step + 1) * 1000)])
            do {
                try h.waitUntil("the agent has read what was written", seconds: 60) {
                    try client.metric(address, "auditship_agent_events_read_total") >= Double((step + 1) * 1000)
                        && client.metric(address, "auditship_agent_file_lag_bytes") == 0
                }
            } catch {
                // Say where it stood: the agent's file metrics and its last log lines (no event content).
                let metrics = (try? client.client.request(method: "GET", url: "http://\(address)/metrics").bodyText) ?? ""
                print("step \(step): " + metrics.split(separator: "\n").filter { $0.hasPrefix("auditship_agent_file") || $0.hasPrefix("auditship_agent_events_read") || $0.hasPrefix("auditship_agent_spool") }.joined(separator: "\n"))
                // Its own decisions, without the retries that fill the log while the aggregator is away.
                let decisions = h.read("agent.log").split(separator: "\n").filter { !$0.contains("aggregator unreachable") }
                print(decisions.suffix(40).joined(separator: "\n"))
                print((try? FileManager.default.contentsOfDirectory(atPath: logs).sorted().joined(separator: " ")) ?? "")
                throw error
            }
            let backup = w.rotate()
            try w.compress(backup)
            // maxbackup 1: delete all but the newest backup.
            for old in w.backups.dropLast() where FileManager.default.fileExists(atPath: old) {
                try FileManager.default.removeItem(atPath: old)
            }
        }
        #expect(FileManager.default.fileExists(atPath: "\(h.dir)/state/spool"))
        #expect(try h.count() == 0)
        try h.startAggregator()
        try h.waitUntil("every event is stored", seconds: 120) { try h.count() >= lines.count }
        usleep(300_000)
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(lines))
        try h.waitUntil("the spool drains", seconds: 30) { try client.metric(address, "auditship_agent_spool_batches") == 0 }
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
        #expect(agent.terminationStatus == 0)
        #expect(!h.read("agent.log").contains("are lost"))
    }
}

/// Reads single metric values from an agent's /metrics.
struct HTTPClientForTests {
    let client: HTTPClient
    init() throws { client = try HTTPClient(tls: ClientTLSConfiguration()) }
    func metric(_ address: String, _ name: String) throws -> Double {
        let r = try client.request(method: "GET", url: "http://\(address)/metrics")
        let (samples, _) = try PrometheusParser.parse(r.bodyText)
        return samples.filter { $0.name == name }.reduce(0) { $0 + $1.value }
    }
}
