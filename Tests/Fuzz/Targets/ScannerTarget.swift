import AuditModel
import Foundation

/// The event line scanner (`EventScanner.scan`), the agent's and the aggregator's hot path.
///
/// Properties, for any input:
/// - it reads nothing past the line: scanning the bytes in an exactly sized buffer and as a
///   slice of a longer buffer whose tail would change the answer gives the same result
///   (address sanitizer catches a read past the exact buffer);
/// - it agrees with Foundation's `JSONSerialization` on whether the line is a JSON object;
/// - `EventScanner.validate` accepts and refuses the same lines with the same errors;
/// and for an event built from the input and written twice (members in opposite order, other
/// escapes and whitespace), both writings give the fields the event was built with.
enum ScannerTarget {
    static let name = "scanner"
    static let target = FuzzTarget(name: name, summary: "event line scanner (EventScanner.scan)", maxLength: 8192) { data throws(PropertyViolation) in
        try checkBounds(data)
        try checkValidate(data)
        try checkAgreement(data)
        try checkBuiltEvent(data)
    }

    typealias Outcome = Result<EventSummary, ScanError>

    static func scan(_ bytes: UnsafeBufferPointer<UInt8>) -> Outcome {
        do throws(ScanError) { return .success(try EventScanner.scan(bytes)) } catch { return .failure(error) }
    }

    static func checkBounds(_ data: [UInt8]) throws(PropertyViolation) {
        let exact = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(data.count, 1))
        defer { exact.deallocate() }
        _ = exact.initialize(from: data)
        let a = scan(UnsafeBufferPointer(rebasing: exact[0..<data.count]))
        // A tail that would extend a string, an object or a number if it were read.
        let padded = data + Array("0\"}]} ,\"x\":1}".utf8)
        let b = padded.withUnsafeBufferPointer { scan(UnsafeBufferPointer(rebasing: $0[0..<data.count])) }
        try require(a == b, name, "scanning a slice of a longer buffer gave \(b), the exact bytes \(a)")
    }

    /// `validate` (no strings made) accepts and refuses what `scan` does, with the same error.
    static func checkValidate(_ data: [UInt8]) throws(PropertyViolation) {
        let scanned = data.withUnsafeBufferPointer { scan($0) }
        let validated: Result<Bool, ScanError> = data.withUnsafeBufferPointer { b in
            do throws(ScanError) { try EventScanner.validate(b); return .success(true) } catch { return .failure(error) }
        }
        switch (scanned, validated) {
        case (.success, .success): return
        case (.failure(let a), .failure(let b)):
            try require(a == b, name, "validate refused with \(b), scan with \(a)")
        default:
            try require(false, name, "scan gave \(scanned), validate \(validated)")
        }
    }

    static func checkAgreement(_ data: [UInt8]) throws(PropertyViolation) {
        // Foundation guesses UTF-16/32 from NUL bytes and byte-order marks; the scanner reads UTF-8 only.
        if data.contains(0) || data.starts(with: [0xEF, 0xBB, 0xBF]) || data.starts(with: [0xFE, 0xFF]) || data.starts(with: [0xFF, 0xFE]) { return }
        let ours = data.withUnsafeBufferPointer { scan($0) }
        let theirs = try? JSONSerialization.jsonObject(with: Data(data), options: [.fragmentsAllowed])
        let foundationObject = theirs is [String: Any]
        switch ours {
        case .success:
            try require(foundationObject, name, "the scanner accepted an event that JSONSerialization does not read as a JSON object")
        case .failure(let e):
            switch e.code {
            case .notAnEvent, .badField:
                try require(foundationObject, name, "the scanner read a JSON object (\(e.code.rawValue)) that JSONSerialization does not: \(e)")
            case .notAnObject:
                try require(theirs != nil && !foundationObject, name, "the scanner called it valid JSON but not an object; JSONSerialization: \(theirs.map { "\(type(of: $0))" } ?? "invalid")")
            case .invalidJSON:
                // Foundation accepts a comma before `}` or `]`; RFC 8259 (and Go, which writes these
                // events) does not, and neither does the scanner.
                try require(!foundationObject || hasTrailingComma(data), name, "the scanner refused as invalid JSON an object JSONSerialization reads: \(e)")
            case .tooDeep, .tooLarge:
                break
            }
        }
    }

    /// True when a `,` outside strings is followed (after whitespace) by `}` or `]`.
    static func hasTrailingComma(_ data: [UInt8]) -> Bool {
        var inString = false, escaped = false, afterComma = false
        for b in data {
            if inString {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch b {
            case UInt8(ascii: "\""): inString = true; afterComma = false
            case UInt8(ascii: ","): afterComma = true
            case UInt8(ascii: "}"), UInt8(ascii: "]"): if afterComma { return true }
            case 0x20, 0x09, 0x0A, 0x0D: break
            default: afterComma = false
            }
        }
        return false
    }

    static func checkBuiltEvent(_ data: [UInt8]) throws(PropertyViolation) {
        var input = FuzzInput(data)
        let (value, expected) = buildEvent(&input)
        var w1 = JSONWriter(), w2 = JSONWriter()
        var choices1 = FuzzInput(data.reversed()), choices2 = FuzzInput(data)
        w1.space(&choices1)
        value.write(&w1, &choices1, reorder: false)
        w1.space(&choices1)
        value.write(&w2, &choices2, reorder: true)
        let first = w1.out.withUnsafeBufferPointer { scan($0) }
        let second = w2.out.withUnsafeBufferPointer { scan($0) }
        func comparable(_ o: Outcome) -> Built {
            switch o {
            case .success(var s):
                s.requestObjectMember = nil
                s.responseObjectMember = nil
                return .event(s)
            case .failure(let e): return .refused(e.code)
            }
        }
        try require(comparable(first) == comparable(second), name, "members in another order gave other fields: \(first) vs \(second)")
        try require(comparable(first) == expected, name, "the built event scanned as \(first), expected \(expected)")
        if case .success(let s) = first {
            // A member's range holds exactly `"key": value`: wrapped in braces it is an object of that one key.
            for (key, range) in [("requestObject", s.requestObjectMember), ("responseObject", s.responseObjectMember)] {
                guard let range else { continue }
                let wrapped = Data([UInt8(ascii: "{")] + Array(w1.out[range]) + [UInt8(ascii: "}")])
                let object = (try? JSONSerialization.jsonObject(with: wrapped)) as? [String: Any]
                try require(object?.count == 1 && object?[key] != nil, name, "the \(key) member range \(range) does not hold exactly that member")
            }
        }
    }

    static let stages = ["RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"]
    static let verbs = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]

    /// An event with fields chosen by the input, and the summary the scanner must read from it.
    /// What scanning a built event must give.
    enum Built: Equatable {
        case event(EventSummary)
        case refused(ScanError.Code)
    }

    static func buildEvent(_ input: inout FuzzInput) -> (JSONValue, Built) {
        var e = EventSummary()
        var members: [(String, JSONValue)] = []
        if input.bool() { members.append(("kind", .string("Event"))); }
        e.apiVersion = input.bool() ? "audit.k8s.io/v1" : input.string(max: 12)
        members.append(("apiVersion", .string(e.apiVersion)))
        e.level = ["Metadata", "Request", "RequestResponse"][input.int(3)]
        members.append(("level", .string(e.level)))
        e.auditID = input.int(8) == 0 ? "" : input.string(max: 40)
        members.append(("auditID", .string(e.auditID)))
        e.stage = stages[input.int(stages.count)]
        members.append(("stage", .string(e.stage)))
        e.requestURI = input.string(max: 60)
        members.append(("requestURI", .string(e.requestURI)))
        e.verb = input.bool() ? verbs[input.int(verbs.count)] : input.string(max: 10)
        members.append(("verb", .string(e.verb)))
        if input.int(4) != 0 {
            var user: [(String, JSONValue)] = []
            if input.int(5) != 0 {
                let name = input.string(max: 30)
                e.username = name
                user.append(("username", .string(name)))
            }
            if input.bool() { user.append(("uid", .string(input.string(max: 8)))) }
            if input.bool() {
                e.groups = (0..<input.int(4)).map { _ in input.string(max: 20) }
                user.append(("groups", .array(e.groups.map { .string($0) })))
            }
            if input.bool() { user.append(("extra", .object([("k", .array([.string(input.string(max: 6))]))]))) }
            members.append(("user", .object(user)))
        } else if input.bool() {
            members.append(("user", .literal("null")))
        }
        if input.bool() {
            e.sourceIPs = (0..<input.int(3)).map { _ in input.string(max: 15) }
            members.append(("sourceIPs", .array(e.sourceIPs.map { .string($0) })))
        }
        if input.bool() {
            e.userAgent = input.string(max: 30)
            members.append(("userAgent", .string(e.userAgent)))
        }
        if input.int(3) != 0 {
            e.hasObjectRef = true
            var ref: [(String, JSONValue)] = []
            for (key, path) in [("resource", \EventSummary.resource), ("namespace", \.namespace), ("name", \.name),
                                ("apiGroup", \.apiGroup), ("apiVersion", \.apiVersionOfObject), ("subresource", \.subresource)] as [(String, WritableKeyPath<EventSummary, String>)] where input.bool() {
                let v = input.string(max: 20)
                e[keyPath: path] = v
                ref.append((key, .string(v)))
            }
            if input.bool() { ref.append(("uid", .string(input.string(max: 8)))) }
            members.append(("objectRef", .object(ref)))
        }
        if input.bool() {
            let code = input.int(1000)
            e.responseCode = code
            var status: [(String, JSONValue)] = [("metadata", .object([])), ("code", .number(String(code)))]
            if input.bool() { status.append(("status", .string("Failure"))); status.append(("message", .string(input.string(max: 30)))) }
            members.append(("responseStatus", .object(status)))
        }
        let base = Int64(1_600_000_000_000_000) + Int64(input.int(1 << 16)) * 1_000_003
        if input.int(4) != 0 {
            let t = Timestamp(microseconds: base)
            e.requestReceivedTimestamp = t
            members.append(("requestReceivedTimestamp", .string(t.rfc3339)))
        }
        if input.int(4) != 0 {
            let t = Timestamp(microseconds: base + Int64(input.int(100_000)))
            e.stageTimestamp = t
            members.append(("stageTimestamp", .string(t.rfc3339)))
        }
        if input.bool() {
            members.append(("annotations", .object([("authorization.k8s.io/decision", .string("allow")),
                                                    ("authorization.k8s.io/reason", .string(input.string(max: 40)))])))
        }
        if input.bool() { members.append(("requestObject", nested(&input, depth: 0))) }
        if input.bool() { members.append(("responseObject", nested(&input, depth: 0))) }
        if input.bool() {
            // A member the scanner skips, whose value looks like the fields it reads.
            members.append(("unknown", .object([("auditID", .string("decoy")), ("verb", .array([.string("}"), .literal("true"), .number("-1.5e3")]))])))
        }
        return (JSONValue.object(members), e.auditID.isEmpty ? Built.refused(.notAnEvent) : Built.event(e))
    }

    static func nested(_ input: inout FuzzInput, depth: Int) -> JSONValue {
        switch input.int(depth > 20 ? 3 : 6) {
        case 0: return .string(input.string(max: 20))
        case 1: return .number(["0", "-0", "12", "1.5", "-2e-3", "1E+9", "123456789012345678901234567890"][input.int(7)])
        case 2: return .literal(["true", "false", "null"][input.int(3)])
        case 3, 4: return .array((0..<input.int(4)).map { _ in nested(&input, depth: depth + 1) })
        default: return .object((0..<input.int(4)).map { _ in (input.string(max: 8), nested(&input, depth: depth + 1)) })
        }
    }
}
