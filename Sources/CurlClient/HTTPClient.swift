import CCurl
import Foundation

/// TLS material for a client with a certificate (mutual TLS).
public struct ClientTLSConfiguration: Sendable, Hashable {
    /// PEM client certificate.
    public var certificateFile: String?
    /// PEM private key of the client certificate.
    public var keyFile: String?
    /// PEM CA bundle that must have signed the server's certificate.
    public var caFile: String?

    public init(certificateFile: String? = nil, keyFile: String? = nil, caFile: String? = nil) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.caFile = caFile
    }
}

/// A finished HTTP exchange.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var body: [UInt8]
    /// Response headers, names in lower case (the last value wins when repeated).
    public var headers: [String: String] = [:]
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Why a request got no HTTP answer.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Could not connect (refused, unreachable, DNS).
        case connect
        /// Timed out.
        case timeout
        /// The TLS handshake failed or the peer refused our certificate:
        /// a configuration problem, not a network blip.
        case tls
        /// Anything else libcurl reports.
        case other
    }
    public var kind: Kind
    /// libcurl's error code.
    public var code: Int
    public var message: String
    public var url: String
    public var description: String { "\(kind.rawValue) error talking to \(url): \(message) (curl \(code))" }
}

/// A blocking HTTP(S) client on libcurl: one easy handle, connections reused.
///
/// Not thread-safe: use one per thread or task. TLS 1.2 is the minimum; the
/// server certificate is verified against `tls.caFile` (or the system store).
public final class HTTPClient {
    private let handle: UnsafeMutableRawPointer
    private let tls: ClientTLSConfiguration
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)

    private static let globalInit: Void = {
        curl_global_init(Int(CURL_GLOBAL_ALL))
    }()

    public init(tls: ClientTLSConfiguration) throws(HTTPClientError) {
        _ = HTTPClient.globalInit
        guard let h = curl_easy_init() else {
            throw HTTPClientError(kind: .other, code: -1, message: "curl_easy_init failed", url: "")
        }
        handle = h
        self.tls = tls
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// Performs a request.
    /// - Parameters:
    ///   - method: "GET" or "POST".
    ///   - headers: header lines `Name: value`.
    ///   - body: request body for POST.
    ///   - timeoutSeconds: total time allowed.
    ///   - maxResponseBytes: a longer response body is cut at this size.
    public func request(
        method: String,
        url: String,
        headers: [String] = [],
        body: [UInt8] = [],
        timeoutSeconds: Int = 30,
        connectTimeoutSeconds: Int = 10,
        maxResponseBytes: Int = 16 << 20
    ) throws(HTTPClientError) -> HTTPResponse {
        curl_easy_reset(handle)
        let sink = ResponseSink(limit: maxResponseBytes)
        let sinkPointer = Unmanaged.passRetained(sink)
        defer { sinkPointer.release() }

        var list: UnsafeMutablePointer<curl_slist>? = nil
        // curl adds "Expect: 100-continue" to large bodies; servers that do
        // not answer it stall each POST for a second. An empty header disables it.
        for header in headers + ["Expect:"] {
            list = curl_slist_append(list, header)
        }
        defer { curl_slist_free_all(list) }

        var rc = CURLE_OK
        func set(_ o: CURLoption, _ v: Int) { if rc == CURLE_OK { rc = auditship_curl_setopt_long(handle, o, v) } }
        func set(_ o: CURLoption, _ v: String) { if rc == CURLE_OK { rc = auditship_curl_setopt_string(handle, o, v) } }
        errorBuffer[0] = 0
        if rc == CURLE_OK { rc = auditship_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer) }
        set(CURLOPT_URL, url)
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_TIMEOUT, timeoutSeconds)
        set(CURLOPT_CONNECTTIMEOUT, connectTimeoutSeconds)
        set(CURLOPT_SSLVERSION, Int(CURL_SSLVERSION_TLSv1_2))
        set(CURLOPT_SSL_VERIFYPEER, 1)
        set(CURLOPT_SSL_VERIFYHOST, 2)
        set(CURLOPT_PROTOCOLS_STR, "https,http")
        if let f = tls.caFile { set(CURLOPT_CAINFO, f) }
        // Read the CA bundle for every new connection instead of caching it for a day: a CA roll
        // (a bundle with the old and the new CA) is then trusted at once, without a restart.
        set(CURLOPT_CA_CACHE_TIMEOUT, 0)
        // A full handshake for every new connection, no resumed session: a renewed client certificate
        // is presented (and checked) from the next connection on.
        set(CURLOPT_SSL_SESSIONID_CACHE, 0)
        if let f = tls.certificateFile { set(CURLOPT_SSLCERT, f); set(CURLOPT_SSLCERTTYPE, "PEM") }
        if let f = tls.keyFile { set(CURLOPT_SSLKEY, f); set(CURLOPT_SSLKEYTYPE, "PEM") }
        if rc == CURLE_OK { rc = auditship_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, list) }
        if rc == CURLE_OK { rc = auditship_curl_setopt_write(handle, CURLOPT_WRITEFUNCTION, responseWriteCallback) }
        if rc == CURLE_OK { rc = auditship_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, sinkPointer.toOpaque()) }
        if rc == CURLE_OK { rc = auditship_curl_setopt_write(handle, CURLOPT_HEADERFUNCTION, headerWriteCallback) }
        if rc == CURLE_OK { rc = auditship_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, sinkPointer.toOpaque()) }
        guard rc == CURLE_OK else { throw error(rc, url: url) }

        let performed: CURLcode = body.withUnsafeBufferPointer { buf in
            var r = CURLE_OK
            if method == "POST" {
                r = auditship_curl_setopt_long(handle, CURLOPT_POST, 1)
                if r == CURLE_OK { r = auditship_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(buf.count)) }
                if r == CURLE_OK {
                    let p = UnsafeMutableRawPointer(mutating: buf.baseAddress ?? UnsafePointer(bitPattern: 1))
                    r = auditship_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, p)
                }
            } else if method != "GET" {
                r = auditship_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)
            }
            guard r == CURLE_OK else { return r }
            return curl_easy_perform(handle)
        }
        guard performed == CURLE_OK else { throw error(performed, url: url) }
        var status = 0
        _ = auditship_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, body: sink.data, headers: sink.headers)
    }

    private func error(_ code: CURLcode, url: String) -> HTTPClientError {
        let detail = String(cString: errorBuffer)
        let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        let kind: HTTPClientError.Kind
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_SEND_ERROR:
            kind = .connect
        case CURLE_OPERATION_TIMEDOUT:
            kind = .timeout
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM,
             CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CIPHER, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_CRL_BADFILE:
            kind = .tls
        case CURLE_RECV_ERROR:
            // With TLS 1.3 a refused client certificate arrives after the
            // handshake, as an alert while reading the response; a reset
            // connection (server killed) is a plain network error.
            let lower = message.lowercased()
            kind = lower.contains("alert") || lower.contains("certificate") ? .tls : .connect
        default:
            kind = .other
        }
        return HTTPClientError(kind: kind, code: Int(code.rawValue), message: message, url: url)
    }
}

private final class ResponseSink {
    var data: [UInt8] = []
    var headers: [String: String] = [:]
    let limit: Int
    init(limit: Int) { self.limit = limit }
}

private func responseWriteCallback(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ user: UnsafeMutableRawPointer?) -> Int {
    let n = size * count
    guard let ptr, let user else { return n }
    let sink = Unmanaged<ResponseSink>.fromOpaque(user).takeUnretainedValue()
    let room = max(0, sink.limit - sink.data.count)
    ptr.withMemoryRebound(to: UInt8.self, capacity: n) { p in
        sink.data.append(contentsOf: UnsafeBufferPointer(start: p, count: min(n, room)))
    }
    return n
}

private func headerWriteCallback(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ user: UnsafeMutableRawPointer?) -> Int {
    let n = size * count
    guard let ptr, let user, n < 16_384 else { return n }
    let sink = Unmanaged<ResponseSink>.fromOpaque(user).takeUnretainedValue()
    let line = ptr.withMemoryRebound(to: UInt8.self, capacity: n) { String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self) }
    if line.hasPrefix("HTTP/") { sink.headers = [:]; return n }  // a new response (after 100 Continue or a redirect)
    if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        sink.headers[name] = value
    }
    return n
}
