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
