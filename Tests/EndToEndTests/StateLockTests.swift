import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// One process per state: a second agent or backfill on a state directory, or a second aggregator
/// on a SQLite store, exits at once naming the process that holds it; a lock left by a killed
/// process never blocks a restart, and nothing is lost or stored twice across it.
@Suite struct StateLockTests {
    /// The holder's pid as written in the lock file, once it is there.
    func waitForHolder(_ h: Harness, lockFile: String, pid: Int32) throws {
        try h.waitUntil("process \(pid) holds \(lockFile)", seconds: 60) {
            let text = (try? String(contentsOfFile: lockFile, encoding: .utf8)) ?? ""
            return text.hasPrefix("\(pid) ")
        }
    }

    @Test func aSecondAgentExitsAtOnceAndAKilledOneRestartsWithNothingLost() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "c", nodes: ["m1"])
        try h.startAggregator()
        let log = h.dir + "/audit.log"
        let lines = try h.generate(events: 3_000, seed: 17, node: "m1", to: log)
        let state = h.dir + "/state"
        let arguments = h.agentArguments(cluster: "c", node: "m1", path: log, state: state)
        let first = try h.start(arguments, log: "agent-1.log")
        try waitForHolder(h, lockFile: state + "/lock", pid: first.processIdentifier)

        let second = try h.run(arguments, expectStatus: nil)
        #expect(second.status != 0)
        #expect(second.output.contains("state directory \(state) is in use by process \(first.processIdentifier) (auditship agent)"),
                "\(second.output.suffix(1000))")
        #expect(first.isRunning)

        // Killed mid-run: the lock file stays, the kernel's lock does not.
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        #expect(FileManager.default.fileExists(atPath: state + "/lock"))
        let third = try h.start(arguments, log: "agent-3.log")
        try waitForHolder(h, lockFile: state + "/lock", pid: third.processIdentifier)
        try h.waitUntil("every event stored", seconds: 120) { try h.count() >= lines.count }
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(lines))
        kill(third.processIdentifier, SIGTERM)
        third.waitUntilExit()
        #expect(third.terminationStatus == 0, "\(h.read("agent-3.log").suffix(1500))")
    }

    @Test func aSecondBackfillOnOneStateDirectoryExitsAtOnceNamingTheFirst() throws {
        let h = try Harness()
        let log = h.dir + "/history.log"
        let lines = try h.generate(events: 2_000, seed: 23, node: "m1", to: log)
        let state = h.dir + "/state"
        let arguments = ["backfill", "--cluster", "c", "--node", "m1", "--state-dir", state, "--store", "sqlite:" + h.storePath, log]
        // Slowed down so that it is still running when the second one starts.
        let first = try h.start(arguments + ["--rate-limit", "400"], log: "backfill-1.log")
        try waitForHolder(h, lockFile: state + "/lock", pid: first.processIdentifier)
        let second = try h.run(arguments, expectStatus: nil)
        #expect(second.status != 0)
        #expect(second.output.contains("state directory \(state) is in use by process \(first.processIdentifier) (auditship backfill)"),
                "\(second.output.suffix(1000))")
        #expect(!second.output.contains("rename into place"))
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        // The killed backfill's lock does not block the rerun, which stores the rest exactly once.
        let rerun = try h.run(arguments)
        #expect(rerun.output.contains("backfill done"), "\(rerun.output.suffix(1500))")
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(lines))
    }

    @Test func aSecondAggregatorOnOneSQLiteStoreExitsWhileReadersStillRead() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "c", nodes: ["m1"])
        try h.startAggregator()
        let log = h.dir + "/audit.log"
        let lines = try h.generate(events: 500, seed: 5, node: "m1", to: log)
        let agent = try h.start(h.agentArguments(cluster: "c", node: "m1", path: log, state: h.dir + "/state"), log: "agent.log")
        try h.waitUntil("every event stored", seconds: 60) { try h.count() >= lines.count }

        let second = try h.start(["aggregator", "--listen", "127.0.0.1:0", "--tls-cert", h.certs + "/aggregator.pem",
                                  "--tls-key", h.certs + "/aggregator-key.pem", "--client-ca", h.certs + "/ca.pem",
                                  "--store", h.storeURL], log: "aggregator-2.log")
        try h.waitUntil("the second aggregator exits", seconds: 60) { !second.isRunning }
        #expect(second.terminationStatus != 0)
        #expect(h.read("aggregator-2.log").contains("SQLite store \(h.storePath) is in use by process"), "\(h.read("aggregator-2.log").suffix(1000))")
        #expect(h.read("aggregator-2.log").contains("(auditship aggregator)"))
        // Readers do not take the lock: query and verify work while the aggregator writes.
        #expect(try h.count() == lines.count)
        let verify = try h.run(["verify", "--store", h.storeURL], expectStatus: nil)
        #expect(!verify.output.contains("in use by"), "\(verify.output.suffix(1000))")
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
    }
}
