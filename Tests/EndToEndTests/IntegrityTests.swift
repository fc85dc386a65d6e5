import CurlClient
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The tamper-evident store through the real binary: the aggregator signs its chain heads
/// (every second here, and at shutdown) and exports the checkpoints; `verify` checks the store
/// against them, `query --with-proof` exports proof a third party can check, and a store put
/// back to an older copy is caught only by the checkpoints kept outside it.
@Suite(.serialized) struct IntegrityTests {
    func ship(_ h: Harness, node: String, events: Int, seed: Int) throws -> [[UInt8]] {
        let path = "\(h.dir)/\(node).log"
        let lines = try h.generate(events: events, seed: seed, node: node, to: path)
        try h.run(h.agentArguments(cluster: "prod", node: node, path: path, state: "\(h.dir)/\(node)-state",
                                   extra: ["--exit-when-caught-up"]))
        return lines
    }

    @Test func aggregatorSignsAndVerifyCatchesARestoredOlderStore() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "prod", nodes: ["m1", "m2"])
        let key = h.certs + "/checkpoint-key.pem"
        let pub = h.certs + "/checkpoint-key.pub.pem"
        #expect(FileManager.default.fileExists(atPath: key) && FileManager.default.fileExists(atPath: pub))
        let exports = h.dir + "/exported-checkpoints"
        let signing = ["--checkpoint-key", key, "--checkpoint-export", exports, "--checkpoint-interval", "1s", "--metrics-listen", "127.0.0.1:0"]

        // First run: 600 events, then a clean stop (the last checkpoint is signed at shutdown).
        try h.startAggregator(extra: signing)
        let first = try ship(h, node: "m1", events: 600, seed: 5)
        let metrics = try h.metricsAddress(log: "aggregator.log")
        let client = try HTTPClient(tls: ClientTLSConfiguration())
        try h.waitUntil("a checkpoint is signed", seconds: 30) {
            let text = try client.request(method: "GET", url: "http://\(metrics)/metrics").bodyText
            return text.contains("auditship_aggregator_checkpoints_total{result=\"signed\"}")
                && text.contains("auditship_aggregator_checkpoint_exports_total ") && !text.contains("auditship_aggregator_checkpoint_exports_total 0\n")
        }
        h.stopAggregator()
        #expect(h.read("aggregator.log").contains("signing chain checkpoints"))
        // Keep a copy of the whole database as it is now (the file and its WAL: the aggregator is stopped).
        let store = h.storePath
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: store + suffix) {
            try FileManager.default.copyItem(atPath: store + suffix, toPath: h.dir + "/old-copy.sqlite" + suffix)
        }

        // Second run: 400 more events from another node.
        try h.startAggregator(extra: signing)
        let second = try ship(h, node: "m2", events: 400, seed: 6)
        h.stopAggregator()
        #expect(try h.count() == first.count + second.count)

        // The untouched store verifies against the trusted key and the exported checkpoints.
        let ok = try h.run(["verify", "--store", h.storeURL, "--public-key", pub, "--checkpoints", exports])
        #expect(ok.output.contains("verify: OK: 1 clusters, 1000 events verified"), "\(ok.output)")
        #expect(!ok.output.contains("warning"), "\(ok.output)")

        // Proof for m2's events, checkable without the store.
        let proofFile = h.dir + "/proof.json"
        let query = try ChildProcess(executable: h.binary, arguments: ["query", "--store", h.storeURL, "--node", "m2", "--limit", "50", "--with-proof"],
                                     output: proofFile, errorToOutput: false)
        query.waitUntilExit()
        #expect(query.terminationStatus == 0)
        let proof = try h.run(["verify", "--proof", proofFile, "--public-key", pub])
        #expect(proof.output.contains("verify: OK: 50 events proven against signed checkpoints"), "\(proof.output)")
        // One changed byte in the proof's copy of an event is caught.
        var text = try String(contentsOfFile: proofFile, encoding: .utf8)
        let raw = try #require(text.range(of: "\"raw\":\"")).upperBound
        let flipped: Character = text[raw] == "e" ? "f" : "e"
        text.replaceSubrange(raw...raw, with: String(flipped))
        try text.write(toFile: proofFile, atomically: true, encoding: .utf8)
        let bad = try h.run(["verify", "--proof", proofFile, "--public-key", pub], expectStatus: 1)
        #expect(bad.output.contains("do not hash to its leaf") || bad.output.contains("not a proof bundle"), "\(bad.output)")

        // Put the older copy back: inside the store nothing shows, the exported checkpoints do.
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: store + suffix) }
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: h.dir + "/old-copy.sqlite" + suffix) {
            try FileManager.default.copyItem(atPath: h.dir + "/old-copy.sqlite" + suffix, toPath: store + suffix)
        }
        let inside = try h.run(["verify", "--store", h.storeURL, "--public-key", pub])
        #expect(inside.output.contains("verify: OK: 1 clusters, 600 events verified"), "\(inside.output)")
        let caught = try h.run(["verify", "--store", h.storeURL, "--public-key", pub, "--checkpoints", exports, "--format", "json"], expectStatus: 1)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(caught.output.utf8)) as? [String: Any])
        #expect(report["ok"] as? Bool == false)
        let problems = ((report["clusters"] as? [[String: Any]])?.first?["problems"] as? [[String: Any]]) ?? []
        #expect(problems.map { $0["kind"] as? String } == ["blocks_missing"], "\(caught.output)")
        #expect((problems.first?["message"] as? String)?.contains("the store was restored from an older copy") == true)

        // An aggregator started on the restored store refuses to sign a chain shorter than what
        // its key signed (it reads its own export file), and says so.
        try h.startAggregator(extra: signing)
        try h.waitUntil("the aggregator refuses to sign the rolled-back chain", seconds: 30) {
            h.read("aggregator.log").contains("not signing: the chain no longer holds what this aggregator signed")
        }
        let refusedMetrics = try client.request(method: "GET", url: "http://\(try h.metricsAddress(log: "aggregator.log"))/metrics").bodyText
        #expect(refusedMetrics.contains("auditship_aggregator_checkpoints_total{result=\"refused\"}"))
        h.stopAggregator()
        let still = try h.run(["verify", "--store", h.storeURL, "--public-key", pub, "--checkpoints", exports], expectStatus: 1)
        #expect(still.output.contains("PROBLEM blocks_missing"), "\(still.output)")

        // A key nobody trusts proves nothing; a store that cannot be read is exit status 2.
        try h.run(["certs", "init", "--out", h.dir + "/other"])
        let stranger = try h.run(["verify", "--store", h.storeURL, "--public-key", h.dir + "/other/checkpoint-key.pub.pem"], expectStatus: 1)
        #expect(stranger.output.contains("PROBLEM unknown_key"), "\(stranger.output)")
        try h.run(["verify", "--store", "sqlite:\(h.dir)/nothing.sqlite"], expectStatus: 2)
    }
}
