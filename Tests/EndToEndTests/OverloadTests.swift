import CurlClient
import Foundation
import Gzip
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Many clients at once: the aggregator sheds what it cannot take with 429 and Retry-After before
/// reading the body, clients that honour it get everything stored exactly once, and the
/// aggregator's memory follows its in-flight limit, not the number of clients.
@Suite struct OverloadTests {
    struct Tally: Sendable { var ok = 0; var shed = 0; var retryAfterMissing = 0; var failures: [String] = [] }

    @Test func twoHundredConcurrentClientsAreShedAndEverythingIsStoredOnce() throws {
        let h = try Harness()
        let nodes = (1...50).map { "m\($0)" }
        try h.makeCertificates(cluster: "c", nodes: nodes)
        try h.startAggregator(extra: ["--max-inflight-batches", "8", "--metrics-listen", "127.0.0.1:0"])
        // Four connections per node, each posting four batches of 250 of the node's events.
        var work: [(node: String, bodies: [(id: String, count: Int, gzip: [UInt8])])] = []
        var expected: [[UInt8]] = []
        for (i, node) in nodes.enumerated() {
            let lines = try h.generate(events: 4_000, seed: 300 + i, node: node, to: "\(h.dir)/\(node).log")
            expected += lines
            for c in 0..<4 {
                var bodies: [(id: String, count: Int, gzip: [UInt8])] = []
                for b in 0..<4 {
                    let part = lines[(c * 1000 + b * 250)..<(c * 1000 + b * 250 + 250)]
                    bodies.append(("\(node)-\(c)-\(b)", part.count, try Gzip.compress(part.flatMap { $0 + [0x0A] }, level: 1)))
                }
                work.append((node, bodies))
            }
        }
        let tally = Mutex(Tally())
        let done = DispatchSemaphore(value: 0)
        let certs = h.certs, address = h.aggregatorAddress
        let started = Date()
        for job in work {
            Thread {
                defer { done.signal() }
                do {
                    let client = try HTTPClient(tls: ClientTLSConfiguration(certificateFile: "\(certs)/agent-c-\(job.node).pem",
                                                                            keyFile: "\(certs)/agent-c-\(job.node)-key.pem", caFile: "\(certs)/ca.pem"))
                    for body in job.bodies {
                        var attempts = 0
                        while true {
                            attempts += 1
                            let r = try client.request(method: "POST", url: "https://\(address)/v1/batches", headers: [
                                "Content-Type: application/x-ndjson", "Content-Encoding: gzip", "X-Auditship-Cluster: c",
                                "X-Auditship-Node: \(job.node)", "X-Auditship-Batch-Id: \(body.id)", "X-Auditship-Event-Count: \(body.count)",
                            ], body: body.gzip, timeoutSeconds: 120)
                            if r.status == 200 { tally.withLock { $0.ok += 1 }; break }
                            guard r.status == 429 || r.status == 503, attempts < 500 else {
                                tally.withLock { $0.failures.append("\(body.id): \(r.status) \(r.bodyText.prefix(200))") }
                                break
                            }
                            let wait = Double(r.headers["retry-after"] ?? "")
                            tally.withLock { t in t.shed += 1; if wait == nil { t.retryAfterMissing += 1 } }
                            // Honour Retry-After, with jitter so that the clients do not come back in step.
                            usleep(useconds_t(((wait ?? 1) * Double.random(in: 0.5...1.5)) * 1_000_000))
                        }
                    }
                } catch {
                    tally.withLock { $0.failures.append("\(job.node): \(error)") }
                }
            }.start()
        }
        for _ in work { done.wait() }
        let seconds = Date().timeIntervalSince(started)
        let t = tally.withLock { $0 }
        #expect(t.failures.isEmpty, "\(t.failures.prefix(5))")
        #expect(t.ok == work.count * 4)
        #expect(t.shed > 0, "200 clients against 8 places must be shed")
        #expect(t.retryAfterMissing == 0)
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(expected))
        let metrics = try h.metricsAddress(log: "aggregator.log")
        let text = try HTTPClient(tls: ClientTLSConfiguration()).request(method: "GET", url: "http://\(metrics)/metrics").bodyText
        #expect(text.contains("auditship_aggregator_refusals_total{reason=\"overloaded\"}"))
        let hwm = (try? String(contentsOfFile: "/proc/\(h.aggregatorPID)/status", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? "?"
        print("overload: \(work.count) connections, \(expected.count) events in \(String(format: "%.1f", seconds)) s "
              + "(\(Int(Double(expected.count) / seconds)) events/s), \(t.shed) refusals (429/503, Retry-After honoured), aggregator \(hwm)")
    }
}
