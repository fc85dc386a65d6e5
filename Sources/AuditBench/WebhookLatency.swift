import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A plain-HTTP receiver on 127.0.0.1 for the bench's alert notifications: notes when each
/// POST body arrived and answers 200.
final class BenchWebhookReceiver: Sendable {
    let port: Int
    private let fd: Int32
    private let received = Mutex<[(time: Double, body: [UInt8])]>([])
    private let closed = Atomic<Bool>(false)

    init() throws {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { throw BenchError("socket() failed: \(errno)") }
        var yes: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(s, 16) == 0 else { close(s); throw BenchError("webhook receiver: bind/listen failed: \(errno)") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) }
        }
        fd = s
        port = Int(UInt16(bigEndian: addr.sin_port))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    var url: String { "http://127.0.0.1:\(port)/hook" }
    var bodies: [(time: Double, body: [UInt8])] { received.withLock { $0 } }

    func stop() {
        closed.store(true, ordering: .relaxed)
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    private func acceptLoop() {
        while !closed.load(ordering: .relaxed) {
            let c = accept(fd, nil, nil)
            if c < 0 { continue }
            Thread.detachNewThread { [self] in serve(c) }
        }
    }

    /// Requests on one connection (keep-alive), each answered 200.
    private func serve(_ c: Int32) {
        defer { close(c) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            // Headers, then Content-Length bytes of body.
            var headerEnd: Int?
            while headerEnd == nil {
                if let r = find(buffer, [13, 10, 13, 10]) { headerEnd = r; break }
                let n = chunk.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return }
                buffer += chunk[..<n]
            }
            guard let end = headerEnd else { return }
            let head = String(decoding: buffer[..<end], as: UTF8.self).lowercased()
            let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            while buffer.count < end + 4 + length {
                let n = chunk.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return }
                buffer += chunk[..<n]
            }
            let body = Array(buffer[(end + 4)..<(end + 4 + length)])
            received.withLock { $0.append((Date().timeIntervalSince1970, body)) }
            buffer.removeFirst(end + 4 + length)
            let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)
            _ = answer.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
    }

    private func find(_ haystack: [UInt8], _ needle: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
        }
        return nil
    }
}

extension Bench {
    /// An exec into a pod named `bench-latency-<n>`, stamped now: the built-in `pod-exec` rule
    /// fires on it once (it has no suppression), and the notification names the pod.
    static func execMarker(_ n: Int) -> [UInt8] {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"
        let t = f.string(from: Date())
        let id = String(format: "7e3c1d2a-%04x-4b5c-9d6e-%012x", n & 0xffff, n)
        return Array(#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"\#(id)","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/bench/pods/bench-latency-\#(n)/exec?command=sh","verb":"create","user":{"username":"bench@example.com","groups":["system:authenticated"]},"sourceIPs":["10.9.9.9"],"userAgent":"kubectl/v1.30.2","objectRef":{"resource":"pods","namespace":"bench","name":"bench-latency-\#(n)","apiVersion":"v1","subresource":"exec"},"responseStatus":{"metadata":{},"code":101},"requestReceivedTimestamp":"\#(t)","stageTimestamp":"\#(t)"}"#.utf8)
    }
}
