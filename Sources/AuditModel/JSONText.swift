/// Writing JSON text by hand, for the few places that frame raw event bytes.
public enum JSONText {
    /// The JSON string literal for `s`, with quotes.
    public static func quote(_ s: String) -> String {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        appendEscaped(s, to: &out)
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the escaped body of a JSON string (no quotes) to `out`.
    public static func appendEscaped(_ s: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): out.append(contentsOf: [92, 92])
            case 0x0A: out.append(contentsOf: [92, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [92, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [92, UInt8(ascii: "t")])
            case 0..<0x20:
                out.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: out.append(b)
            }
        }
    }

    /// The query output line `{"cluster":"…","node":"…","event":EVENT}` (no newline);
    /// the event's bytes are copied unchanged.
    public static func taggedEventLine(cluster: String, node: String, event: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(event.count + cluster.utf8.count + node.utf8.count + 40)
        out.append(contentsOf: Array("{\"cluster\":\"".utf8))
        appendEscaped(cluster, to: &out)
        out.append(contentsOf: Array("\",\"node\":\"".utf8))
        appendEscaped(node, to: &out)
        out.append(contentsOf: Array("\",\"event\":".utf8))
        out.append(contentsOf: event)
        out.append(UInt8(ascii: "}"))
        return out
    }
}

/// A line of the query output read back: its tags and the range of the event's exact bytes.
public struct TaggedEventLine: Sendable, Hashable {
    public var cluster: String
    public var node: String
    /// Where the event's bytes are in the line.
    public var event: Range<Int>

    /// Reads `{"cluster":"…","node":"…","event":EVENT}` (members in any order); nil when the
    /// line is not such an object.
    public static func parse(_ line: [UInt8]) -> TaggedEventLine? {
        line.withUnsafeBufferPointer { buf -> TaggedEventLine? in
            guard let base = buf.baseAddress else { return nil }
            var scanner = JSONScanner(base: base, start: 0, end: buf.count, maxDepth: ScanLimits.default.maxDepth)
            var cluster: String?, node: String?, event: Range<Int>?
            do {
                try scanner.forEachMember(depth: 0) { (s: inout JSONScanner, key) throws(ScanError) -> Bool in
                    if s.keyEquals(key, "cluster") { cluster = try s.readStringOrNull(); return true }
                    if s.keyEquals(key, "node") { node = try s.readStringOrNull(); return true }
                    if s.keyEquals(key, "event") {
                        let start = s.index
                        try s.skipValue(depth: 1)
                        event = start..<s.index
                        return true
                    }
                    return false
                }
            } catch {
                return nil
            }
            guard let cluster, let node, let event else { return nil }
            return TaggedEventLine(cluster: cluster, node: node, event: event)
        }
    }
}
