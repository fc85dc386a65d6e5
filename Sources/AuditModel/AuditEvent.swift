/// The fields of an `audit.k8s.io` Event that auditship needs, read from the
/// raw bytes of one event without decoding the rest.
///
/// Reads `audit.k8s.io/v1` and `v1beta1` events as kube-apiserver's log and
/// webhook backends write them. Field order does not matter; escapes and
/// unicode are decoded; nested objects and strings containing braces are
/// skipped correctly. When a key appears twice the last one wins, as in Go's
/// `encoding/json`, which is what every other consumer of the log reads.
public struct EventSummary: Sendable, Hashable {
    public var apiVersion: String = ""
    public var auditID: String = ""
    public var stage: String = ""
    public var level: String = ""
    public var verb: String = ""
    public var requestURI: String = ""
    /// `user.username`; nil when the event has no user.
    public var username: String?
    public var groups: [String] = []
    public var userAgent: String = ""
    public var sourceIPs: [String] = []
    /// True when the event has an `objectRef` (a resource request).
    public var hasObjectRef = false
    public var apiGroup: String = ""
    public var apiVersionOfObject: String = ""
    public var resource: String = ""
    public var subresource: String = ""
    public var namespace: String = ""
    public var name: String = ""
    /// `responseStatus.code`.
    public var responseCode: Int?
    public var requestReceivedTimestamp: Timestamp?
    public var stageTimestamp: Timestamp?
    /// v1beta1's `timestamp`.
    public var legacyTimestamp: Timestamp?
    /// `metadata.creationTimestamp` (v1beta1).
    public var creationTimestamp: Timestamp?
    /// Byte ranges of the `requestObject` / `responseObject` members (from the key's quote to the end of the value).
    public var requestObjectMember: Range<Int>?
    public var responseObjectMember: Range<Int>?

    public init() {}

    /// The timestamp events are ordered by: stageTimestamp, else v1beta1's
    /// timestamp, else metadata.creationTimestamp, else requestReceivedTimestamp.
    public var orderTimestamp: Timestamp {
        stageTimestamp ?? legacyTimestamp ?? creationTimestamp ?? requestReceivedTimestamp ?? Timestamp(microseconds: 0)
    }
}

/// Limits applied while scanning.
public struct ScanLimits: Sendable, Hashable {
    /// Deepest nesting of objects and arrays accepted.
    public var maxDepth: Int
    public init(maxDepth: Int = 256) { self.maxDepth = maxDepth }
    public static let `default` = ScanLimits()
}

/// Reads the fields of audit events from raw bytes.
public enum EventScanner {
    /// Scans one event (a JSON object, optionally surrounded by whitespace).
    /// - Throws: ``ScanError`` naming what is wrong and at which byte.
    public static func scan(_ bytes: UnsafeBufferPointer<UInt8>, limits: ScanLimits = .default) throws(ScanError) -> EventSummary {
        do {
            return try scanFields(bytes, limits: limits, materialize: true)
        } catch where error.code == .badField {
            // A field with the wrong type stops the scan where it is; if the line is also broken
            // further on, say that (the scanner must agree with any JSON parser on what is JSON).
            try validateJSON(bytes, limits: limits)
            throw error
        }
    }

    /// Accepts and refuses exactly what ``scan(_:limits:)`` does, with the same error, but makes
    /// no strings of the fields' values: for a reader that needs to know an event is well formed,
    /// not what it says (the agent without a policy).
    public static func validate(_ bytes: UnsafeBufferPointer<UInt8>, limits: ScanLimits = .default) throws(ScanError) {
        do {
            _ = try scanFields(bytes, limits: limits, materialize: false)
        } catch where error.code == .badField {
            try validateJSON(bytes, limits: limits)
            throw error
        }
    }

    /// A string member's value, or nil; with `materialize` false it is only checked (and nil).
    @inline(__always)
    private static func text(_ s: inout JSONScanner, _ materialize: Bool) throws(ScanError) -> String? {
        if materialize { return try s.readStringOrNull() }
        _ = try s.skipStringOrNull()
        return nil
    }

    private static func scanFields(_ bytes: UnsafeBufferPointer<UInt8>, limits: ScanLimits, materialize: Bool) throws(ScanError) -> EventSummary {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw ScanError(code: .invalidJSON, offset: 0, message: "empty input")
        }
        var s = JSONScanner(base: base, start: 0, end: bytes.count, maxDepth: limits.maxDepth)
        s.skipWhitespace()
        guard let first = s.peek() else { throw ScanError(code: .invalidJSON, offset: 0, message: "blank line") }
        guard first == UInt8(ascii: "{") else {
            // Tell "valid JSON but not an object" apart from garbage.
            var probe = s
            if (try? probe.skipValue(depth: 0)) != nil, { probe.skipWhitespace(); return probe.atEnd }() {
                throw ScanError(code: .notAnObject, offset: s.index, message: "a JSON value that is not an object")
            }
            throw ScanError(code: .invalidJSON, offset: s.index, message: "expected '{' at the start of an event, found \(s.describe(first))")
        }
        var e = EventSummary()
        var kind: String?
        // Without strings: whether the last auditID member was a non-empty string.
        var hasAuditID = false
        try s.forEachMember(depth: 1) { (s: inout JSONScanner, key) throws(ScanError) -> Bool in
            let keyStart = key.start - 1
            if s.keyEquals(key, "auditID") {
                if materialize { e.auditID = try s.readStringOrNull() ?? "" } else { hasAuditID = try s.skipStringOrNull() > 0 }
                return true
            }
            if s.keyEquals(key, "stage") { e.stage = try text(&s, materialize) ?? ""; return true }
            if s.keyEquals(key, "level") { e.level = try text(&s, materialize) ?? ""; return true }
            if s.keyEquals(key, "verb") { e.verb = try text(&s, materialize) ?? ""; return true }
            if s.keyEquals(key, "requestURI") { e.requestURI = try text(&s, materialize) ?? ""; return true }
            if s.keyEquals(key, "userAgent") { e.userAgent = try text(&s, materialize) ?? ""; return true }
            if s.keyEquals(key, "apiVersion") { e.apiVersion = try text(&s, materialize) ?? ""; return true }
            if s.keyEquals(key, "kind") { kind = try s.readStringOrNull(); return true }
            if s.keyEquals(key, "stageTimestamp") { e.stageTimestamp = try readTime(&s, "stageTimestamp"); return true }
            if s.keyEquals(key, "requestReceivedTimestamp") { e.requestReceivedTimestamp = try readTime(&s, "requestReceivedTimestamp"); return true }
            if s.keyEquals(key, "timestamp") { e.legacyTimestamp = try readTime(&s, "timestamp"); return true }
            if s.keyEquals(key, "sourceIPs") { e.sourceIPs = try readStringArray(&s, depth: 2, materialize); return true }
            if s.keyEquals(key, "user") {
                if try skipNull(&s) { e.username = nil; e.groups = []; return true }
                try s.forEachMember(depth: 2) { (s: inout JSONScanner, key) throws(ScanError) -> Bool in
                    if s.keyEquals(key, "username") { e.username = try text(&s, materialize); return true }
                    if s.keyEquals(key, "groups") { e.groups = try readStringArray(&s, depth: 3, materialize); return true }
                    return false
                }
                return true
            }
            if s.keyEquals(key, "objectRef") {
                if try skipNull(&s) { e.hasObjectRef = false; return true }
                e.hasObjectRef = true
                try s.forEachMember(depth: 2) { (s: inout JSONScanner, key) throws(ScanError) -> Bool in
                    if s.keyEquals(key, "resource") { e.resource = try text(&s, materialize) ?? ""; return true }
                    if s.keyEquals(key, "namespace") { e.namespace = try text(&s, materialize) ?? ""; return true }
                    if s.keyEquals(key, "name") { e.name = try text(&s, materialize) ?? ""; return true }
                    if s.keyEquals(key, "apiGroup") { e.apiGroup = try text(&s, materialize) ?? ""; return true }
                    if s.keyEquals(key, "apiVersion") { e.apiVersionOfObject = try text(&s, materialize) ?? ""; return true }
                    if s.keyEquals(key, "subresource") { e.subresource = try text(&s, materialize) ?? ""; return true }
                    return false
                }
                return true
            }
            if s.keyEquals(key, "responseStatus") {
                if try skipNull(&s) { return true }
                try s.forEachMember(depth: 2) { (s: inout JSONScanner, key) throws(ScanError) -> Bool in
                    if s.keyEquals(key, "code") {
                        guard let c = s.peek(), c == UInt8(ascii: "-") || (c >= 48 && c <= 57) else { return false }
                        let r = try s.scanNumber()
                        e.responseCode = parseInt(s.base, r)
                        return true
                    }
                    return false
                }
                return true
            }
            if s.keyEquals(key, "metadata") {
                if try skipNull(&s) { return true }
                try s.forEachMember(depth: 2) { (s: inout JSONScanner, key) throws(ScanError) -> Bool in
                    if s.keyEquals(key, "creationTimestamp") { e.creationTimestamp = try readTime(&s, "metadata.creationTimestamp"); return true }
                    return false
                }
                return true
            }
            if s.keyEquals(key, "requestObject") {
                try s.skipValue(depth: 1)
                e.requestObjectMember = keyStart..<s.index
                return true
            }
            if s.keyEquals(key, "responseObject") {
                try s.skipValue(depth: 1)
                e.responseObjectMember = keyStart..<s.index
                return true
            }
            return false
        }
        s.skipWhitespace()
        guard s.atEnd else {
            throw ScanError(code: .invalidJSON, offset: s.index, message: "unexpected \(s.describe(s.base[s.index])) after the end of the event object")
        }
        if let kind, kind != "Event" {
            throw ScanError(code: .notAnEvent, offset: 0, message: "object of kind '\(kind)', expected kind 'Event'")
        }
        guard materialize ? !e.auditID.isEmpty : hasAuditID else {
            throw ScanError(code: .notAnEvent, offset: 0, message: "object has no auditID: not an audit event")
        }
        return e
    }

    /// Scans one event held in an array.
    public static func scan(_ bytes: [UInt8], limits: ScanLimits = .default) throws(ScanError) -> EventSummary {
        do {
            return try bytes.withUnsafeBufferPointer { try scan($0, limits: limits) }
        } catch let error as ScanError {
            throw error
        } catch {
            throw ScanError(code: .invalidJSON, offset: 0, message: "\(error)")
        }
    }

    /// Checks that the bytes are exactly one JSON value with nesting within the limit.
    public static func validateJSON(_ bytes: UnsafeBufferPointer<UInt8>, limits: ScanLimits = .default) throws(ScanError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw ScanError(code: .invalidJSON, offset: 0, message: "empty input")
        }
        var s = JSONScanner(base: base, start: 0, end: bytes.count, maxDepth: limits.maxDepth)
        try s.skipValue(depth: 0)
        s.skipWhitespace()
        guard s.atEnd else { throw ScanError(code: .invalidJSON, offset: s.index, message: "trailing data after the JSON value") }
    }

    private static func skipNull(_ s: inout JSONScanner) throws(ScanError) -> Bool {
        if s.peek() == UInt8(ascii: "n") { try s.scanLiteral("null"); return true }
        return false
    }

    private static func readTime(_ s: inout JSONScanner, _ field: String) throws(ScanError) -> Timestamp? {
        guard s.peek() == UInt8(ascii: "\"") else {
            if try skipNull(&s) { return nil }
            throw s.error(.badField, "\(field) is not a string")
        }
        let at = s.index
        let token = try s.scanString()
        let raw = UnsafeBufferPointer(start: s.base + token.start, count: token.end - token.start)
        if token.hasEscapes {
            var text = s.decode(token)
            if let t = Timestamp(rfc3339: text) { return t }
            text = ""
        } else if let t = Timestamp.parse(raw) {
            return t
        }
        throw s.error(.badField, "\(field) is not an RFC 3339 time", at: at)
    }

    private static func readStringArray(_ s: inout JSONScanner, depth: Int, _ materialize: Bool) throws(ScanError) -> [String] {
        if try skipNull(&s) { return [] }
        guard s.peek() == UInt8(ascii: "[") else { try s.skipValue(depth: depth); return [] }
        var out: [String] = []
        try s.forEachElement(depth: depth) { (s: inout JSONScanner) throws(ScanError) in
            if let v = try text(&s, materialize) { out.append(v) }
        }
        return out
    }

    private static func parseInt(_ base: UnsafePointer<UInt8>, _ r: Range<Int>) -> Int? {
        var v = 0
        var negative = false
        for i in r {
            let c = base[i]
            if c == UInt8(ascii: "-") { negative = true; continue }
            guard c >= 48 && c <= 57 else { return nil }  // fraction or exponent: not an integer code
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int(c - 48))
            if o1 || o2 { return nil }
            v = a
        }
        return negative ? -v : v
    }
}
