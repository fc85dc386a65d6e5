import Foundation
import SharedFixtures
import Gzip
import OpenSSLKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `auditship backfill`: history through the aggregator or straight into a store,
/// resumable after SIGKILL, idempotent, with a report of what it could not read.
@Suite struct BackfillTests {
    /// Writes a kube-style history into `dir`: two gzip backups (one of two concatenated
    /// members), a plain backup, the live file with a malformed line, and an EventList.
    /// Returns the events that must end up stored.
    func history(_ h: Harness, into dir: String, events: Int) throws -> [[UInt8]] {
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        let lines = try h.generate(events: events, seed: 71, node: "m1", to: h.dir + "/gen.log")
        let q = lines.count / 4
        func text(_ part: ArraySlice<[UInt8]>) -> [UInt8] { part.flatMap { $0 + [0x0A] } }
        let first = text(lines[0..<q])
        let half = first.count / 2
        var cut = half
        while cut < first.count && first[cut - 1] != 0x0A { cut += 1 }
        let twoMembers = try Gzip.compress(Array(first[..<cut]), level: 6) + Gzip.compress(Array(first[cut...]), level: 1)
        // Named .log although gzip: told apart by the first bytes, not the name.
        try Data(twoMembers).write(to: URL(fileURLWithPath: dir + "/audit-2026-01-01T00-00-00.000.log"))
        try Data(try Gzip.compress(text(lines[q..<(2 * q)]), level: 6)).write(to: URL(fileURLWithPath: dir + "/audit-2026-01-01T01-00-00.000.log.gz"))
        try Data(text(lines[(2 * q)..<(3 * q)])).write(to: URL(fileURLWithPath: dir + "/audit-2026-01-01T02-00-00.000.log"))
        var live = text(lines[(3 * q)...])
        live += Array("{\"this is\": \"not an audit event\"}\nnot json at all\n".utf8)
        try Data(live).write(to: URL(fileURLWithPath: dir + "/audit.log"))
        // A pretty-printed EventList holding two events already in the files (stored once)
        // and one new event.
        let extra = Array(#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0b7c6f1e-backfill-extra","stage":"ResponseComplete","requestURI":"/api/v1/namespaces","verb":"list","user":{"username":"admin"},"requestReceivedTimestamp":"2026-01-01T03:00:00.000000Z","stageTimestamp":"2026-01-01T03:00:00.001000Z"}"#.utf8)
        let list = "{\n  \"kind\": \"EventList\",\n  \"apiVersion\": \"audit.k8s.io/v1\",\n  \"items\": [\n    "
            + String(decoding: extra, as: UTF8.self) + ",\n    " + String(decoding: lines[0], as: UTF8.self) + "\n  ]\n}\n"
        try Data(list.utf8).write(to: URL(fileURLWithPath: dir + "/sub/list.json"))
        return lines + [extra]
    }

    func hashes(_ items: [[UInt8]]) -> [[UInt8]: Int] { multiset(items.map { SHA256.hash($0) }) }

    func backfillArguments(_ h: Harness, state: String, paths: [String], extra: [String] = []) -> [String] {
        ["backfill", "--cluster", "t", "--node", "m1", "--state-dir", state, "--aggregator", "https://\(h.aggregatorAddress)",
         "--tls-cert", "\(h.certs)/agent-t-m1.pem", "--tls-key", "\(h.certs)/agent-t-m1-key.pem", "--ca", "\(h.certs)/ca.pem"] + extra + paths
    }

    @Test func backfillsThroughTheAggregatorOnceAndSaysSoTheSecondTime() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "t", nodes: ["m1"])
        try h.startAggregator()
        let expected = try history(h, into: h.dir + "/history", events: 4000)
        let first = try h.run(backfillArguments(h, state: h.dir + "/state", paths: [h.dir + "/history"]))
        #expect(first.output.contains("stored: \(expected.count)"), "\(first.output.suffix(1500))")
        #expect(first.output.contains("malformed: 2"))
        #expect(first.output.contains("audit.log:\(expected.count - 1 - (expected.count - 1) / 4 * 3 + 1): not_an_event"), "\(first.output.suffix(1500))")
        let stored = try h.storedEvents().map(\.event)
        // Compacted pretty-printed items keep their bytes between the whitespace.
        #expect(hashes(stored) == hashes(expected))
        let again = try h.run(backfillArguments(h, state: h.dir + "/state", paths: [h.dir + "/history"]))
        #expect(again.output.contains("nothing new was stored"))
        #expect(try h.count() == expected.count)
        // A fresh state directory re-reads everything; the aggregator stores nothing twice.
        let fresh = try h.run(backfillArguments(h, state: h.dir + "/state2", paths: [h.dir + "/history/*"]))
        #expect(fresh.output.contains("stored: 0"), "\(fresh.output.suffix(1500))")
        #expect(fresh.output.contains("nothing new was stored"))
        #expect(try h.count() == expected.count)
    }

    /// Killed three times, through the aggregator or straight into the store (where the store
    /// commits one batch while the next is read): the same events end up stored, once each.
    @Test(arguments: [false, true]) func resumesAfterThreeKillsWithTheSameResult(straightIntoTheStore: Bool) throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "t", nodes: ["m1"])
        if !straightIntoTheStore { try h.startAggregator() }
        let expected = try history(h, into: h.dir + "/history", events: 12000)
        let args = straightIntoTheStore
            ? ["backfill", "--cluster", "t", "--node", "m1", "--state-dir", h.dir + "/state", "--store", h.storeURL,
               "--rate-limit", "3000", "--batch-max-events", "200", h.dir + "/history"]
            : backfillArguments(h, state: h.dir + "/state", paths: [h.dir + "/history"],
                                extra: ["--rate-limit", "3000", "--batch-max-events", "200"])
        for round in 0..<3 {
            let p = try h.start(args, log: "backfill-\(round).log")
            usleep(useconds_t(UInt32.random(in: 700_000...1_500_000)))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        let last = try h.run(args)
        #expect(last.output.contains("backfill done"), "\(last.output.suffix(1500))")
        let stored = try h.storedEvents().map(\.event)
        #expect(stored.count == expected.count)
        #expect(hashes(stored) == hashes(expected))
    }

    /// The shapes of the real-world folder, made here, so that a bare clone tests them too: JSON
    /// lines with an Azure envelope line (one record's log an object, one a JSON string), a JSON array
    /// behind a BOM, a pretty EventList, and a file that is not an audit log at all.
    @Test func handMadeFormatsImportWithAReportOfWhatWasSkipped() throws {
        let h = try Harness()
        let dir = h.dir + "/formats"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let l = try h.generate(events: 8, seed: 29, node: "m1", to: h.dir + "/gen.log")
        func s(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }
        let quoted = String(decoding: try JSONSerialization.data(withJSONObject: [s(l[2])]), as: UTF8.self).dropFirst().dropLast()
        let envelope = #"{"records":[{"time":"t","properties":{"log":\#(quoted)}},{"properties":{"log":\#(s(l[3]))}}]}"#
        try Data((s(l[0]) + "\n" + envelope + "\n" + s(l[1]) + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/a.log"))
        try Data([0xEF, 0xBB, 0xBF] + Array("[\n  \(s(l[4])),\n  \(s(l[5]))\n]\n".utf8)).write(to: URL(fileURLWithPath: dir + "/b.json"))
        try Data("{\n  \"kind\": \"EventList\",\n  \"apiVersion\": \"audit.k8s.io/v1\",\n  \"items\": [\n    \(s(l[6]))\n  ]\n}\n".utf8)
            .write(to: URL(fileURLWithPath: dir + "/c.json"))
        try Data((s(l[7]) + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/d.log"))
        try Data("# notes\nnothing to see\n".utf8).write(to: URL(fileURLWithPath: dir + "/README.md"))

        let out = try h.run(["backfill", "--cluster", "hm", "--node", "n", "--state-dir", h.dir + "/state", "--store", "sqlite:" + h.storePath, dir])
        #expect(out.output.contains("backfill done"), "\(out.output.suffix(2000))")
        #expect(out.output.contains("README.md: skipped: not an audit log"), "\(out.output.suffix(2000))")
        #expect(out.output.contains("stored: 8"), "\(out.output.suffix(2000))")
        let stored = try h.storedEvents().map(\.event)
        #expect(hashes(stored) == hashes(Array(l)), "\(out.output.suffix(2000))")
    }

    @Test(.needsShared("real-world/audit-logs"))
    func realWorldFilesImportWithAReportOfWhatWasSkipped() throws {
        let dir = SharedData.path("real-world/audit-logs")
        let h = try Harness()
        let out = try h.run(["backfill", "--cluster", "rw", "--node", "n", "--state-dir", h.dir + "/state", "--store", "sqlite:" + h.storePath, dir])
        #expect(out.output.contains("backfill done"))
        #expect(out.output.contains("PROVENANCE.md: skipped: not an audit log"))
        let stored = try h.count()
        #expect(stored > 100, "\(out.output.suffix(2000))")
        // Every stored event's bytes are in one of the files (JSON lines kept as they are;
        // pretty-printed ones compacted, so only the count is checked for those).
        #expect(out.output.contains("stored: \(stored)"))
        // Azure diagnostic envelopes (sysdiglabs' AKS samples) are unwrapped: their events are stored.
        if FileManager.default.fileExists(atPath: dir + "/sysdiglabs__aks-audit-log__samples_event.json") {
            let ids = try h.storedEvents().map { String(decoding: $0.event, as: UTF8.self) }
            #expect(ids.contains { $0.contains("55ffceaa-b7c3-478e-98c6-e509cd2f0dd7") })
        } else {
            print("skipped the AKS envelope check: sysdiglabs__aks-audit-log__samples_event.json is not in \(dir)")
        }
    }
}
