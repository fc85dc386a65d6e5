import AuditModel
import Yams

/// Options for `AuditPolicy.parse(yaml:source:options:)`.
public struct PolicyParseOptions: Sendable, Hashable {
    /// What to do with keys the Policy schema does not have.
    public enum UnknownFields: Sendable, Hashable {
        /// Report them as errors (default: a typo such as `verb:` silently widens a rule).
        case reject
        /// Report them as warnings and ignore them, as kube-apiserver's lenient decoder does.
        case warn
    }

    public var unknownFields: UnknownFields

    public init(unknownFields: UnknownFields = .reject) {
        self.unknownFields = unknownFields
    }

    /// Strict parsing: unknown fields are errors.
    public static let strict = PolicyParseOptions()
    /// kube-apiserver's leniency: unknown fields are warnings.
    public static let lenient = PolicyParseOptions(unknownFields: .warn)
}

extension AuditPolicy {
    /// Field names accepted at the top level of a Policy.
    public static let policyFields = ["apiVersion", "kind", "metadata", "rules", "omitStages", "omitManagedFields"]
    /// Field names accepted in a rule.
    public static let ruleFields = [
        "level", "users", "userGroups", "verbs", "resources", "namespaces", "nonResourceURLs", "omitStages",
        "omitManagedFields",
    ]
    /// Field names accepted in a `resources` entry.
    public static let groupResourcesFields = ["group", "resources", "resourceNames"]
    /// Largest policy document accepted, in bytes. Real policies are a few KiB; the limit keeps a
    /// damaged or hostile file from holding the agent for minutes before it refuses it.
    public static let maxDocumentBytes = 1 << 20
    /// Most rules accepted in one policy.
    public static let maxRules = 10_000
    /// API versions accepted.
    public static let supportedAPIVersions = ["audit.k8s.io/v1", "audit.k8s.io/v1beta1"]

    /// Parses and validates an `audit.k8s.io/v1` or `v1beta1` `kind: Policy` document strictly.
    ///
    /// - Parameters:
    ///   - yaml: the document text.
    ///   - source: a label for messages, usually the file path.
    /// - Throws: `PolicyError` holding every error found, each with line and column.
    public static func parse(yaml: String, source: String) throws(PolicyError) -> AuditPolicy {
        try parse(yaml: yaml, source: source, options: .strict)
    }

    /// Parses with options (e.g. `.lenient` to accept unknown fields as warnings).
    public static func parse(yaml: String, source: String, options: PolicyParseOptions) throws(PolicyError) -> AuditPolicy {
        var parser = PolicyParser(source: source, options: options)
        let size = yaml.utf8.count
        guard size <= maxDocumentBytes else {
            parser.report(.tooLarge, nil, "the policy is \(size) bytes; the limit is \(maxDocumentBytes) bytes (1 MiB): audit policies are a few KiB")
            throw PolicyError(diagnostics: parser.diagnostics)
        }
        let result = parser.parse(yaml)
        let errors = parser.diagnostics.filter { $0.severity == .error }
        guard let policy = result, errors.isEmpty else {
            throw PolicyError(diagnostics: errors.isEmpty ? parser.diagnostics : errors)
        }
        return policy
    }
}

/// Walks a composed YAML node tree, collecting every diagnostic.
struct PolicyParser {
    let source: String
    let options: PolicyParseOptions
    var diagnostics: [PolicyDiagnostic] = []

    init(source: String, options: PolicyParseOptions) {
        self.source = source
        self.options = options
    }

    // MARK: diagnostics

    mutating func report(
        _ code: PolicyDiagnostic.Code, _ mark: Mark?, _ message: String, severity: PolicyDiagnostic.Severity = .error
    ) {
        diagnostics.append(
            PolicyDiagnostic(
                severity: severity, code: code, source: source, line: mark?.line ?? 1, column: mark?.column ?? 1,
                message: message))
    }

    mutating func unknownField(_ key: String, _ mark: Mark?, valid: [String], context: String) {
        var message = "unknown field '\(key)' in \(context)"
        if let suggestion = nearest(key, in: valid) {
            message += "; did you mean '\(suggestion)'?"
        } else if let (field, place) = Self.fieldElsewhere(key, notIn: valid) {
            message += "; '\(field)' is a field of \(place): check the indentation"
        } else {
            message += "; valid fields are \(valid.joined(separator: ", "))"
        }
        if options.unknownFields == .warn {
            report(.unknownField, mark, message + " (ignored)", severity: .warning)
        } else {
            report(.unknownField, mark, message)
        }
    }

    /// A field of another level of the schema that `key` names or nearly names.
    static func fieldElsewhere(_ key: String, notIn valid: [String]) -> (String, String)? {
        let places: [(String, [String])] = [
            ("a rule", AuditPolicy.ruleFields), ("a resources entry", AuditPolicy.groupResourcesFields),
            ("the Policy", AuditPolicy.policyFields),
        ]
        for (place, fields) in places where fields != valid {
            if let match = nearest(key, in: fields) { return (match, place) }
        }
        return nil
    }

    static func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            if scalar.style == .plain || scalar.style == .any {
                switch tagName(node) {
                case .bool: return "a boolean '\(scalar.string)'"
                case .int: return "an integer '\(scalar.string)'"
                case .float: return "a number '\(scalar.string)'"
                case .null: return "null"
                default: break
                }
            }
            return "a string '\(scalar.string)'"
        }
    }

    static func isNull(_ node: Node) -> Bool {
        if case .scalar(let s) = node, s.style == .plain || s.style == .any, tagName(node) == .null { return true }
        return false
    }

    // MARK: scalar readers

    /// A string value; YAML null reads as "" (kube's JSON decoding does the same).
    mutating func string(_ node: Node, field: String) -> String? {
        guard case .scalar(let scalar) = node else {
            report(.wrongType, node.mark, "field '\(field)' must be a string, got \(Self.describe(node))")
            return nil
        }
        if scalar.style == .plain || scalar.style == .any {
            switch tagName(node) {
            case .null: return ""
            case .bool, .int, .float:
                report(
                    .wrongType, node.mark,
                    "field '\(field)' must be a string, got \(Self.describe(node)); quote it if it is meant as text")
                return nil
            default: break
            }
        }
        return scalar.string
    }

    mutating func bool(_ node: Node, field: String) -> Bool? {
        if case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any, tagName(node) == .bool {
            switch scalar.string.lowercased() {
            case "true", "yes", "on", "y": return true
            default: return false
            }
        }
        report(.wrongType, node.mark, "field '\(field)' must be true or false, got \(Self.describe(node))")
        return nil
    }

    /// A list of strings; null is an empty list.
    mutating func strings(_ node: Node, field: String) -> [String]? {
        if Self.isNull(node) { return [] }
        guard case .sequence(let sequence) = node else {
            report(.wrongType, node.mark, "field '\(field)' must be a list of strings, got \(Self.describe(node))")
            return nil
        }
        var values: [String] = []
        var ok = true
        for item in sequence {
            if let value = string(item, field: "\(field)[]") { values.append(value) } else { ok = false }
        }
        return ok ? values : nil
    }

    mutating func stages(_ node: Node, field: String) -> Set<AuditStage>? {
        if Self.isNull(node) { return [] }
        guard case .sequence(let sequence) = node else {
            report(.wrongType, node.mark, "field '\(field)' must be a list of stages, got \(Self.describe(node))")
            return nil
        }
        var result: Set<AuditStage> = []
        var ok = true
        for item in sequence {
            guard let name = string(item, field: "\(field)[]") else {
                ok = false
                continue
            }
            if let stage = AuditStage(rawValue: name) {
                result.insert(stage)
            } else {
                ok = false
                let valid = AuditStage.allCases.map(\.rawValue)
                var message = "unknown stage '\(name)' in '\(field)'"
                if let s = nearest(name, in: valid) { message += "; did you mean '\(s)'?" }
                message += " (valid: \(valid.joined(separator: ", ")))"
                report(.unknownStage, item.mark, message)
            }
        }
        return ok ? result : nil
    }

    mutating func mapping(_ node: Node, what: String) -> Node.Mapping? {
        if case .mapping(let m) = node { return m }
        report(.wrongType, node.mark, "\(what) must be a mapping, got \(Self.describe(node))")
        return nil
    }

    static func key(_ node: Node) -> String? {
        if case .scalar(let s) = node { return s.string }
        return nil
    }

    // MARK: document

    mutating func parse(_ yaml: String) -> AuditPolicy? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            reportYAML(error)
            if Self.indentationLost(yaml), let last = diagnostics.indices.last {
                diagnostics[last].message += "; every line starts in column 1: was the indentation lost in copying?"
            }
            return nil
        } catch {
            report(.yamlSyntax, nil, "YAML error: \(error)")
            return nil
        }
        guard let root else {
            report(.notAPolicy, nil, "empty document; expected an audit.k8s.io Policy")
            return nil
        }
        guard let top = mapping(root, what: "the document") else { return nil }

        var apiVersion: String?
        var kind: String?
        var rulesNode: (key: Node, value: Node)?
        var omitStages: Set<AuditStage> = []
        var omitManagedFields = false
        for (keyNode, value) in top {
            guard let key = Self.key(keyNode) else {
                report(.wrongType, keyNode.mark, "keys must be strings, got \(Self.describe(keyNode))")
                continue
            }
            switch key {
            case "apiVersion": apiVersion = string(value, field: key)
            case "kind": kind = string(value, field: key)
            case "metadata":
                if !Self.isNull(value) { _ = mapping(value, what: "field 'metadata'") }
            case "rules": rulesNode = (keyNode, value)
            case "omitStages": omitStages = stages(value, field: key) ?? []
            case "omitManagedFields": omitManagedFields = bool(value, field: key) ?? false
            default:
                unknownField(key, keyNode.mark, valid: AuditPolicy.policyFields, context: "Policy")
            }
        }

        let rootMark = root.mark
        if let kind {
            if kind != "Policy" {
                var message = "kind '\(kind)' is not a Policy"
                if kind == "ConfigMap" { message += embeddedPolicyHint(top) }
                // A different kind of object: its fields are not ours to judge.
                diagnostics.removeAll()
                report(.notAPolicy, valueMark(top, "kind"), message)
                return nil
            }
        } else {
            report(.missingField, rootMark, "missing required field 'kind' (expected 'kind: Policy')")
        }
        if let apiVersion {
            if !AuditPolicy.supportedAPIVersions.contains(apiVersion) {
                var message = "unsupported apiVersion '\(apiVersion)'; expected audit.k8s.io/v1"
                if apiVersion == "audit.k8s.io/v1alpha1" { message += " (v1alpha1 is no longer served)" }
                report(.unsupportedVersion, valueMark(top, "apiVersion"), message)
            } else if apiVersion != "audit.k8s.io/v1" {
                report(
                    .deprecated, valueMark(top, "apiVersion"),
                    "apiVersion '\(apiVersion)' is deprecated; use audit.k8s.io/v1 (same fields)", severity: .warning)
            }
        } else {
            report(.missingField, rootMark, "missing required field 'apiVersion' (expected 'apiVersion: audit.k8s.io/v1')")
        }

        var rules: [PolicyRule] = []
        if let (keyNode, value) = rulesNode {
            if Self.isNull(value) {
                report(.noRules, keyNode.mark, "policy has no rules; kube-apiserver refuses to load a policy with 0 rules")
            } else if case .sequence(let sequence) = value, sequence.count > AuditPolicy.maxRules {
                report(.tooLarge, keyNode.mark, "the policy has \(sequence.count) rules; the limit is \(AuditPolicy.maxRules)")
            } else if case .sequence(let sequence) = value {
                if sequence.isEmpty {
                    report(.noRules, keyNode.mark, "policy has no rules; kube-apiserver refuses to load a policy with 0 rules")
                }
                for (index, item) in sequence.enumerated() {
                    if let rule = parseRule(item, index: index) { rules.append(rule) }
                }
            } else {
                report(.wrongType, value.mark, "field 'rules' must be a list of rules, got \(Self.describe(value))")
            }
        } else {
            report(.noRules, rootMark, "missing field 'rules'; kube-apiserver refuses to load a policy with 0 rules")
        }

        diagnostics.sort { ($0.line, $0.column) < ($1.line, $1.column) }
        guard !diagnostics.contains(where: { $0.severity == .error }) else { return nil }
        return AuditPolicy(
            rules: rules, omitStages: omitStages, omitManagedFields: omitManagedFields,
            apiVersion: apiVersion ?? "audit.k8s.io/v1", source: source, warnings: diagnostics)
    }

    /// True when a document with a `rules:` list has no indented line at all.
    static func indentationLost(_ yaml: String) -> Bool {
        let lines = yaml.split(separator: "\n").filter { !$0.allSatisfy(\.isWhitespace) && !$0.hasPrefix("#") }
        return lines.count > 3 && lines.contains { $0.hasPrefix("rules:") }
            && !lines.contains { $0.first == " " || $0.first == "\t" }
    }

    func valueMark(_ mapping: Node.Mapping, _ key: String) -> Mark? {
        for (k, v) in mapping where Self.key(k) == key { return v.mark ?? k.mark }
        return mapping.mark
    }

    func embeddedPolicyHint(_ top: Node.Mapping) -> String {
        for (k, v) in top where Self.key(k) == "data" {
            guard case .mapping(let data) = v else { break }
            let names = data.compactMap { key, value -> String? in
                guard case .scalar(let s) = value, s.string.contains("kind: Policy") else { return nil }
                return Self.key(key)
            }
            if !names.isEmpty {
                return "; it embeds policies under data keys \(names.joined(separator: ", ")): extract one to a file"
            }
        }
        return ""
    }

    mutating func reportYAML(_ error: YamlError) {
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            var message = "YAML syntax error: \(problem)"
            if let context { message += " (\(context.text) at \(context.mark))" }
            report(.yamlSyntax, mark, message)
        case .duplicatedKeysInMapping(let duplicates, let context):
            report(.yamlSyntax, context.mark, "duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in a mapping")
        case .reader(let problem, let offset, _, _):
            report(.yamlSyntax, nil, "YAML reader error: \(problem)\(offset.map { " at byte \($0)" } ?? "")")
        default:
            report(.yamlSyntax, nil, "YAML error: \(error)")
        }
    }

    // MARK: rules

    mutating func parseRule(_ node: Node, index: Int) -> PolicyRule? {
        guard let map = mapping(node, what: "rule #\(index + 1)") else { return nil }
        let errorsBefore = diagnostics.filter { $0.severity == .error }.count
        let location = node.mark.map { SourceLocation(line: $0.line, column: $0.column) }
        var rule = PolicyRule(level: .none, location: location)
        var sawLevel = false
        var nonResourceMark: Mark?
        for (keyNode, value) in map {
            guard let key = Self.key(keyNode) else {
                report(.wrongType, keyNode.mark, "keys must be strings, got \(Self.describe(keyNode))")
                continue
            }
            switch key {
            case "level":
                sawLevel = true
                guard let name = string(value, field: key) else { continue }
                if let level = AuditLevel(rawValue: name) {
                    rule.level = level
                } else if name.isEmpty {
                    report(.missingField, value.mark, "rule #\(index + 1): 'level' is empty; use None, Metadata, Request or RequestResponse")
                } else {
                    let valid = AuditLevel.allCases.map(\.rawValue)
                    var message = "unknown level '\(name)'"
                    if let s = nearest(name, in: valid) { message += "; did you mean '\(s)'?" }
                    message += " (valid: \(valid.joined(separator: ", ")))"
                    report(.unknownLevel, value.mark, message)
                }
            case "users": rule.users = strings(value, field: key) ?? []
            case "userGroups": rule.userGroups = strings(value, field: key) ?? []
            case "verbs": rule.verbs = strings(value, field: key) ?? []
            case "namespaces": rule.namespaces = strings(value, field: key) ?? []
            case "nonResourceURLs":
                nonResourceMark = keyNode.mark
                rule.nonResourceURLs = strings(value, field: key) ?? []
                validateNonResourceURLs(value)
            case "resources": rule.resources = parseResources(value)
            case "omitStages": rule.omitStages = stages(value, field: key) ?? []
            case "omitManagedFields": rule.omitManagedFields = bool(value, field: key)
            default:
                unknownField(key, keyNode.mark, valid: AuditPolicy.ruleFields, context: "rule #\(index + 1)")
            }
        }
        if !sawLevel {
            report(.missingField, node.mark, "rule #\(index + 1) has no 'level' (required: None, Metadata, Request or RequestResponse)")
        }
        if !rule.nonResourceURLs.isEmpty, rule.selectsResources {
            report(
                .invalidValue, nonResourceMark,
                "rule #\(index + 1): rules cannot apply to both regular resources and non-resource URLs "
                    + "(nonResourceURLs with resources or namespaces)")
        }
        let errorsAfter = diagnostics.filter { $0.severity == .error }.count
        return errorsAfter == errorsBefore ? rule : nil
    }

    mutating func validateNonResourceURLs(_ node: Node) {
        guard case .sequence(let sequence) = node else { return }
        for item in sequence {
            guard case .scalar(let s) = item else { continue }
            let url = s.string
            if url == "*" { continue }
            if !url.hasPrefix("/") {
                report(.invalidValue, item.mark, "non-resource URL '\(url)' must begin with '/'")
            }
            if url.dropLast().contains("*") {
                report(.invalidValue, item.mark, "non-resource URL '\(url)': a wildcard '*' must be the final character")
            }
        }
    }

    mutating func parseResources(_ node: Node) -> [GroupResources] {
        if Self.isNull(node) { return [] }
        guard case .sequence(let sequence) = node else {
            report(.wrongType, node.mark, "field 'resources' must be a list of {group, resources, resourceNames}, got \(Self.describe(node))")
            return []
        }
        var result: [GroupResources] = []
        for item in sequence {
            guard let map = mapping(item, what: "a 'resources' entry") else { continue }
            var gr = GroupResources()
            var groupMark: Mark?
            for (keyNode, value) in map {
                guard let key = Self.key(keyNode) else { continue }
                switch key {
                case "group":
                    groupMark = value.mark
                    gr.group = string(value, field: key) ?? ""
                case "resources": gr.resources = strings(value, field: key) ?? []
                case "resourceNames": gr.resourceNames = strings(value, field: key) ?? []
                default:
                    unknownField(key, keyNode.mark, valid: AuditPolicy.groupResourcesFields, context: "a resources entry")
                }
            }
            if !gr.group.isEmpty, let problem = dnsSubdomainProblem(gr.group) {
                report(.invalidValue, groupMark, "invalid group '\(gr.group)': \(problem)")
            }
            if !gr.resourceNames.isEmpty, gr.resources.isEmpty {
                report(.invalidValue, item.mark, "resourceNames requires at least one resource in 'resources'")
            }
            result.append(gr)
        }
        return result
    }
}

/// Why `group` is not a DNS-1123 subdomain (kube's rule for API group names), or nil.
func dnsSubdomainProblem(_ group: String) -> String? {
    if group == "*" {
        return "kube-apiserver has no group wildcard (groups are matched exactly); list the groups, or omit 'resources'"
    }
    if let slash = group.firstIndex(of: "/") {
        return "a group has no version; use '\(group[..<slash])'"
    }
    if group.utf8.count > 253 { return "longer than 253 characters" }
    for label in group.split(separator: ".", omittingEmptySubsequences: false) {
        let bytes = Array(label.utf8)
        let ok =
            !bytes.isEmpty
            && bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d }
            && bytes.first != 0x2d && bytes.last != 0x2d
        if !ok {
            return "must be a lowercase DNS subdomain (a-z, 0-9, '-' and '.', starting and ending alphanumeric)"
        }
    }
    return nil
}

/// The resolved YAML tag of a node (`!!str`, `!!int`, …).
func tagName(_ node: Node) -> Tag.Name {
    Tag.Name(rawValue: node.tag.rawValue)
}
