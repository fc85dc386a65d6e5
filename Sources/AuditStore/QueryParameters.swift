import AuditModel
import Foundation

/// How the CLI and the HTTPS API read query parameters, so that both accept the same text.
public enum QueryParameters {
    /// An RFC 3339 time, or a time relative to `now`: `15m`, `1h`, `7d` (that long ago).
    public static func time(_ text: String, now: Timestamp) -> Timestamp? {
        if let t = Timestamp(rfc3339: text) { return t }
        let units: [(String, Int64)] = [("s", 1_000_000), ("m", 60_000_000), ("h", 3_600_000_000), ("d", 86_400_000_000), ("w", 604_800_000_000)]
        for (suffix, micros) in units where text.hasSuffix(suffix) {
            guard let n = Int64(text.dropLast(suffix.count)), n >= 0 else { continue }
            let (ago, overflow) = n.multipliedReportingOverflow(by: micros)
            guard !overflow else { return nil }
            return Timestamp(microseconds: now.microseconds &- ago)
        }
        return nil
    }

    /// A response code (`404`) or class (`4xx`): (code, nil) or (nil, class).
    public static func code(_ text: String) -> (code: Int?, codeClass: Int?)? {
        let t = text.lowercased()
        if t.count == 3, t.hasSuffix("xx"), let c = Int(t.prefix(1)), (1...5).contains(c) { return (nil, c) }
        if let c = Int(t), c >= 0, c < 1000 { return (c, nil) }
        return nil
    }

    /// The current time.
    public static var now: Timestamp { Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1_000_000)) }
}
