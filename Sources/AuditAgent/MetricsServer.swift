import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP/1.1 server for `/metrics` and `/healthz`, on its own thread.
///
/// Plain HTTP on a local address (scrapers and kubelet probes); one request
/// per connection; a client that does not send its request within 2 seconds
/// is dropped, so a slow client cannot block the endpoint for long.
public final class MetricsServer: @unchecked Sendable {
    // The socket is set once in init and read-only afterwards.
    private let fd: Int32
    public let port: Int
    private let metrics: AgentMetrics
    private let healthy: @Sendable () -> (Bool, String)

    /// Binds `host:port` (port 0 picks a free one).
    public init(host: String, port: Int, metrics: AgentMetrics, healthy: @escaping @Sendable () -> (Bool, String)) throws {
        self.metrics = metrics
        self.healthy = healthy
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { throw FileError(path: "\(host):\(port)", operation: "socket", errno: errno) }
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        let bindHost = host.isEmpty ? "0.0.0.0" : host
        guard inet_pton(AF_INET, bindHost, &addr.sin_addr) == 1 else {
            close(s)
            throw FileError(path: "\(host):\(port)", operation: "parse IPv4 address", errno: EINVAL)
        }
        let bound = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(s, 16) == 0 else {
            let e = errno
            close(s)
            throw FileError(path: "\(host):\(port)", operation: "listen on", errno: e)
        }
        var actual = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) }
        }
        self.fd = s
        self.port = Int(UInt16(bigEndian: actual.sin_port))
    }

    /// Starts serving on a background thread.
    public func start() {
        let t = Thread { [self] in self.serve() }
        t.name = "auditship-metrics"
        t.start()
    }

    private func serve() {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { if errno == EINTR { continue }; usleep(10_000); continue }
            handle(c)
            close(c)
        }
    }

    private func handle(_ c: Int32) {
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(2)
        while request.count < 16_384 {
            var p = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
            let left = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            guard left > 0, poll(&p, 1, left) > 0 else { return }
            let n = read(c, &buffer, buffer.count)
            if n <= 0 { return }
            request.append(contentsOf: buffer[0..<n])
            if request.count >= 4, request.suffix(4) == [13, 10, 13, 10] || containsHeaderEnd(request) { break }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        let path = parts.count >= 2 ? String(parts[1].split(separator: "?").first ?? "") : ""
        let (status, type, body): (String, String, String)
        switch (parts.first, path) {
        case ("GET", "/metrics"):
            (status, type, body) = ("200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics.prometheusText())
        case ("GET", "/healthz"):
            let (ok, detail) = healthy()
            (status, type, body) = (ok ? "200 OK" : "503 Service Unavailable", "text/plain", detail + "\n")
        default:
            (status, type, body) = ("404 Not Found", "text/plain", "not found: GET /metrics or /healthz\n")
        }
        let bodyBytes = Array(body.utf8)
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(bodyBytes.count)\r\nConnection: close\r\n\r\n"
        let all = Array(head.utf8) + bodyBytes
        var sent = 0
        while sent < all.count {
            let n = all.withUnsafeBytes { p -> Int in
                guard let base = p.baseAddress else { return -1 }
                return send(c, base + sent, all.count - sent, Int32(MSG_NOSIGNAL))
            }
            if n <= 0 { return }
            sent += n
        }
    }

    private func containsHeaderEnd(_ r: [UInt8]) -> Bool {
        guard r.count >= 4 else { return false }
        for i in 0...(r.count - 4) where r[i] == 13 && r[i + 1] == 10 && r[i + 2] == 13 && r[i + 3] == 10 { return true }
        return false
    }
}
