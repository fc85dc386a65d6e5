/// What a stored event's indexed columns must hold for a rule to be able to fire on it: a conjunction
/// of value sets, one per field, read off the rule's condition. Hunting over a store asks the store's
/// index for the events that pass the prefilter and gives only those to the engine.
///
/// It is exact, never a guess: every event a rule's condition holds for passes the rule's prefilter
/// (a superset), so the firings over the prefiltered events are the firings over all events. Only
/// positive tests under `all` (and `any` whose branches all test the same field) contribute: an
/// `equals` or `in` on `user`, `verb`, `resource`, `subresource`, `namespace` or `code`, and a Sigma
/// exact value on the same fields written as Sigma names them (`user.username`, `objectRef.resource`,
/// …; case-insensitive unless `|cased`). Everything else (prefixes, globs, numbers, negations, paths
/// into request bodies) leaves the field open. It reads the columns the store extracted with its own
/// scanner from the same bytes the engine parses, so it assumes the apiserver's event shape (Sigma
/// names like `objectRef.resource` are taken as the nested field, not as a top-level key with dots).
public struct AlertPrefilter: Sendable, Hashable, CustomStringConvertible {
    /// The indexed columns a prefilter may constrain.
    public enum Field: String, Sendable, Hashable, CaseIterable, Comparable {
        case user, verb, resource, subresource, namespace, code

        public static func < (a: Field, b: Field) -> Bool { a.rawValue < b.rawValue }
    }

    /// The values a field may take; case-insensitive values are lowercased (compare with
    /// `String.lowercased()`, as Sigma's matcher does).
    public struct Values: Sendable, Hashable {
        public var values: Set<String>
        public var caseInsensitive: Bool

        public init(_ values: Set<String>, caseInsensitive: Bool = false) {
            self.values = caseInsensitive ? Set(values.map { $0.lowercased() }) : values
            self.caseInsensitive = caseInsensitive
        }

        /// True when `value` is one of the values.
        public func admits(_ value: String) -> Bool {
            values.contains(caseInsensitive ? value.lowercased() : value)
        }

        /// Values both admit; nil when that is not expressible as one set (one case-insensitive, one not).
        func intersected(with other: Values) -> Values? {
            switch (caseInsensitive, other.caseInsensitive) {
            case (false, false): return Values(values.intersection(other.values))
            case (true, true): return Values(values.intersection(other.values), caseInsensitive: true)
            case (false, true): return Values(values.filter { other.admits($0) })
            case (true, false): return Values(other.values.filter { admits($0) })
            }
        }

        /// Values either admits; nil when that is not expressible as one set.
        func united(with other: Values) -> Values? {
            guard caseInsensitive == other.caseInsensitive else { return nil }
            return Values(values.union(other.values), caseInsensitive: caseInsensitive)
        }
    }

    /// Field → the values it must take. Empty: every event may match.
    public var constraints: [Field: Values]
    /// True when no event can match (a field constrained to no value).
    public var matchesNothing: Bool { constraints.values.contains { $0.values.isEmpty } }
    /// True when the prefilter admits every event.
    public var isOpen: Bool { constraints.isEmpty }

    public init(_ constraints: [Field: Values] = [:]) {
        self.constraints = constraints
    }

    public var description: String {
        guard !constraints.isEmpty else { return "every event" }
        return constraints.sorted { $0.key < $1.key }.map { field, v in
            "\(field.rawValue)\(v.caseInsensitive ? "~" : ":")\(v.values.sorted().joined(separator: ","))"
        }.joined(separator: " ")
    }

    /// The prefilter of a compiled condition.
    static func of(_ c: CompiledCondition) -> AlertPrefilter {
        switch c {
        case .constant(false): return AlertPrefilter([.verb: Values([])])
        case .constant(true), .not: return AlertPrefilter()
        case .test(let field, let op):
            guard let f = Self.field(field), let v = Self.values(op, field: f) else { return AlertPrefilter() }
            return AlertPrefilter([f: v])
        case .all(let items):
            var out: [Field: Values] = [:]
            for item in items {
                for (f, v) in of(item).constraints {
                    if let have = out[f] {
                        // Two sets that don't combine into one: keep the first (still a superset).
                        if let both = have.intersected(with: v) { out[f] = both }
                    } else {
                        out[f] = v
                    }
                }
            }
            return AlertPrefilter(out)
        case .any(let items):
            // Only a field every branch constrains stays constrained, to the union of the branches.
            var out: [Field: Values]?
            for item in items {
                let p = of(item).constraints
                guard var acc = out else {
                    out = p
                    continue
                }
                for (f, v) in acc {
                    if let w = p[f], let u = v.united(with: w) { acc[f] = u } else { acc[f] = nil }
                }
                out = acc
            }
            return AlertPrefilter(out ?? [:])
        }
    }

    static func field(_ field: EventField) -> Field? {
        switch field.kind {
        case .named(let n):
            switch n {
            case .user: return .user
            case .verb: return .verb
            case .resource: return .resource
            case .subresource: return .subresource
            case .namespace: return .namespace
            case .code: return .code
            default: return nil
            }
        case .dotted(let parts):
            switch parts {
            case ["user", "username"]: return .user
            case ["verb"]: return .verb
            case ["objectRef", "resource"]: return .resource
            case ["objectRef", "subresource"]: return .subresource
            case ["objectRef", "namespace"]: return .namespace
            case ["responseStatus", "code"]: return .code
            default: return nil
            }
        case .path: return nil
        }
    }

    static func values(_ op: CompiledCondition.Op, field: Field) -> Values? {
        switch op {
        case .equals(let v): return codeShaped(field, [v]).map { Values($0) }
        case .oneOf(let s): return codeShaped(field, s).map { Values($0) }
        case .sigma(let m):
            guard let (value, folds) = m.exactValue else { return nil }
            return codeShaped(field, [value]).map { Values($0, caseInsensitive: folds && field != .code) }
        default: return nil
        }
    }

    /// For `code`, only integer texts compare with the column (a code stored as 403 renders "403").
    static func codeShaped(_ field: Field, _ values: Set<String>) -> Set<String>? {
        guard field == .code else { return values }
        var out: Set<String> = []
        for v in values {
            guard let n = Int(v), n >= 0, String(n) == v else { return nil }
            out.insert(v)
        }
        return out
    }
}

extension AlertEngine {
    /// Each enabled rule that can fire, with its prefilter, in rule order.
    public var prefilters: [(rule: String, prefilter: AlertPrefilter)] {
        compiled.map { ($0.rule.name, AlertPrefilter.of($0.condition)) }
    }
}
