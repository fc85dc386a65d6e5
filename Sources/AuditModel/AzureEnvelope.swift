/// Azure diagnostic-log envelopes, `{"records": [{"properties": {"log": EVENT}}, …]}`, where each
/// record's `properties.log` is the audit event as a JSON string (what AKS writes) or as an object.
public enum AzureEnvelope {
    /// The byte range of each record's `properties.log` value (a string token with its quotes, or
    /// an object), nil for a record without one. A lone record (an object with `properties` and no
    /// `records`) is one record; nil when `bytes` is neither.
    public static func logValues(_ bytes: UnsafeBufferPointer<UInt8>, limits: ScanLimits = .default) throws(ScanError) -> [Range<Int>?]? {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return nil }
        var s = JSONScanner(base: base, start: 0, end: bytes.count, maxDepth: limits.maxDepth)
        var found: [Range<Int>?]?
        try s.forEachMember(depth: 1) { (s: inout JSONScanner, key) throws(ScanError) -> Bool in
            guard s.keyEquals(key, "records"), s.peek() == UInt8(ascii: "[") else { return false }
            var values: [Range<Int>?] = []
            try s.forEachElement(depth: 2) { (s: inout JSONScanner) throws(ScanError) in
                values.append(try recordLog(&s))
            }
            found = values
            return true
        }
        if found == nil {
            var lone = JSONScanner(base: base, start: 0, end: bytes.count, maxDepth: limits.maxDepth)
            lone.skipWhitespace()
            if let log = try recordLog(&lone) { return [log] }
        }
        return found
    }

    /// Consumes one record and returns its `properties.log` range.
    static func recordLog(_ s: inout JSONScanner) throws(ScanError) -> Range<Int>? {
        guard s.peek() == UInt8(ascii: "{") else {
            try s.skipValue(depth: 3)
            return nil
        }
        var log: Range<Int>?
        try s.forEachMember(depth: 3) { (s: inout JSONScanner, key) throws(ScanError) -> Bool in
            guard s.keyEquals(key, "properties"), s.peek() == UInt8(ascii: "{") else { return false }
            try s.forEachMember(depth: 4) { (s: inout JSONScanner, key) throws(ScanError) -> Bool in
                guard s.keyEquals(key, "log") else { return false }
                let start = s.index
                try s.skipValue(depth: 4)
                log = start..<s.index
                return true
            }
            return true
        }
        return log
    }
}
