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
    /// The hash chain's cost on ingest: the ingest figure's events, scanned once, stored in 1,000-event
    /// batches by one in-process writer into a SQLite store with and without chain blocks; two rounds in
    /// alternating order, the best of each kept.
    mutating func chainCost() async throws {
        say("hash chain cost: SQLite store ingest with and without the chain")
        let batches = try Self.batches(ingestLines)
        let total = batches.reduce(0) { $0 + $1.events.count }
        var best: [Bool: Double] = [:]
        for (round, order) in [[false, true], [true, false]].enumerated() {
            for chain in order {
                let path = dir + "/chain-\(chain)-\(round).sqlite"
                let store = try SQLiteStore(path: path, readOnly: false, hashChain: chain)
                let t = ContinuousClock.now
                for b in batches { _ = try await store.ingest(b) }
                let rate = Double(total) / seconds(since: t)
                if chain && round == 0 {
                    // What a full `verify` of this store takes, beside reading every event once.
                    let signer = try CheckpointSigner(key: try PrivateKey.generateEd25519())
                    let heads = try await store.chainHeads()
                    try await store.saveCheckpoints(try heads.map { try signer.sign(head: $0, signedAt: 1, prunedBefore: 0) },
                                                    keyID: signer.keyID, publicKeyPEM: signer.publicKeyPEM)
                    let tv = ContinuousClock.now
                    let report = try await ChainVerifier(source: store, trustedKeys: [signer.keyID: signer.publicKey]).run()
                    let verifySeconds = seconds(since: tv)
                    guard report.ok, report.clusters.reduce(0, { $0 + $1.eventsVerified }) == total else {
                        throw BenchError("verify of the bench store did not come out clean: \(report.clusters.flatMap(\.problems).map(\.message).joined(separator: "; "))")
                    }
                    let tr = ContinuousClock.now
                    var read = 0
                    var after: Int64 = 0
                    while true {
                        let page = try await store.events(EventQuery(limit: 10_000, ingestedAfter: after, ingestOrder: true))
                        read += page.count
                        guard let last = page.last?.sequence, page.count == 10_000 else { break }
                        after = last
                    }
                    let readSeconds = seconds(since: tr)
                    figures.append(BenchFigure(section: "hash chain", name: "auditship verify of the whole store (\(total) events), events/s",
                                               value: Double(total) / verifySeconds, unit: "events/s",
                                               referenceName: "reading every event once through the store's query (\(read) events)",
                                               reference: Double(read) / readSeconds))
                }
                try store.closeNow()
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
                best[chain] = max(best[chain] ?? 0, rate)
            }
        }
        let on = best[true] ?? 0, off = best[false] ?? 0
        figures.append(BenchFigure(section: "hash chain", name: "SQLite store ingest with the hash chain, events/s (1 writer, 1,000-event batches)",
                                   value: on, unit: "events/s", referenceName: "the same store and events without chain blocks",
                                   reference: off, target: "≥ 0.95× without (chain costs < 5%)", met: on >= 0.95 * off))
    }

    /// The files' lines as 1,000-event batches of nodes n1, n2, n3 (scanned and hashed here, not timed).
    static func batches(_ files: [[[UInt8]]]) throws -> [IngestBatch] {
        var out: [IngestBatch] = []
        for (i, lines) in files.enumerated() {
            for start in stride(from: 0, to: lines.count, by: 1000) {
                let events = try lines[start..<min(start + 1000, lines.count)].map { line in
                    IngestEvent(bytes: line, summary: try EventScanner.scan(line), digest: SHA256.hash(line))
                }
                out.append(IngestBatch(cluster: "bench", node: "n\(i + 1)", batchID: "b\(i)-\(start)", events: events))
            }
        }
        return out
    }

}
