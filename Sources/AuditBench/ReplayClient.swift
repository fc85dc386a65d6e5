import AuditWire
import CurlClient
import Foundation
import Gzip
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A light client for the ingest figure: posts ready-made gzip batches over mutual TLS on several
/// connections at once, so that what is measured is the aggregator, not the agents' reading and
/// compressing sharing its cores. Honours 429/503 with their Retry-After; any other refusal stops it.
struct ReplayClient {
    struct Body: Sendable {
        var node: String
        var batchID: String
        var events: Int
        var gzip: [UInt8]
    }

    struct Outcome: Sendable {
        var batches = 0
        var stored = 0
        var duplicates = 0
        var refusals = 0
        var failure: String?
    }

    /// Gzip bodies of `perBatch` lines of each node's events (built before anything is timed).
    static func bodies(_ files: [[[UInt8]]], perBatch: Int = 1000, level: Int32 = 1) throws -> [Body] {
        var out: [Body] = []
        for (i, lines) in files.enumerated() {
            for start in stride(from: 0, to: lines.count, by: perBatch) {
                let part = lines[start..<min(start + perBatch, lines.count)]
                var text: [UInt8] = []
                for l in part { text += l; text.append(0x0A) }
                out.append(Body(node: "n\(i + 1)", batchID: "replay-\(i)-\(start)", events: part.count, gzip: try Gzip.compress(text, level: level)))
            }
        }
        return out
    }

    /// Posts every body once, `connections` at a time (each connection sends one node's batches
    /// with that node's certificate), and returns what the aggregator answered.
    static func post(_ bodies: [Body], to address: String, cluster: String, certs: String, connections: Int) -> Outcome {
        let nodes = Array(Set(bodies.map(\.node))).sorted()
        let perConnection = max(1, connections / max(1, nodes.count))
        var queues: [[Body]] = []
        for node in nodes {
            let mine = bodies.filter { $0.node == node }
            for k in 0..<perConnection { queues.append(stride(from: k, to: mine.count, by: perConnection).map { mine[$0] }) }
        }
        let total = Mutex(Outcome())
        let done = DispatchSemaphore(value: 0)
        for queue in queues {
            let thread = Thread {
                defer { done.signal() }
                guard let node = queue.first?.node else { return }
                let outcome = send(queue, address: address, cluster: cluster, node: node, certs: certs)
                total.withLock { t in
                    t.batches += outcome.batches
                    t.stored += outcome.stored
                    t.duplicates += outcome.duplicates
                    t.refusals += outcome.refusals
                    t.failure = t.failure ?? outcome.failure
                }
            }
            thread.start()
        }
        for _ in queues { done.wait() }
        return total.withLock { $0 }
    }

    static func send(_ queue: [Body], address: String, cluster: String, node: String, certs: String) -> Outcome {
        var outcome = Outcome()
        let tls = ClientTLSConfiguration(certificateFile: certs + "/agent-\(cluster)-\(node).pem",
                                         keyFile: certs + "/agent-\(cluster)-\(node)-key.pem", caFile: certs + "/ca.pem")
        guard let client = try? HTTPClient(tls: tls) else {
            outcome.failure = "cannot set up a client for \(node)"
            return outcome
        }
        let url = "https://\(address)" + BatchProtocol.batchPath
        for body in queue {
            let headers = [
                "Content-Type: \(BatchProtocol.contentType)", "Content-Encoding: gzip",
                "\(BatchProtocol.clusterHeader): \(cluster)", "\(BatchProtocol.nodeHeader): \(node)",
                "\(BatchProtocol.batchIDHeader): \(body.batchID)", "\(BatchProtocol.eventCountHeader): \(body.events)",
            ]
            var attempts = 0
            while true {
                attempts += 1
                do {
                    let response = try client.request(method: "POST", url: url, headers: headers, body: body.gzip, timeoutSeconds: 60)
                    if response.status == 200, let answer = try? JSONDecoder().decode(BatchResponse.self, from: Data(response.body)) {
                        outcome.batches += 1
                        outcome.stored += answer.stored
                        outcome.duplicates += answer.duplicates
                        break
                    }
                    if (response.status == 429 || response.status == 503) && attempts < 100 {
                        outcome.refusals += 1
                        let wait = Double(response.headers["retry-after"] ?? "") ?? 0.1
                        usleep(useconds_t(min(5, max(0.01, wait)) * 1_000_000))
                        continue
                    }
                    outcome.failure = "batch \(body.batchID) answered \(response.status): \(response.bodyText.prefix(200))"
                    return outcome
                } catch {
                    outcome.failure = "batch \(body.batchID): \(error)"
                    return outcome
                }
            }
        }
        return outcome
    }
}

extension Bench {
    /// CPU seconds a process has used so far (user + system), from /proc; 0 when /proc cannot say.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return 0 }
        // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
