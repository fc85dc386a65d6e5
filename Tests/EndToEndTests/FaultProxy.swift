import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy of the tests' own on 127.0.0.1 that injects network faults between an agent and
/// the aggregator, the way Toxiproxy is used: latency with jitter, a bandwidth limit, a partition
/// that accepts connections and never answers, connections reset in the middle of a request body
/// or of a response, and a trickle of one byte per write. The fault can change while it runs.
final class FaultProxy: @unchecked Sendable {
    enum Fault: Sendable, Equatable {
        case none
        /// Each chunk, both ways, waits `milliseconds` ± `jitter`.
        case latency(milliseconds: Int, jitter: Int)
        /// Both ways together at most this many bytes a second.
        case bandwidth(bytesPerSecond: Int)
        /// New and open connections are accepted and read, but nothing is forwarded or answered.
        case partition
        /// The first `connections` connections are reset after `afterBytes` bytes of the request.
        case resetInRequest(afterBytes: Int, connections: Int)
        /// The first `connections` connections are reset inside the first answer that follows a request
        /// of at least `afterRequestBytes` bytes (past the TLS handshake, so the server has handled it),
        /// after `afterBytes` bytes of that answer.
        case resetInResponse(afterRequestBytes: Int, afterBytes: Int, connections: Int)
        /// Every byte, both ways, is written on its own.
        case trickle
        /// A slow server: the answer to each request of at least 4 KiB (a batch, not a TLS
        /// handshake message) starts only after `milliseconds`.
        case slowAnswers(milliseconds: Int)
    }

    let port: UInt16
    private let upstreamPort: UInt16
    private let listener: Int32
    private let state = Mutex<(fault: Fault, resets: Int, open: Set<Int32>, stopped: Bool)>((.none, 0, [], false))
    private let bandwidthClock = Mutex<(ContinuousClock.Instant, Int)>((.now, 0))

    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream` ("127.0.0.1:PORT").
    init(upstream: String) throws {
        guard let p = upstream.split(separator: ":").last.flatMap({ UInt16($0) }) else { throw HarnessError("bad upstream \(upstream)") }
        upstreamPort = p
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 512) == 0 else { throw HarnessError("proxy cannot listen: \(String(cString: strerror(errno)))") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        listener = fd
        port = UInt16(bigEndian: addr.sin_port)
        Thread { [self] in acceptLoop() }.start()
    }

    var address: String { "127.0.0.1:\(port)" }

    var fault: Fault {
        get { state.withLock { $0.fault } }
        set { state.withLock { $0.fault = newValue; $0.resets = 0 } }
    }

    func stop() {
        guard let fds = state.withLock({ s -> Set<Int32>? in
            if s.stopped { return nil }
            s.stopped = true
            return s.open
        }) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    deinit { stop() }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if state.withLock({ $0.stopped }) { return }
                continue
            }
            Thread { [self] in serve(client) }.start()
        }
    }

    private func connectUpstream() -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = upstreamPort.bigEndian
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if ok != 0 { close(fd); return nil }
        return fd
    }

    private func serve(_ client: Int32) {
        // Descriptors leave `open` before they are closed, so that stop() never touches a reused number.
        state.withLock { _ = $0.open.insert(client) }
        // Which reset, if any, this connection gets: decided when it opens.
        let reset: (inRequest: Bool, after: Int, afterRequest: Int)? = state.withLock { s in
            switch s.fault {
            case .resetInRequest(let after, let n) where s.resets < n: s.resets += 1; return (true, after, 0)
            case .resetInResponse(let request, let after, let n) where s.resets < n: s.resets += 1; return (false, after, request)
            default: return nil
            }
        }
        let requestBytes = ByteCount()
        guard let server = connectUpstream() else {
            state.withLock { _ = $0.open.remove(client) }
            close(client)
            return
        }
        state.withLock { _ = $0.open.insert(server) }
        let done = DispatchSemaphore(value: 0)
        Thread { [self] in
            pump(from: client, to: server, resetAfter: reset?.inRequest == true ? reset?.after : nil, peers: (client, server), counter: requestBytes)
            done.signal()
        }.start()
        pump(from: server, to: client, resetAfter: reset?.inRequest == false ? reset?.after : nil, peers: (client, server),
             resetOnlyAfterRequest: reset?.afterRequest ?? 0, requestBytes: requestBytes)
        done.wait()
        state.withLock { s in
            s.open.remove(client)
            s.open.remove(server)
        }
        close(client)
        close(server)
    }

    /// Copies one direction until either side closes, applying the current fault to each chunk.
    private func pump(from source: Int32, to destination: Int32, resetAfter: Int?, peers: (client: Int32, server: Int32),
                      counter: ByteCount? = nil, resetOnlyAfterRequest: Int = 0, requestBytes: ByteCount? = nil) {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        var forwarded = 0
        // For a reset inside an answer: bytes of this direction are counted from the first chunk
        // that follows enough request bytes.
        var counting = resetOnlyAfterRequest == 0
        // For slow answers (server to client only): request bytes seen when the last answer was held.
        var requestBytesAnswered = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            var chunk = Array(buffer[..<n])
            counter?.value.add(chunk.count, ordering: .relaxed)
            if !counting, let seen = requestBytes?.value.load(ordering: .relaxed), seen >= resetOnlyAfterRequest {
                counting = true
                forwarded = 0
            }
            if counting, let limit = resetAfter, forwarded + chunk.count >= limit {
                chunk = Array(chunk.prefix(max(0, limit - forwarded)))
                _ = send(destination, chunk, chunk.count, Int32(MSG_NOSIGNAL))
                // An abortive close: RST to both ends.
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(peers.client, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                setsockopt(peers.server, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                shutdown(peers.client, Int32(SHUT_RDWR))
                shutdown(peers.server, Int32(SHUT_RDWR))
                return
            }
            if case .slowAnswers(let ms) = fault, counter == nil, let seen = requestBytes?.value.load(ordering: .relaxed),
               seen - requestBytesAnswered >= 4096 {
                requestBytesAnswered = seen
                usleep(useconds_t(ms * 1000))
            }
            switch fault {
            case .partition:
                continue  // read and dropped: the other side waits for an answer that never comes
            case .latency(let ms, let jitter):
                usleep(useconds_t(max(0, ms + Int.random(in: -jitter...jitter)) * 1000))
            case .bandwidth(let rate):
                // A shared token clock: both directions together stay under the rate.
                let wait = bandwidthClock.withLock { clock -> Double in
                    let now = ContinuousClock.now
                    let earliest = max(clock.0, now)
                    clock.0 = earliest + .microseconds(Int64(chunk.count) * 1_000_000 / Int64(rate))
                    let d = earliest - now
                    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
                }
                if wait > 0 { usleep(useconds_t(wait * 1_000_000)) }
            case .trickle:
                for b in chunk {
                    if send(destination, [b], 1, Int32(MSG_NOSIGNAL)) != 1 { return }
                }
                forwarded += chunk.count
                continue
            case .none, .resetInRequest, .resetInResponse, .slowAnswers:
                break
            }
            var sent = 0
            while sent < chunk.count {
                let m = chunk[sent...].withUnsafeBytes { send(destination, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if m <= 0 { return }
                sent += m
            }
            forwarded += chunk.count
        }
        shutdown(destination, Int32(SHUT_WR))
    }
}

/// Bytes seen on one direction of a proxied connection, read by the other direction.
final class ByteCount: Sendable {
    let value = Atomic<Int>(0)
}
