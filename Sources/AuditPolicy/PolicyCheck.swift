import AuditModel
/// The result of `policy check`: every rule read back in words, errors, and warnings.
///
/// Rule numbers in this report are 1-based (`#1` is `rules[0]`, i.e. `PolicyDecision.ruleIndex + 1`).
public struct PolicyCheckReport: Sendable, Hashable {
    public struct RuleLine: Sendable, Hashable {
        /// 1-based rule number.
        public var number: Int
        public var level: AuditLevel
        /// The human reading, e.g. `watch by system:kube-proxy on core endpoints, services`.
        public var summary: String
        public var location: SourceLocation?
        /// `#3 None: watch by system:kube-proxy on core endpoints, services`.
        public var text: String { "#\(number) \(level.rawValue): \(summary)" }
    }

    public struct Warning: Sendable, Hashable, CustomStringConvertible {
        public struct Kind: Sendable, Hashable, RawRepresentable, CustomStringConvertible {
            public var rawValue: String
            public init(rawValue: String) { self.rawValue = rawValue }
            public var description: String { rawValue }
            /// An earlier rule matches every request this rule matches, so it never applies.
            public static let shadowed = Kind(rawValue: "shadowed")
            /// A rule with no selectors that is not the last rule.
            public static let catchAllNotLast = Kind(rawValue: "catch_all_not_last")
            /// Every stage is omitted, so the rule (or policy) records nothing.
            public static let omitsAllStages = Kind(rawValue: "omits_all_stages")
            /// A `*` in users, userGroups, namespaces or verbs, which kube matches literally.
            public static let literalWildcard = Kind(rawValue: "literal_wildcard")
            /// A verb kube-apiserver never puts in an audit event (e.g. `GET`).
            public static let unknownVerb = Kind(rawValue: "unknown_verb")
            /// A resource that is not lowercase, which never matches.
            public static let suspiciousResource = Kind(rawValue: "suspicious_resource")
            /// A parse warning (deprecated version, ignored field).
            public static let parse = Kind(rawValue: "parse")
        }
        public var kind: Kind
        /// 1-based rule number, when the warning is about one rule.
        public var rule: Int?
        public var location: SourceLocation?
        public var message: String
        public var description: String {
            let at = location.map { "\($0): " } ?? ""
            let which = rule.map { "rule #\($0): " } ?? ""
            return "\(at)warning: \(which)\(message)"
        }
    }

    public var source: String
    public var rules: [RuleLine]
    public var errors: [PolicyDiagnostic]
    public var warnings: [Warning]

    /// True when the policy failed to parse; the CLI should exit non-zero.
    public var hasErrors: Bool { !errors.isEmpty }
}

extension AuditPolicy {
    /// Checks a policy text: parse errors, or the rule listing with shadow and other warnings.
    public static func check(yaml: String, source: String, options: PolicyParseOptions = .strict) -> PolicyCheckReport {
        do {
            let policy = try parse(yaml: yaml, source: source, options: options)
            return policy.check()
        } catch {
            return PolicyCheckReport(source: source, rules: [], errors: error.diagnostics, warnings: [])
        }
    }

    /// Reads the rules back and looks for rules that can never match and other suspicious things.
    public func check() -> PolicyCheckReport {
        var warnings: [PolicyCheckReport.Warning] = warningsFromParse()
        let lines = rules.enumerated().map { i, rule in
            PolicyCheckReport.RuleLine(number: i + 1, level: rule.level, summary: rule.summary, location: rule.location)
        }
        warnings += lintRules()
        warnings += shadowWarnings()
        warnings.sort { ($0.location?.line ?? 0, $0.rule ?? 0) < ($1.location?.line ?? 0, $1.rule ?? 0) }
        return PolicyCheckReport(source: source, rules: lines, errors: [], warnings: warnings)
    }

    /// Shadowed rules only (1-based numbers of the rule and of the earlier rule that covers it).
    public func shadowedRules() -> [(rule: Int, by: Int)] {
        var result: [(Int, Int)] = []
        for j in rules.indices {
            if let i = rules[..<j].indices.first(where: { ruleCovers(rules[$0], rules[j]) }) {
                result.append((j + 1, i + 1))
            }
        }
        return result
    }

    private func warningsFromParse() -> [PolicyCheckReport.Warning] {
        warnings.map { .init(kind: .parse, rule: nil, location: $0.location, message: $0.message) }
    }

    private func shadowWarnings() -> [PolicyCheckReport.Warning] {
        shadowedRules().map { rule, by in
            let reason = rules[by - 1].isCatchAll
                ? "rule #\(by) has no selectors and matches every request"
                : "every request it matches is already matched by rule #\(by) (\(rules[by - 1].level.rawValue))"
            return .init(
                kind: .shadowed, rule: rule, location: rules[rule - 1].location,
                message: "can never match: \(reason)")
        }
    }

    static let knownVerbs: Set<String> = [
        "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
        // non-resource requests carry the lowercase HTTP method
        "post", "put", "head", "options",
        // authorization-only verbs that appear in some events
        "proxy", "impersonate", "bind", "escalate", "use", "approve", "sign", "connect",
    ]

    private func lintRules() -> [PolicyCheckReport.Warning] {
        var out: [PolicyCheckReport.Warning] = []
        let everyStage = Set(AuditStage.allCases)
        if omitStages == everyStage {
            out.append(.init(kind: .omitsAllStages, rule: nil, location: nil, message: "the policy omits every stage: nothing is ever recorded"))
        }
        for (i, rule) in rules.enumerated() {
            let n = i + 1
            let loc = rule.location
            if rule.isCatchAll, i < rules.count - 1 {
                out.append(.init(
                    kind: .catchAllNotLast, rule: n, location: loc,
                    message: "has no selectors and matches every request, but \(rules.count - 1 - i) rule(s) follow it"))
            }
            if rule.level != .none, omitStages.union(rule.omitStages) == everyStage {
                out.append(.init(
                    kind: .omitsAllStages, rule: n, location: loc,
                    message: "omits every stage, so it records nothing; say 'level: None' if that is the intent"))
            }
            for (field, values) in [("users", rule.users), ("userGroups", rule.userGroups), ("namespaces", rule.namespaces), ("verbs", rule.verbs)] {
                for value in values where value.contains("*") {
                    out.append(.init(
                        kind: .literalWildcard, rule: n, location: loc,
                        message: "\(field) entry '\(value)' contains '*', which kube-apiserver matches literally (no globs in \(field))"))
                }
            }
            for verb in rule.verbs where !verb.contains("*") && !Self.knownVerbs.contains(verb) {
                var message = "verb '\(verb)' is not a verb kube-apiserver records"
                if let s = nearest(verb, in: Array(Self.knownVerbs).sorted()) { message += "; did you mean '\(s)'?" }
                out.append(.init(kind: .unknownVerb, rule: n, location: loc, message: message))
            }
            for gr in rule.resources {
                for r in gr.resources where r != r.lowercased() {
                    out.append(.init(
                        kind: .suspiciousResource, rule: n, location: loc,
                        message: "resource '\(r)' is not lowercase; resources are lowercase plurals such as '\(r.lowercased())'"))
                }
            }
        }
        return out
    }
}

// MARK: - Subsumption (conservative: true only when provable)

/// True when every request that `later` matches is also matched by `earlier`.
func ruleCovers(_ earlier: PolicyRule, _ later: PolicyRule) -> Bool {
    func covers(_ e: [String], _ l: [String]) -> Bool {
        e.isEmpty || (!l.isEmpty && Set(l).isSubset(of: e))
    }
    guard covers(earlier.users, later.users), covers(earlier.userGroups, later.userGroups),
          covers(earlier.verbs, later.verbs)
    else { return false }

    let earlierResource = earlier.selectsResources
    let earlierNonResource = !earlierResource && !earlier.nonResourceURLs.isEmpty
    if !earlierResource && !earlierNonResource { return true }  // no request-kind selector
    let laterResource = later.selectsResources
    let laterNonResource = !laterResource && !later.nonResourceURLs.isEmpty
    if earlierResource {
        guard laterResource, covers(earlier.namespaces, later.namespaces) else { return false }
        if earlier.resources.isEmpty { return true }
        if later.resources.isEmpty { return false }
        return later.resources.allSatisfy { entry in groupEntryCovered(entry, by: earlier.resources) }
    }
    guard laterNonResource else { return false }
    return later.nonResourceURLs.allSatisfy { url in earlier.nonResourceURLs.contains { urlCovers($0, url) } }
}

func groupEntryCovered(_ entry: GroupResources, by earlier: [GroupResources]) -> Bool {
    let same = earlier.filter { $0.group == entry.group }
    if same.contains(where: { $0.resources.isEmpty }) { return true }
    if entry.resources.isEmpty {
        return same.contains { $0.resourceNames.isEmpty && $0.resources.contains("*") }
    }
    return entry.resources.allSatisfy { resource in
        same.contains { e in
            let namesOK = e.resourceNames.isEmpty
                || (!entry.resourceNames.isEmpty && Set(entry.resourceNames).isSubset(of: e.resourceNames))
            return namesOK && e.resources.contains { patternCovers($0, resource) }
        }
    }
}

/// True when resource pattern `p` matches every request that pattern `q` matches.
func patternCovers(_ p: String, _ q: String) -> Bool {
    if p == "*" || p == q { return true }
    if q == "*" { return false }
    if p.hasSuffix("/*") {
        let base = String(p.dropLast(2))
        if q == base || q.hasPrefix(base + "/") { return !base.isEmpty || q.hasPrefix("/") }
        return false
    }
    if p.hasPrefix("*/") {
        let sub = String(p.dropFirst(2))
        guard !sub.isEmpty, let slash = q.firstIndex(of: "/") else { return false }
        return q[q.index(after: slash)...] == sub
    }
    return false
}

/// True when non-resource URL spec `p` matches every path that spec `q` matches.
func urlCovers(_ p: String, _ q: String) -> Bool {
    if p == "*" || p == q { return true }
    if q == "*" { return false }
    guard p.hasSuffix("*") else { return false }
    let prefix = String(p.reversed().drop { $0 == "*" }.reversed())
    let qBase = q.hasSuffix("*") ? String(q.reversed().drop { $0 == "*" }.reversed()) : q
    return qBase.hasPrefix(prefix)
}

// MARK: - Text rendering

extension PolicyCheckReport {
    /// The report as terminal text: errors, or the rule listing followed by warnings and a summary line.
    public func renderText() -> String {
        var out: [String] = []
        if hasErrors {
            out += errors.map(\.description)
            out.append("\(source): \(errors.count) error\(errors.count == 1 ? "" : "s")")
            return out.joined(separator: "\n") + "\n"
        }
        out.append("\(source): \(rules.count) rule\(rules.count == 1 ? "" : "s")")
        out += rules.map { "  " + $0.text }
        if !warnings.isEmpty {
            out.append("")
            out += warnings.map { "\(source):\($0)" }
        }
        out.append("\(warnings.count) warning\(warnings.count == 1 ? "" : "s"), 0 errors")
        return out.joined(separator: "\n") + "\n"
    }
}
