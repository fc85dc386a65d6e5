import Foundation
import Testing

/// `auditship bench --quick --format json` completes and prints valid JSON with every
/// section (PostgreSQL included, on a server of this test) and each reference beside its
/// figure. Nothing is asserted about speed.
@Suite struct BenchTests {
    @Test func quickBenchPrintsEverySectionAsJSON() throws {
        let h = try Harness()
        try h.startPostgres()
        let out = try h.run(["bench", "--quick", "--format", "json", "--work-dir", h.dir + "/bench", "--postgres", h.storeURL,
                             "--policy", Harness.repositoryRoot + "/Deploy/policies/recommended.yaml"])
        let line = out.output.split(separator: "\n").last { $0.hasPrefix("{") } ?? ""
        let root = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(out.output.suffix(2000))")
        #expect(root["quick"] as? Bool == true)
        let figures = try #require(root["figures"] as? [[String: Any]])
        let sections = Set(figures.compactMap { $0["section"] as? String })
        #expect(sections == ["agent pipeline", "whole agent process", "aggregator ingest", "hash chain", "aggregator ingest (PostgreSQL)", "end-to-end latency", "backfill", "query",
                             "store blocks"])
        for f in figures {
            #expect((f["value"] as? Double).map { $0.isFinite && $0 >= 0 } == true, "\(f)")
            if let r = f["reference"] as? [String: Any] {
                #expect((r["value"] as? Double).map { $0 > 0 } == true, "\(f)")
                #expect(f["ratio"] is Double)
            }
        }
        // The figures the issues' targets are judged by are there, each with its reference.
        #expect(figures.contains { ($0["name"] as? String)?.hasPrefix("events/s on one core") == true && $0["reference"] != nil })
        #expect(figures.contains { $0["section"] as? String == "aggregator ingest" && $0["reference"] != nil })
        #expect(figures.contains { $0["section"] as? String == "backfill" && $0["reference"] != nil })
        #expect(figures.contains { $0["section"] as? String == "aggregator ingest (PostgreSQL)" && $0["reference"] != nil })
        // The replay client's ingest figure with the aggregator's CPU, and the block format's figures.
        #expect(figures.contains { ($0["name"] as? String)?.hasPrefix("replay client") == true && $0["reference"] != nil })
        #expect(figures.contains { ($0["name"] as? String)?.hasPrefix("events per aggregator CPU-second") == true && ($0["value"] as? Double ?? 0) > 0 })
        let blocks = figures.filter { $0["section"] as? String == "store blocks" }
        #expect(blocks.count >= 2 && blocks.allSatisfy { $0["reference"] != nil }, "\(blocks)")
        // The hash chain's cost, on both stores, and what a full verify takes.
        let chain = figures.filter { $0["section"] as? String == "hash chain" }
        #expect(chain.count == 3 && chain.allSatisfy { $0["reference"] != nil }, "\(chain)")
    }
}
