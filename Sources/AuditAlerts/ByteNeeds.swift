import AuditModel
#if canImport(Glibc)
import Glibc
#endif

/// Text an event's JSON must contain for a condition to be able to hold, checked before the event
/// is parsed: every clause must have one of its needles in the bytes. It is exact, a superset test
/// like `AlertPrefilter`: the needles are the keys a positive test reads (the last key of a path,
/// `"privileged"` for `requestObject.spec.containers[*].securityContext.privileged`) and the plain
/// string values an `equals`/`in` compares with. JSON can spell a key or a string another way only
/// with `\uXXXX` or `\/` escapes, so an event holding either is always parsed; numbers (`4.03e2` is
/// 403) and case-insensitive values give no needle.
struct ByteNeeds: Sendable, Hashable {
    /// All of these; each satisfied by any of its needles.
    var clauses: [[ByteNeedle]]

    static let none = ByteNeeds(clauses: [])

    /// True when the bytes hold every clause (or may spell it with escapes).
    func admits(_ bytes: UnsafeBufferPointer<UInt8>, escaped: Bool) -> Bool {
        if escaped || clauses.isEmpty { return true }
        for clause in clauses where !clause.contains(where: { $0.occurs(in: bytes) }) { return false }
        return true
    }

    /// True when the bytes hold `\u` or `\/` (a key or string may be spelled in a way the needles
    /// miss), or any byte outside ASCII (a case-insensitive needle folds ASCII only, and `String`
    /// lowercases some other letters to ASCII ones: the Kelvin sign to `k`).
    static func mayBeEscaped(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 1 else { return false }
        if memchrHigh(bytes) { return true }
        var at = 0
        while at < bytes.count - 1 {
            guard let p = memchr(base + at, 0x5C, bytes.count - 1 - at) else { return false }
            let i = base.distance(to: p.assumingMemoryBound(to: UInt8.self))
            let next = bytes[i + 1]
            if next == 0x75 || next == 0x2F { return true }
            // `\\` escapes the next backslash: step over both.
            at = i + 2
        }
        return false
    }

    /// True when some byte is 0x80 or above.
    static func memchrHigh(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        // Eight bytes at a time.
        var i = 0
        let n = bytes.count
        guard let base = bytes.baseAddress else { return false }
        let raw = UnsafeRawPointer(base)
        while i + 8 <= n {
            if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return true }
            i += 8
        }
        while i < n {
            if bytes[i] >= 0x80 { return true }
            i += 1
        }
        return false
    }

    /// The needs of a compiled condition.
    static func of(_ c: CompiledCondition) -> ByteNeeds {
        switch c {
        case .constant, .not: return .none
        case .test(let field, let op): return ByteNeeds(clauses: test(field, op))
        case .all(let items): return ByteNeeds(clauses: items.flatMap { of($0).clauses })
        case .any(let items):
            // One clause: for each branch, one of its clauses' needles (a branch without needs: none).
            var clause: [ByteNeedle] = []
            for item in items {
                guard let first = of(item).clauses.first else { return .none }
                clause += first
            }
            return ByteNeeds(clauses: [clause])
        }
    }

    static func test(_ field: EventField, _ op: CompiledCondition.Op) -> [[ByteNeedle]] {
        if case .exists(false) = op { return [] }
        var clauses: [[ByteNeedle]] = []
        if let key = keyNeedle(field) { clauses.append([ByteNeedle(key)]) }
        let valued: Bool
        switch field.kind {
        case .named(let n): valued = n != .namespacedName && n != .code && n != .apiGroup
        case .path, .dotted: valued = true
        }
        guard valued else { return clauses }
        switch op {
        case .equals(let v):
            if let n = valueNeedle(v) { clauses.append([ByteNeedle(n)]) }
        case .oneOf(let set):
            let needles = set.map(valueNeedle)
            if !needles.isEmpty, needles.allSatisfy({ $0 != nil }) { clauses.append(needles.compactMap { $0 }.map { ByteNeedle($0) }) }
        case .contains(let v):
            // A string containing it, or a list element equal to it (a number as its text, which JSON
            // may spell otherwise: only text no number's contains gives a needle).
            if let n = textNeedle(v), notNumeric(v) { clauses.append([ByteNeedle(n)]) }
        case .prefix(let list):
            let needles = list.map(textNeedle)
            if !needles.isEmpty, needles.allSatisfy({ $0 != nil }) { clauses.append(needles.compactMap { $0 }.map { ByteNeedle($0) }) }
        case .sigma(let m):
            if let (text, folds) = m.requiredText {
                // Numbers are compared as their text, which JSON may spell otherwise (4.03e2 is 403).
                let needle = m.exactValue != nil ? valueNeedle(text) : (notNumeric(text) ? textNeedle(text) : nil)
                if let needle { clauses.append([ByteNeedle(needle, caseInsensitive: folds)]) }
            }
        default: break
        }
        return clauses
    }

    /// `"key"` for a path's last key (a mapping's key is written as it is), the last part and its
    /// closing quote for a Sigma dotted name (which may be a literal key holding dots); nil for named
    /// fields (always present or derived).
    static func keyNeedle(_ field: EventField) -> [UInt8]? {
        switch field.kind {
        case .named: return nil
        case .path(let root, let steps):
            var key: String? = root == .event ? nil : root.rawValue
            for case .key(let k) in steps { key = k }
            guard let key, plain(key), !everyEventHas.contains(key) else { return nil }
            return Array("\"\(key)\"".utf8)
        case .dotted(let parts):
            guard let last = parts.last, !last.isEmpty, plain(last), !everyEventHas.contains(last) else { return nil }
            return Array((parts.count == 1 ? "\"\(last)\"" : "\(last)\"").utf8)
        }
    }

    /// Keys nearly every audit event holds: as needles they rule nothing out, and in an `any` they
    /// would stand in for a branch's more telling value.
    static let everyEventHas: Set<String> = [
        "kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user", "username", "uid", "groups",
        "sourceIPs", "userAgent", "objectRef", "resource", "namespace", "name", "responseStatus", "code", "metadata",
        "requestReceivedTimestamp", "stageTimestamp", "annotations", "decision", "reason",
    ]

    /// A string value's text as JSON writes it, when that is the only way (no escapes needed) and
    /// it cannot be a number or literal spelled another way.
    static func valueNeedle(_ v: String) -> [UInt8]? {
        guard !v.isEmpty, plain(v), Double(v) == nil else { return nil }
        return Array(v.utf8)
    }

    /// A piece of a string value (a prefix, what it contains) as JSON writes it, when no escape is needed.
    static func textNeedle(_ v: String) -> [UInt8]? {
        guard !v.isEmpty, plain(v) else { return nil }
        return Array(v.utf8)
    }

    /// True when the text holds a character no number's text has (so it can only come from a string).
    static func notNumeric(_ s: String) -> Bool {
        s.utf8.contains { !(($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2B || $0 == 0x2D || $0 == 0x65 || $0 == 0x45) }
    }

    static func plain(_ s: String) -> Bool {
        s.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }
    }
}
