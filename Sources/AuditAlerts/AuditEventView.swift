import AuditModel
import Foundation

/// One JSON value as seen by a leaf test. Lists and mappings are nodes of the event's document.
enum JSONValue {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
    case array(Int)
    case object(Int)

    @inline(__always)
    init(_ doc: JSONDocument, _ i: Int) {
        switch doc.kind(i) {
        case .string: self = .string(doc.string(i))
        case .number: self = doc.number(i).map { .number($0) } ?? .null
        case .true: self = .bool(true)
        case .false: self = .bool(false)
        case .null: self = .null
        case .array: self = .array(i)
        case .object: self = .object(i)
        }
    }

    /// The text a scalar compares as; nil for null, lists and mappings.
    var text: String? {
        switch self {
        case .string(let s): s
        case .number(let d): canonicalNumber(d)
        case .bool(let b): b ? "true" : "false"
        default: nil
        }
    }

    var number: Double? {
        switch self {
        case .number(let d): d
        case .string(let s): Double(s)
        default: nil
        }
    }
}

/// `403`, `1.5`: integers without a fraction.
func canonicalNumber(_ d: Double) -> String {
    if d.rounded() == d, abs(d) < 1e15 { return String(Int64(d)) }
    return String(d)
}

/// A parsed audit event (a `JSONDocument` over its bytes) with the commonly read fields pulled out once.
public struct AuditEventView: Sendable {
    let doc: JSONDocument
    let objectRef: Int?
    let userInfo: Int?
    /// `verb` …, read once.
    public let stage: String?
    public let verb: String?
    public let resource: String?
    public let auditID: String?

    /// Parses one event from JSON bytes; nil when they are not a JSON object.
    public init?(bytes: [UInt8]) {
        guard let doc = try? JSONDocument(bytes: bytes), doc.kind(doc.root) == .object else { return nil }
        self.init(document: doc)
    }

    /// Parses one event from JSON data; nil when it is not a JSON object.
    public init?(data: Data) {
        self.init(bytes: [UInt8](data))
    }

    /// Wraps an already-parsed JSON object (from `JSONSerialization`): written out and read again.
    public init(dictionary: [String: Any]) {
        let data = (try? JSONSerialization.data(withJSONObject: dictionary, options: [])) ?? Data("{}".utf8)
        let doc = (try? JSONDocument(bytes: [UInt8](data))).flatMap { $0.kind($0.root) == .object ? $0 : nil }
        self.init(document: doc ?? .emptyObject)
    }

    init(document doc: JSONDocument) {
        self.doc = doc
        let root = doc.root
        objectRef = doc.member(root, "objectRef").flatMap { doc.kind($0) == .object ? $0 : nil }
        userInfo = doc.member(root, "user").flatMap { doc.kind($0) == .object ? $0 : nil }
        stage = doc.stringValue(doc.member(root, "stage"))
        verb = doc.stringValue(doc.member(root, "verb"))
        resource = objectRef.flatMap { doc.stringValue(doc.member($0, "resource")) }
        auditID = doc.stringValue(doc.member(root, "auditID"))
    }

    /// A string member of the root.
    private func rootString(_ key: String) -> String? { doc.stringValue(doc.member(doc.root, key)) }

    /// A string member of an object member of the root.
    private func nestedString(_ outer: String, _ key: String) -> String? {
        guard let o = doc.member(doc.root, outer) else { return nil }
        return doc.stringValue(doc.member(o, key))
    }

    /// True when the object looks like an audit Event: it has a string `auditID`, or `kind: Event`
    /// with a `stage` (Falco's trace files have no `kind`).
    public var looksLikeAuditEvent: Bool {
        if auditID != nil { return true }
        return rootString("kind") == "Event" && stage != nil
    }

    /// The event's time: stageTimestamp, else requestReceivedTimestamp, else the legacy v1beta1 `timestamp`.
    public var timestamp: Date? {
        for key in ["stageTimestamp", "requestReceivedTimestamp", "timestamp"] {
            if let s = rootString(key), let d = parseRFC3339(s) { return d }
        }
        return nil
    }

    // MARK: field values

    private static let decisionKey = "authorization.k8s.io/decision"
    private static let reasonKey = "authorization.k8s.io/reason"

    private func metadataName(_ key: String) -> String? {
        guard let o = doc.member(doc.root, key), let m = doc.member(o, "metadata") else { return nil }
        return doc.stringValue(doc.member(m, "name"))
    }

    private func objectRefString(_ key: String) -> String? {
        objectRef.flatMap { doc.stringValue(doc.member($0, key)) }
    }

    /// Calls `body` with every value of `field` until it returns true; returns whether it did.
    /// `fromList` is true for elements of a list the field ends in (not for `[*]` fan-out).
    /// With `expandLists: false`, a terminal list is passed whole (for `exists`).
    @inline(__always)
    func anyValue(_ field: EventField, expandLists: Bool = true, _ body: (JSONValue, _ fromList: Bool) -> Bool) -> Bool {
        switch field.kind {
        case .named(let named):
            return anyNamed(named, expandLists: expandLists, body)
        case .path(let root, let steps):
            let start: Int?
            switch root {
            case .event: start = doc.root
            case .objectRef: start = objectRef
            default: start = doc.member(doc.root, root.rawValue)
            }
            guard let start else { return false }
            return walk(start, steps[...], expandLists: expandLists, body)
        case .dotted(let parts):
            return walkDotted(doc.root, parts[...], expandLists: expandLists, body)
        }
    }

    /// Sigma's resolution of a dotted name: at a mapping, the longest run of parts that is a key first
    /// (a literal key with dots, like an annotation's), then shorter runs; every resolution is tried
    /// until `body` returns true. A list before the last part fans out to its elements.
    private func walkDotted(_ value: Int, _ parts: ArraySlice<String>, expandLists: Bool, _ body: (JSONValue, Bool) -> Bool) -> Bool {
        guard let first = parts.first else { return terminal(value, expandLists: expandLists, body) }
        switch doc.kind(value) {
        case .array:
            return doc.anyElement(value) { walkDotted($0, parts, expandLists: expandLists, body) }
        case .object:
            var end = parts.endIndex
            while end > parts.startIndex + 1 {
                if let next = doc.member(value, parts[parts.startIndex..<end].joined(separator: ".")),
                   walkDotted(next, parts[end...], expandLists: expandLists, body) {
                    return true
                }
                end -= 1
            }
            guard let next = doc.member(value, first) else { return false }
            return walkDotted(next, parts.dropFirst(), expandLists: expandLists, body)
        default:
            return false
        }
    }

    private func walk(_ value: Int, _ steps: ArraySlice<Step>, expandLists: Bool, _ body: (JSONValue, Bool) -> Bool) -> Bool {
        guard let step = steps.first else {
            return terminal(value, expandLists: expandLists, body)
        }
        let rest = steps.dropFirst()
        switch step {
        case .key(let k):
            guard let next = doc.member(value, k) else { return false }
            return walk(next, rest, expandLists: expandLists, body)
        case .index(let n):
            guard let next = doc.element(value, n) else { return false }
            return walk(next, rest, expandLists: expandLists, body)
        case .each:
            if doc.kind(value) == .array {
                return doc.anyElement(value) { walk($0, rest, expandLists: expandLists, body) }
            }
            return doc.anyMember(value) { _, v in walk(v, rest, expandLists: expandLists, body) }
        case .keys:
            return doc.anyMember(value) { k, _ in body(.string(doc.string(k)), false) }
        }
    }

    typealias Step = EventField.Step

    @inline(__always)
    private func terminal(_ value: Int, expandLists: Bool, _ body: (JSONValue, Bool) -> Bool) -> Bool {
        let v = JSONValue(doc, value)
        if case .null = v { return false }
        if expandLists, case .array(let a) = v {
            return doc.anyElement(a) { element in
                let e = JSONValue(doc, element)
                if case .null = e { return false }
                return body(e, true)
            }
        }
        return body(v, false)
    }

    @inline(__always)
    private func string(_ s: String?, _ body: (JSONValue, Bool) -> Bool) -> Bool {
        guard let s else { return false }
        return body(.string(s), false)
    }

    private func anyNamed(_ named: EventField.Named, expandLists: Bool, _ body: (JSONValue, Bool) -> Bool) -> Bool {
        switch named {
        case .user: return string(userInfo.flatMap { doc.stringValue(doc.member($0, "username")) }, body)
        case .groups:
            guard let groups = userInfo.flatMap({ doc.member($0, "groups") }) else { return false }
            return terminal(groups, expandLists: expandLists, body)
        case .verb: return string(verb, body)
        case .resource: return string(resource, body)
        case .subresource: return string(objectRefString("subresource"), body)
        case .apiGroup:
            guard objectRef != nil else { return false }
            return string(objectRefString("apiGroup") ?? "", body)
        case .apiVersion: return string(objectRefString("apiVersion"), body)
        case .namespace: return string(objectRefString("namespace"), body)
        case .name: return string(targetName, body)
        case .namespacedName: return string(namespacedName, body)
        case .code:
            guard let status = doc.member(doc.root, "responseStatus"), let code = doc.member(status, "code") else { return false }
            return terminal(code, expandLists: false, body)
        case .decision: return string(nestedString("annotations", Self.decisionKey), body)
        case .reason: return string(nestedString("annotations", Self.reasonKey), body)
        case .stage: return string(stage, body)
        case .userAgent: return string(rootString("userAgent"), body)
        case .sourceIP:
            guard let ips = doc.member(doc.root, "sourceIPs") else { return false }
            return terminal(ips, expandLists: expandLists, body)
        case .level: return string(rootString("level"), body)
        case .requestURI: return string(rootString("requestURI"), body)
        case .auditID: return string(auditID, body)
        case .impersonatedUser: return string(nestedString("impersonatedUser", "username"), body)
        }
    }

    /// objectRef.name, else the request's or response's metadata.name.
    var targetName: String? {
        if let n = objectRefString("name"), !n.isEmpty { return n }
        return metadataName("requestObject") ?? metadataName("responseObject")
    }

    var namespacedName: String? {
        guard let name = targetName else { return nil }
        if let ns = objectRefString("namespace"), !ns.isEmpty { return ns + "/" + name }
        return name
    }

    /// The values of `field` as text, for templates and group keys (lists joined with ",";
    /// a mapping or list inside as compact JSON with sorted keys).
    func render(_ field: EventField) -> String? {
        var parts: [String] = []
        _ = anyValue(field) { value, _ in
            switch value {
            case .object(let i), .array(let i): parts.append(doc.canonicalJSON(i))
            default: if let t = value.text { parts.append(t) }
            }
            return false
        }
        return parts.isEmpty ? nil : parts.joined(separator: ",")
    }
}

/// Parses `2018-10-26T13:38:34.867116Z` and `…+02:00` (RFC 3339) without a formatter.
func parseRFC3339(_ s: String) -> Date? {
    Timestamp(rfc3339: s).map { Date(timeIntervalSince1970: Double($0.microseconds) / 1_000_000) }
}
