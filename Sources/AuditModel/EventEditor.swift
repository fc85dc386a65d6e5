/// Byte-level edits an audit Policy makes to an event: removing the request
/// and response bodies, removing `metadata.managedFields` from them, and
/// setting `level`. Members that are not edited keep their exact bytes; the
/// edited object is written compactly (`{"a":…,"b":…}`), as the apiserver writes it.
public enum EventEditor {
    /// What to change.
    public struct Edit: Sendable, Hashable {
        public var removeRequestObject: Bool
        public var removeResponseObject: Bool
        public var omitManagedFields: Bool
        /// New value of `level`, or nil to keep it.
        public var level: String?

        public init(removeRequestObject: Bool = false, removeResponseObject: Bool = false,
                    omitManagedFields: Bool = false, level: String? = nil) {
            self.removeRequestObject = removeRequestObject
            self.removeResponseObject = removeResponseObject
            self.omitManagedFields = omitManagedFields
            self.level = level
        }

        public var isEmpty: Bool { !removeRequestObject && !removeResponseObject && !omitManagedFields && level == nil }
    }

    /// Applies `edit` to one event object.
    public static func apply(_ edit: Edit, to bytes: [UInt8], limits: ScanLimits = .default) throws(ScanError) -> [UInt8] {
        if edit.isEmpty { return bytes }
        return try bytes.withUnsafeBufferPointer { buf throws(ScanError) -> [UInt8] in try apply(edit, to: buf, limits: limits) }
    }

    /// ``apply(_:to:limits:)`` over borrowed bytes.
    public static func apply(_ edit: Edit, to buf: UnsafeBufferPointer<UInt8>, limits: ScanLimits = .default) throws(ScanError) -> [UInt8] {
        if edit.isEmpty { return Array(buf) }
        guard let base = buf.baseAddress else { throw ScanError(code: .invalidJSON, offset: 0, message: "empty input") }
        var s = JSONScanner(base: base, start: 0, end: buf.count, maxDepth: limits.maxDepth)
        var out: [UInt8] = []
        out.reserveCapacity(buf.count)
        try editTop(&s, edit, &out)
        return out
    }

    private static func copy(_ s: JSONScanner, _ range: Range<Int>, _ out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: s.base + range.lowerBound, count: range.count))
    }

    private static func editTop(_ s: inout JSONScanner, _ edit: Edit, _ out: inout [UInt8]) throws(ScanError) {
        out.append(UInt8(ascii: "{"))
        var first = true
        try s.forEachMember(depth: 1) { (s: inout JSONScanner, key) throws(ScanError) -> Bool in
            let keyRange = (key.start - 1)..<(key.end + 1)
            let valueStart = s.index
            let isRequest = s.keyEquals(key, "requestObject")
            let isResponse = s.keyEquals(key, "responseObject")
            if (isRequest && edit.removeRequestObject) || (isResponse && edit.removeResponseObject) {
                try s.skipValue(depth: 1)
                return true
            }
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            copy(s, keyRange, &out)
            out.append(UInt8(ascii: ":"))
            if let level = edit.level, s.keyEquals(key, "level") {
                try s.skipValue(depth: 1)
                out.append(contentsOf: Array(JSONText.quote(level).utf8))
                return true
            }
            if edit.omitManagedFields && (isRequest || isResponse) && s.peek() == UInt8(ascii: "{") {
                try stripManagedFields(&s, depth: 2, &out)
                return true
            }
            try s.skipValue(depth: 1)
            copy(s, valueStart..<s.index, &out)
            return true
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Copies an object, dropping `metadata.managedFields` (and recursing into `items[*]` of lists).
    private static func stripManagedFields(_ s: inout JSONScanner, depth: Int, _ out: inout [UInt8]) throws(ScanError) {
        out.append(UInt8(ascii: "{"))
        var first = true
        try s.forEachMember(depth: depth) { (s: inout JSONScanner, key) throws(ScanError) -> Bool in
            let keyRange = (key.start - 1)..<(key.end + 1)
            let valueStart = s.index
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            copy(s, keyRange, &out)
            out.append(UInt8(ascii: ":"))
            if s.keyEquals(key, "metadata") && s.peek() == UInt8(ascii: "{") {
                out.append(UInt8(ascii: "{"))
                var firstInner = true
                try s.forEachMember(depth: depth + 1) { (s: inout JSONScanner, inner) throws(ScanError) -> Bool in
                    let innerStart = s.index
                    try s.skipValue(depth: depth + 1)
                    if s.keyEquals(inner, "managedFields") { return true }
                    if !firstInner { out.append(UInt8(ascii: ",")) }
                    firstInner = false
                    copy(s, (inner.start - 1)..<(inner.end + 1), &out)
                    out.append(UInt8(ascii: ":"))
                    copy(s, innerStart..<s.index, &out)
                    return true
                }
                out.append(UInt8(ascii: "}"))
                return true
            }
            if s.keyEquals(key, "items") && s.peek() == UInt8(ascii: "[") {
                out.append(UInt8(ascii: "["))
                var firstItem = true
                try s.forEachElement(depth: depth + 1) { (s: inout JSONScanner) throws(ScanError) in
                    if !firstItem { out.append(UInt8(ascii: ",")) }
                    firstItem = false
                    if s.peek() == UInt8(ascii: "{") {
                        try stripManagedFields(&s, depth: depth + 2, &out)
                    } else {
                        let start = s.index
                        try s.skipValue(depth: depth + 1)
                        copy(s, start..<s.index, &out)
                    }
                }
                out.append(UInt8(ascii: "]"))
                return true
            }
            try s.skipValue(depth: depth)
            copy(s, valueStart..<s.index, &out)
            return true
        }
        out.append(UInt8(ascii: "}"))
    }
}
