/// Splits an `audit.k8s.io` `EventList` (what kube-apiserver's webhook
/// backend POSTs) into its items, keeping each item's exact bytes.
public enum EventListScanner {
    /// The byte ranges of `items[*]` in `bytes`. Each range holds one item
    /// exactly as it was sent. The list itself must be a JSON object whose
    /// `kind`, if present, is `EventList`.
    /// - Throws: ``ScanError`` when the body is not such an object.
    public static func items(_ bytes: UnsafeBufferPointer<UInt8>, limits: ScanLimits = .default) throws(ScanError) -> [Range<Int>] {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw ScanError(code: .invalidJSON, offset: 0, message: "empty body")
        }
        var s = JSONScanner(base: base, start: 0, end: bytes.count, maxDepth: limits.maxDepth)
        s.skipWhitespace()
        guard s.peek() == UInt8(ascii: "{") else {
            throw ScanError(code: .notAnObject, offset: s.index, message: "an EventList must be a JSON object")
        }
        var ranges: [Range<Int>] = []
        var kind: String?
        var sawItems = false
        try s.forEachMember(depth: 1) { (s: inout JSONScanner, key) throws(ScanError) -> Bool in
            if s.keyEquals(key, "kind") { kind = try s.readStringOrNull(); return true }
            if s.keyEquals(key, "items") {
                sawItems = true
                ranges.removeAll()
                if s.peek() == UInt8(ascii: "n") { try s.scanLiteral("null"); return true }
                try s.forEachElement(depth: 2) { (s: inout JSONScanner) throws(ScanError) in
                    let start = s.index
                    try s.skipValue(depth: 2)
                    ranges.append(start..<s.index)
                }
                return true
            }
            return false
        }
        s.skipWhitespace()
        guard s.atEnd else { throw ScanError(code: .invalidJSON, offset: s.index, message: "trailing data after the EventList") }
        if let kind, kind != "EventList" {
            throw ScanError(code: .notAnEvent, offset: 0, message: "object of kind '\(kind)', expected kind 'EventList'")
        }
        guard sawItems else { throw ScanError(code: .notAnEvent, offset: 0, message: "EventList has no items") }
        return ranges
    }

    /// Like ``items(_:limits:)`` for an array.
    public static func items(_ bytes: [UInt8], limits: ScanLimits = .default) throws(ScanError) -> [Range<Int>] {
        do {
            return try bytes.withUnsafeBufferPointer { try items($0, limits: limits) }
        } catch let error as ScanError {
            throw error
        } catch {
            throw ScanError(code: .invalidJSON, offset: 0, message: "\(error)")
        }
    }
}

extension EventListScanner {
    /// The events of a JSON document that is not JSON lines: a JSON array of events, an
    /// `EventList`, or a single (pretty-printed) event. Each range holds one item's bytes.
    /// - Throws: ``ScanError`` (with the byte offset) when the document is not valid JSON.
    public static func documentItems(_ bytes: [UInt8], limits: ScanLimits = .default) throws(ScanError) -> [Range<Int>] {
        do {
            return try bytes.withUnsafeBufferPointer { (buf) throws(ScanError) -> [Range<Int>] in
                guard let base = buf.baseAddress, buf.count > 0 else {
                    throw ScanError(code: .invalidJSON, offset: 0, message: "empty document")
                }
                var s = JSONScanner(base: base, start: 0, end: buf.count, maxDepth: limits.maxDepth)
                s.skipWhitespace()
                let first = s.peek()
                if first == UInt8(ascii: "[") {
                    var ranges: [Range<Int>] = []
                    try s.forEachElement(depth: 1) { (s: inout JSONScanner) throws(ScanError) in
                        let start = s.index
                        try s.skipValue(depth: 1)
                        ranges.append(start..<s.index)
                    }
                    s.skipWhitespace()
                    guard s.atEnd else { throw ScanError(code: .invalidJSON, offset: s.index, message: "trailing data after the array") }
                    return ranges
                }
                guard first == UInt8(ascii: "{") else {
                    throw ScanError(code: .notAnObject, offset: s.index, message: "a document must be a JSON object or array")
                }
                if let list = try? items(buf, limits: limits) { return list }
                let start = s.index
                try s.skipValue(depth: 0)
                let end = s.index
                s.skipWhitespace()
                guard s.atEnd else { throw ScanError(code: .invalidJSON, offset: s.index, message: "trailing data after the object") }
                return [start..<end]
            }
        }
    }
}

extension JSONText {
    /// `bytes` without the whitespace between JSON tokens (strings, numbers and member
    /// order unchanged), so that a pretty-printed event fits on one line.
    public static func compact(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var inString = false
        var escaped = false
        for b in bytes {
            if inString {
                out.append(b)
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch b {
            case 0x20, 0x09, 0x0A, 0x0D: continue
            case UInt8(ascii: "\""): inString = true; out.append(b)
            default: out.append(b)
            }
        }
        return out
    }
}
