import AuditModel
import Foundation

/// One JSON value as seen by a leaf test.
enum JSONValue {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
    case array([Any])
    case object([String: Any])

    @inline(__always)
    init(_ any: Any) {
        if let s = any as? String {
            self = .string(s)
        } else if let n = any as? NSNumber {
            // JSONSerialization gives booleans as NSNumber with objCType "c".
            if n.objCType.pointee == 0x63 { self = .bool(n.boolValue) } else { self = .number(n.doubleValue) }
        } else if let d = any as? [String: Any] {
            self = .object(d)
        } else if let a = any as? [Any] {
            self = .array(a)
        } else if let b = any as? Bool {
            self = .bool(b)
        } else {
            self = .null
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

/// A parsed audit event (JSONSerialization's tree) with the commonly read fields pulled out once.
///
/// Not Sendable (it holds Foundation's `Any` tree): make it where it is used.
public struct AuditEventView {
    let root: [String: Any]
    let objectRef: [String: Any]?
    let userInfo: [String: Any]?
    /// `verb` …, read once.
    public let stage: String?
    public let verb: String?
    public let resource: String?
    public let auditID: String?

    /// Parses one event from JSON bytes; nil when they are not a JSON object.
    public init?(bytes: [UInt8]) {
        let data = bytes.withUnsafeBufferPointer { Data(buffer: $0) }
        self.init(data: data)
    }

    /// Parses one event from JSON data; nil when it is not a JSON object.
    public init?(data: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]),
              let dict = object as? [String: Any]
        else { return nil }
        self.init(dictionary: dict)
    }

    /// Wraps an already-parsed JSON object (from `JSONSerialization`).
    public init(dictionary: [String: Any]) {
        root = dictionary
        objectRef = dictionary["objectRef"] as? [String: Any]
        userInfo = dictionary["user"] as? [String: Any]
        stage = dictionary["stage"] as? String
        verb = dictionary["verb"] as? String
        resource = objectRef?["resource"] as? String
        auditID = dictionary["auditID"] as? String
    }

    /// True when the object looks like an audit Event: it has a string `auditID`, or `kind: Event`
    /// with a `stage` (Falco's trace files have no `kind`).
    public var looksLikeAuditEvent: Bool {
        if auditID != nil { return true }
        return root["kind"] as? String == "Event" && stage != nil
    }

    /// The event's time: stageTimestamp, else requestReceivedTimestamp, else the legacy v1beta1 `timestamp`.
    public var timestamp: Date? {
        for key in ["stageTimestamp", "requestReceivedTimestamp", "timestamp"] {
            if let s = root[key] as? String, let d = parseRFC3339(s) { return d }
        }
        return nil
    }

    // MARK: field values

    private static let decisionKey = "authorization.k8s.io/decision"
    private static let reasonKey = "authorization.k8s.io/reason"

    private func metadataName(_ key: String) -> String? {
        ((root[key] as? [String: Any])?["metadata"] as? [String: Any])?["name"] as? String
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
            let start: Any?
            switch root {
            case .event: start = self.root
            case .objectRef: start = objectRef
            default: start = self.root[root.rawValue]
            }
            guard let start else { return false }
            return walk(start, steps[...], expandLists: expandLists, body)
        case .dotted(let parts):
            return walkDotted(root, parts[...], expandLists: expandLists, body)
        }
    }

    /// Sigma's resolution of a dotted name: at a mapping, the longest run of parts that is a key first
    /// (a literal key with dots, like an annotation's), then shorter runs; every resolution is tried
    /// until `body` returns true. A list before the last part fans out to its elements.
    private func walkDotted(_ value: Any, _ parts: ArraySlice<String>, expandLists: Bool, _ body: (JSONValue, Bool) -> Bool) -> Bool {
        guard let first = parts.first else { return terminal(value, expandLists: expandLists, body) }
        if let a = value as? [Any] {
            for element in a where walkDotted(element, parts, expandLists: expandLists, body) { return true }
            return false
        }
        guard let d = value as? [String: Any] else { return false }
        var end = parts.endIndex
        while end > parts.startIndex + 1 {
            if let next = d[parts[parts.startIndex..<end].joined(separator: ".")],
               walkDotted(next, parts[end...], expandLists: expandLists, body) {
                return true
            }
            end -= 1
        }
        guard let next = d[first] else { return false }
        return walkDotted(next, parts.dropFirst(), expandLists: expandLists, body)
    }

    private func walk(_ value: Any, _ steps: ArraySlice<Step>, expandLists: Bool, _ body: (JSONValue, Bool) -> Bool) -> Bool {
        guard let step = steps.first else {
            return terminal(value, expandLists: expandLists, body)
        }
        let rest = steps.dropFirst()
        switch step {
        case .key(let k):
            guard let d = value as? [String: Any], let next = d[k] else { return false }
            return walk(next, rest, expandLists: expandLists, body)
        case .index(let n):
            guard let a = value as? [Any], n < a.count else { return false }
            return walk(a[n], rest, expandLists: expandLists, body)
        case .each:
            if let a = value as? [Any] {
                for element in a where walk(element, rest, expandLists: expandLists, body) { return true }
            } else if let d = value as? [String: Any] {
                for element in d.values where walk(element, rest, expandLists: expandLists, body) { return true }
            }
            return false
        case .keys:
            guard let d = value as? [String: Any] else { return false }
            for key in d.keys where body(.string(key), false) { return true }
            return false
        }
    }

    typealias Step = EventField.Step

    @inline(__always)
    private func terminal(_ value: Any, expandLists: Bool, _ body: (JSONValue, Bool) -> Bool) -> Bool {
        let v = JSONValue(value)
        if case .null = v { return false }
        if expandLists, case .array(let a) = v {
            for element in a {
                let e = JSONValue(element)
                if case .null = e { continue }
                if body(e, true) { return true }
            }
            return false
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
        case .user: return string(userInfo?["username"] as? String, body)
        case .groups:
            guard let groups = userInfo?["groups"] else { return false }
            return terminal(groups, expandLists: expandLists, body)
        case .verb: return string(verb, body)
        case .resource: return string(resource, body)
        case .subresource: return string(objectRef?["subresource"] as? String, body)
        case .apiGroup:
            guard let objectRef else { return false }
            return string(objectRef["apiGroup"] as? String ?? "", body)
        case .apiVersion: return string(objectRef?["apiVersion"] as? String, body)
        case .namespace: return string(objectRef?["namespace"] as? String, body)
        case .name: return string(targetName, body)
        case .namespacedName: return string(namespacedName, body)
        case .code:
            guard let code = (root["responseStatus"] as? [String: Any])?["code"] else { return false }
            return terminal(code, expandLists: false, body)
        case .decision: return string((root["annotations"] as? [String: Any])?[Self.decisionKey] as? String, body)
        case .reason: return string((root["annotations"] as? [String: Any])?[Self.reasonKey] as? String, body)
        case .stage: return string(stage, body)
        case .userAgent: return string(root["userAgent"] as? String, body)
        case .sourceIP:
            guard let ips = root["sourceIPs"] else { return false }
            return terminal(ips, expandLists: expandLists, body)
        case .level: return string(root["level"] as? String, body)
        case .requestURI: return string(root["requestURI"] as? String, body)
        case .auditID: return string(auditID, body)
        case .impersonatedUser:
            return string((root["impersonatedUser"] as? [String: Any])?["username"] as? String, body)
        }
    }

    /// objectRef.name, else the request's or response's metadata.name.
    var targetName: String? {
        if let n = objectRef?["name"] as? String, !n.isEmpty { return n }
        return metadataName("requestObject") ?? metadataName("responseObject")
    }

    var namespacedName: String? {
        guard let name = targetName else { return nil }
        if let ns = objectRef?["namespace"] as? String, !ns.isEmpty { return ns + "/" + name }
        return name
    }

    /// The values of `field` as text, for templates and group keys (lists joined with ",").
    func render(_ field: EventField) -> String? {
        var parts: [String] = []
        _ = anyValue(field) { value, _ in
            switch value {
            case .object(let d):
                if let data = try? JSONSerialization.data(withJSONObject: d, options: [.sortedKeys]),
                   let s = String(data: data, encoding: .utf8) {
                    parts.append(s)
                }
            case .array(let a):
                if let data = try? JSONSerialization.data(withJSONObject: a, options: [.sortedKeys]),
                   let s = String(data: data, encoding: .utf8) {
                    parts.append(s)
                }
            default:
                if let t = value.text { parts.append(t) }
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
