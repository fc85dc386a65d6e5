// `auditship alerts check`: findings about loaded rules that loading itself accepts.
//
// - unknown_field: a field that is not part of an audit.k8s.io/v1 Event (checked down to the known
//   members of `user`, `impersonatedUser`, `objectRef` and `responseStatus`; `requestObject`,
//   `responseObject`, `annotations`, `user.extra` and `responseStatus.details` are free-form). A
//   Sigma short name outside the field mapping shows here.
// - never_matches: a test that no event can satisfy: text compared with an integer field
//   (`responseStatus.code: 'ALLOW'`; in our format also prefix/glob/contains/matches on `code`,
//   which read strings only), or a value that is not one of the field's closed set (`verb:
//   replace`: the apiserver logs `update`; `stage`, `level`).
// - duplicate_id: two Sigma rules with one `id`.
// - too_broad (with events): a rule whose condition holds on more than a share of them.
//
// Errors of loading (syntax, unknown keys, duplicate names, refused Sigma features) are not findings:
// loading throws them, and the command prints them first.
import AuditModel

/// One finding of `AlertRuleChecker`.
public struct AlertRuleFinding: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case unknownField = "unknown_field"
        case neverMatches = "never_matches"
        case duplicateID = "duplicate_id"
        case tooBroad = "too_broad"
    }

    public var kind: Kind
    public var rule: String
    /// Where the rule is defined (`file:line:col`).
    public var origin: String
    public var message: String

    /// `file:line:col: rule 'NAME': message [kind]`.
    public var description: String { "\(origin): rule '\(rule)': \(message) [\(kind.rawValue)]" }
}

public enum AlertRuleChecker {
    static let members: [String: Set<String>] = [
        "": ["kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user", "impersonatedUser", "sourceIPs",
             "userAgent", "objectRef", "responseStatus", "requestObject", "responseObject", "requestReceivedTimestamp",
             "stageTimestamp", "annotations", "timestamp", "metadata"],
        "user": ["username", "uid", "groups", "extra"],
        "impersonatedUser": ["username", "uid", "groups", "extra"],
        "objectRef": ["resource", "namespace", "name", "uid", "apiGroup", "apiVersion", "resourceVersion", "subresource"],
        "responseStatus": ["kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code"],
    ]
    static let closedSets: [String: Set<String>] = [
        "verb": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "post", "put", "head", "options"],
        "stage": ["requestreceived", "responsestarted", "responsecomplete", "panic"],
        "level": ["none", "metadata", "request", "requestresponse"],
    ]

    /// Findings for the rules of `set` (those of the built-in pack too when `includeBuiltins`).
    public static func check(_ set: AlertRuleSet, includeBuiltins: Bool = false) -> [AlertRuleFinding] {
        var findings: [AlertRuleFinding] = []
        var ids: [String: AlertRule] = [:]
        for rule in set.rules where includeBuiltins || !rule.origin.hasPrefix(BuiltinAlertRules.source + ":") {
            var seen: Set<String> = []
            func add(_ kind: AlertRuleFinding.Kind, _ message: String) {
                guard seen.insert(message).inserted else { return }
                findings.append(AlertRuleFinding(kind: kind, rule: rule.name, origin: rule.origin, message: message))
            }
            for (field, test) in tests(rule.condition) {
                if let parts = path(field), let unknown = unknownMember(parts) {
                    add(.unknownField, "field '\(field.text)': '\(unknown)' is not a field of an audit event")
                }
                if let why = neverMatches(field, test) { add(.neverMatches, why) }
            }
            if let id = rule.ruleID {
                if let first = ids[id] {
                    add(.duplicateID, "Sigma id \(id) is also the id of '\(first.name)' (\(first.origin))")
                } else {
                    ids[id] = rule
                }
            }
        }
        return findings
    }

    /// Rules whose condition holds (at their stages) on more than `share` of `events`.
    public static func broad(_ set: AlertRuleSet, events: [AuditEventView], share: Double, includeBuiltins: Bool = false) -> [AlertRuleFinding] {
        guard !events.isEmpty else { return [] }
        let engine = AlertEngine(rules: set)
        var counts: [String: Int] = [:]
        for event in events {
            for name in engine.matchingRules(view: event) { counts[name, default: 0] += 1 }
        }
        var findings: [AlertRuleFinding] = []
        for rule in set.enabledRules where includeBuiltins || !rule.origin.hasPrefix(BuiltinAlertRules.source + ":") {
            let n = counts[rule.name] ?? 0
            let fraction = Double(n) / Double(events.count)
            if fraction > share {
                let percent = (fraction * 1000).rounded() / 10
                findings.append(AlertRuleFinding(
                    kind: .tooBroad, rule: rule.name, origin: rule.origin,
                    message: "matches \(n) of \(events.count) events (\(percent)%)"))
            }
        }
        return findings
    }

    static func tests(_ c: AlertCondition) -> [(EventField, AlertTest)] {
        switch c {
        case .all(let items), .any(let items): items.flatMap(tests)
        case .not(let inner): tests(inner)
        case .test(let f, let t): [(f, t)]
        }
    }

    /// The field as key names from the event's root, up to the first step that is not a key; nil for named fields.
    static func path(_ field: EventField) -> [String]? {
        switch field.kind {
        case .named: return nil
        case .dotted(let parts): return parts
        case .path(let root, let steps):
            var parts = root == .event ? [] : [root.rawValue]
            for step in steps {
                guard case .key(let k) = step else { break }
                parts.append(k)
            }
            return parts
        }
    }

    /// The first part of `parts` that is not a member where members are known.
    static func unknownMember(_ parts: [String]) -> String? {
        guard let top = parts.first else { return nil }
        // A literal key with dots at the root (Sigma's first try) is not a known member either way.
        guard members[""]?.contains(top) == true else { return top }
        if parts.count > 1, let known = members[top], !known.contains(parts[1]) { return "\(top).\(parts[1])" }
        return nil
    }

    /// The field's name when it is an integer field or one with a closed set of values.
    static func kind(_ field: EventField) -> String? {
        switch field.kind {
        case .named(.code): return "code"
        case .named(.verb): return "verb"
        case .named(.stage): return "stage"
        case .named(.level): return "level"
        default:
            switch path(field) ?? [] {
            case ["responseStatus", "code"]: return "code"
            case ["verb"]: return "verb"
            case ["stage"]: return "stage"
            case ["level"]: return "level"
            default: return nil
            }
        }
    }

    /// Why no event can satisfy the test, or nil.
    static func neverMatches(_ field: EventField, _ test: AlertTest) -> String? {
        guard let kind = kind(field) else { return nil }
        // The literal values a test compares with, when it is an exact comparison.
        var exact: [String] = []
        switch test {
        case .equals(let v): exact = [v]
        case .oneOf(.literal(let vs)): exact = vs
        case .sigma(let m):
            guard case .pattern(let tokens) = m.kind else { return nil }
            let literals = tokens.compactMap { t -> String? in if case .literal(let s) = t { s } else { nil } }
            if kind == "code", literals.contains(where: { $0.contains { !$0.isNumber && $0 != "." && $0 != "-" } }) {
                return "'\(field.text)' is an integer: '\(m)' can never match it"
            }
            if tokens.count == 1, let only = literals.first { exact = [only] }
        case .prefix, .glob, .contains, .matches:
            if kind == "code", case .named = field.kind {
                return "'\(field.text)' is an integer: this operator reads strings only, so it can never match"
            }
            return nil
        default: return nil
        }
        if kind == "code" {
            let bad = exact.filter { Double($0) == nil }
            guard !bad.isEmpty else { return nil }
            return "'\(field.text)' is an integer: \(bad.map { "'\($0)'" }.joined(separator: ", ")) can never match it"
        }
        guard let allowed = closedSets[kind] else { return nil }
        let bad = exact.filter { !allowed.contains($0.lowercased()) }
        guard !bad.isEmpty else { return nil }
        var message = "\(bad.map { "'\($0)'" }.joined(separator: ", ")) is not a value of '\(field.text)'"
        if kind == "verb", bad.contains(where: { $0.lowercased() == "replace" }) { message += " (kubectl replace is logged as update)" }
        return message + " (values: \(allowed.sorted().joined(separator: ", ")))"
    }
}
