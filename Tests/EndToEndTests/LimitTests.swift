import CurlClient
import Foundation
import Gzip
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Hostile input at the edges, with real processes: slow clients, a batch of a million tiny
/// events, a 100 MB line. Each must be cut off or refused with its reason while everything around
/// it flows on, in bounded memory.
@Suite(.serialized) struct LimitTests {
    /// A value shared with a helper thread.
    final class Shared<T: Sendable>: Sendable {
        let mutex: Mutex<T>
        init(_ value: T) { mutex = Mutex(value) }
        func withLock<R>(_ body: (inout T) -> R) -> R { mutex.withLock { body(&$0) } }
    }

    func post(_ h: Harness, body: [UInt8]) throws -> HTTPResponse {
        let c = try HTTPClient(tls: ClientTLSConfiguration(certificateFile: h.certs + "/agent-a-n1.pem", keyFile: h.certs + "/agent-a-n1-key.pem",
                                                           caFile: h.certs + "/ca.pem"))
        return try c.request(method: "POST", url: "https://\(h.aggregatorAddress)/v1/batches",
                             headers: ["X-Auditship-Cluster: a", "X-Auditship-Node: n1", "Content-Encoding: gzip"], body: body, timeoutSeconds: 120)
    }

    func answer(_ r: HTTPResponse) -> [String: Any] {
        ((try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any]) ?? [:]
    }

    /// Connects to HOST:PORT over plain TCP.
    func connectTCP(_ address: String) throws -> Int32 {
        let parts = address.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else { throw HarnessError("bad address \(address)") }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        inet_pton(AF_INET, String(parts[0]), &sa.sin_addr)
        let rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { close(fd); throw HarnessError("cannot connect to \(address)") }
        return fd
    }

    /// Slowloris: one client stalls the TLS handshake, sending a byte a second; another completes
    /// mutual TLS and then trickles its request headers a byte a second. Both are cut off by
    /// `--idle-timeout` long before they finish, and a normal batch sent meanwhile is answered.
    @Test func slowClientsAreCutOffAndDoNotHoldUpOthers() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "a", nodes: ["n1"])
        let good = try h.generate(events: 20, seed: 5, node: "n1", to: h.dir + "/gen.log")
        let body = try Gzip.compress(Array(good.joined(separator: [0x0A]) + [0x0A]))
        try h.startAggregator(extra: ["--idle-timeout", "5s"])
        signal(SIGPIPE, SIG_IGN)

        // 1. A stalled handshake: bytes of a TLS record header, one a second, until the server closes.
        let fd = try connectTCP(h.aggregatorAddress)
        let handshakeBytes = Shared(0)
        let handshakeClosed = Shared(false)
        let trickler = Thread {
            let record: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00] + [UInt8](repeating: 0x01, count: 120)
            for b in record {
                var byte = b
                if send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) != 1 { break }
                handshakeBytes.withLock { $0 += 1 }
                // A closed connection shows as readable with 0 bytes (or an error).
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&pfd, 1, 1000) > 0 {
                    var buf = [UInt8](repeating: 0, count: 64)
                    if recv(fd, &buf, buf.count, 0) <= 0 { break }
                }
            }
            handshakeClosed.withLock { $0 = true }
        }
        trickler.start()

        // 2. Headers trickled over a real mutual-TLS connection (openssl s_client reads our pipe).
        var pipeFDs: [Int32] = [0, 0]
        #expect(pipe(&pipeFDs) == 0)
        let sClient = try ChildProcess(executable: "/usr/bin/openssl", arguments: [
            "s_client", "-quiet", "-connect", h.aggregatorAddress, "-cert", h.certs + "/agent-a-n1.pem",
            "-key", h.certs + "/agent-a-n1-key.pem", "-CAfile", h.certs + "/ca.pem",
        ], output: h.dir + "/s_client.log", standardInput: pipeFDs[0])
        close(pipeFDs[0])
        let pipeWriteEnd = pipeFDs[1]
        let header = Array("POST /v1/batches HTTP/1.1\r\nHost: aggregator\r\nX-Auditship-Cluster: a\r\nX-Auditship-Node: n1\r\nContent-Length: 0\r\n\r\n".utf8)
        let headerBytes = Shared(0)
        let writer = Thread {
            for b in header {
                var byte = b
                if write(pipeWriteEnd, &byte, 1) != 1 || !sClient.isRunning { break }
                headerBytes.withLock { $0 += 1 }
                sleep(1)
            }
            close(pipeWriteEnd)
        }
        writer.start()

        // 3. Meanwhile a normal batch is answered.
        #expect(sClient.isRunning, "the header trickler should be connected when the normal batch is sent")
        let r = try post(h, body: body)
        #expect(r.status == 200)
        #expect(answer(r)["stored"] as? Int == 20)

        // 4. Both slow clients are cut off well before their data is through.
        try h.waitUntil("the aggregator closes both slow connections", seconds: 90) {
            handshakeClosed.withLock { $0 } && !sClient.isRunning
        }
        let sentHandshake = handshakeBytes.withLock { $0 }
        let sentHeader = headerBytes.withLock { $0 }
        #expect(sentHandshake < 30, "the stalled handshake sent \(sentHandshake) bytes before it was cut off")
        #expect(sentHeader < header.count / 2, "the trickled request sent \(sentHeader) of \(header.count) header bytes before it was cut off")
        close(fd)
        #expect(try h.count() == 20)
    }

    /// A batch of a million tiny events is refused whole (413, too_many_events) before any is
    /// decoded; one at the limit is taken. A batch of 99,999 malformed lines and one event is answered with
    /// every refused line, and the log holds a few of them and one summary line, not 99,999.
    @Test func aMillionTinyEventsAreRefusedAndBadLinesDoNotFloodTheLog() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "a", nodes: ["n1"])
        try h.startAggregator()
        var million: [UInt8] = []
        million.reserveCapacity(25 << 20)
        for i in 0..<1_000_000 { million += Array("{\"auditID\":\"\(i)\"}\n".utf8) }
        let r1 = try post(h, body: try Gzip.compress(million, level: 1))
        #expect(r1.status == 413)
        #expect(answer(r1)["error"] as? String == "too_many_events")
        #expect((answer(r1)["message"] as? String)?.contains("1000000 lines") == true)
        #expect(try h.count() == 0)

        var bad: [UInt8] = []
        for i in 0..<99_999 { bad += Array("not an event \(i)\n".utf8) }  // with the good one: exactly the limit
        bad += Array("{\"auditID\":\"the one good event\",\"stage\":\"ResponseComplete\"}\n".utf8)
        let r2 = try post(h, body: try Gzip.compress(bad, level: 1))
        #expect(r2.status == 200)
        #expect((answer(r2)["rejected"] as? [Any])?.count == 99_999)
        #expect(answer(r2)["stored"] as? Int == 1)
        let log = h.read("aggregator.log")
        let lines = log.split(separator: "\n")
        #expect(lines.filter { $0.contains("event refused") }.count == 10)
        #expect(lines.contains { $0.contains("more events refused in this batch") && $0.contains("more=99989") })
        #expect(!log.contains("not an event"), "event content must not reach our logs")
    }

    /// A 100 MB line between good events: the agent quarantines it (with its line number) without
    /// holding it in memory, ships the events around it, and stays small.
    @Test func aHundredMegabyteLineIsQuarantinedAndTheRestShipped() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "a", nodes: ["n1"])
        try h.startAggregator()
        let good = try h.generate(events: 20, seed: 9, node: "n1", to: h.dir + "/gen.log")
        let path = h.dir + "/audit.log"
        guard FileManager.default.createFile(atPath: path, contents: nil), let out = FileHandle(forWritingAtPath: path) else {
            throw HarnessError("cannot write \(path)")
        }
        for e in good.prefix(10) { out.write(Data(e + [0x0A])) }
        out.write(Data("{\"auditID\":\"huge\",\"x\":\"".utf8))
        let chunk = Data(repeating: UInt8(ascii: "a"), count: 1 << 20)
        for _ in 0..<100 { out.write(chunk) }
        out.write(Data("\"}\n".utf8))
        for e in good.suffix(10) { out.write(Data(e + [0x0A])) }
        try out.close()

        let agent = try h.start(h.agentArguments(cluster: "a", node: "n1", path: path, state: h.dir + "/state"), log: "agent.log")
        try h.waitUntil("the 20 good events are stored", seconds: 120) { try h.count() == 20 }
        let status = (try? String(contentsOfFile: "/proc/\(agent.processIdentifier)/status", encoding: .utf8)) ?? ""
        let peakKiB = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") } ?? -1
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
        #expect(peakKiB > 0 && peakKiB < 96 * 1024, "the agent's peak resident memory was \(peakKiB) KiB reading a 100 MB line")
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(good))
        let quarantine = try String(contentsOfFile: h.dir + "/state/quarantine.ndjson", encoding: .utf8)
        #expect(quarantine.split(separator: "\n").count == 1)
        #expect(quarantine.contains("\"line\":11"))
        #expect(!h.read("agent.log").contains("aaaaaaaa"), "event content must not reach our logs")
    }
}
