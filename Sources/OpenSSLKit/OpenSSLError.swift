import COpenSSL

/// An OpenSSL failure: what we were doing, and OpenSSL's own reason.
public struct OpenSSLError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var reason: String

    public init(_ operation: String, reason: String? = nil) {
        self.operation = operation
        self.reason = reason ?? OpenSSLError.drainQueue()
    }

    public var description: String { "\(operation) failed: \(reason)" }

    /// Reads and clears OpenSSL's thread-local error queue.
    static func drainQueue() -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return reasons.isEmpty ? "no reason given" : reasons.joined(separator: "; ")
    }
}
