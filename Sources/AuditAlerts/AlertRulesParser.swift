import AuditModel
import Foundation
import Yams

struct SourceLoc: Sendable, Hashable, CustomStringConvertible {
    var source: String
    var line: Int
    var column: Int
    var description: String { "\(source):\(line):\(column)" }
}

/// A rule as written in one file: every field optional, so a file can override some fields of a built-in.
struct RuleSpec: Sendable {
    var name: String
    var location: SourceLoc
    var description: String?
    var severity: AlertSeverity?
    var condition: AlertCondition?
    var hasThreshold = false
    var threshold: AlertThreshold?
    var hasSuppress = false
    var suppress: TimeInterval?
    var message: MessageTemplate?
    var enabled: Bool?
    var hasStages = false
    var stages: Set<AlertStage>?
    /// Named lists the condition uses, with where.
    var listReferences: [(String, SourceLoc)] = []
}

/// A `lists:` entry: replace the list, or append to it.
struct ListSpec: Sendable {
    var name: String
    var values: [String]
    var append: Bool
    var location: SourceLoc
}

/// One parsed rules file.
struct RulesFileSpec: Sendable {
    var source: String
    var rules: [RuleSpec] = []
    var disable: [(String, SourceLoc)] = []
    var lists: [ListSpec] = []
    /// `sigmaFieldMap:` entries: a Sigma short name and the dotted paths it reads.
    var sigmaFieldMap: [(String, [String])] = []
}

/// Walks a composed YAML tree, collecting every diagnostic.
struct AlertRulesParser {
    static let apiVersion = "auditship.io/v1"
    static let kind = "AlertRules"
    static let topFields = ["apiVersion", "kind", "metadata", "rules", "disable", "lists", "sigmaFieldMap"]
    static let ruleFields = ["name", "description", "severity", "when", "threshold", "suppress", "message", "enabled", "stages"]
    static let thresholdFields = ["count", "window", "groupBy"]
    static let combinators = ["all", "any", "not"]
    static let operators = ["equals", "in", "prefix", "glob", "exists", "gt", "gte", "lt", "lte", "contains", "matches"]
    static let leafKeys = ["field"] + operators

    let source: String
    var diagnostics: [AlertDiagnostic] = []

    init(source: String) { self.source = source }

    // MARK: diagnostics

    func loc(_ mark: Mark?) -> SourceLoc {
        SourceLoc(source: source, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    mutating func report(_ code: AlertDiagnostic.Code, _ mark: Mark?, _ message: String) {
        diagnostics.append(
            AlertDiagnostic(code: code, source: source, line: mark?.line ?? 1, column: mark?.column ?? 1, message: message))
    }

    mutating func unknownKey(_ key: String, _ mark: Mark?, valid: [String], context: String, code: AlertDiagnostic.Code = .unknownField) {
        var message = "unknown field '\(key)' in \(context)"
        if code == .unknownOperator { message = "unknown operator '\(key)' in \(context)" }
        if let s = nearest(key, in: valid) {
            message += "; did you mean '\(s)'?"
        } else {
            message += "; valid: \(valid.joined(separator: ", "))"
        }
        report(code, mark, message)
    }

    static func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            if scalar.style == .plain || scalar.style == .any {
                switch Tag.Name(rawValue: node.tag.rawValue) {
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

    static func plainTag(_ node: Node) -> Tag.Name? {
        guard case .scalar(let s) = node, s.style == .plain || s.style == .any else { return nil }
        return Tag.Name(rawValue: node.tag.rawValue)
    }

    static func isNull(_ node: Node) -> Bool { plainTag(node) == .null }

    static func key(_ node: Node) -> String? {
        if case .scalar(let s) = node { return s.string }
        return nil
    }

    // MARK: scalars

    mutating func string(_ node: Node, field: String) -> String? {
        guard case .scalar(let scalar) = node else {
            report(.wrongType, node.mark, "'\(field)' must be a string, got \(Self.describe(node))")
            return nil
        }
        switch Self.plainTag(node) {
        case .null?, .bool?, .int?, .float?:
            report(.wrongType, node.mark, "'\(field)' must be a string, got \(Self.describe(node)); quote it if it is meant as text")
            return nil
        default: return scalar.string
        }
    }

    /// A scalar compared as text: strings, numbers (canonical form) and booleans.
    mutating func comparable(_ node: Node, field: String) -> String? {
        guard case .scalar(let scalar) = node else {
            report(.wrongType, node.mark, "'\(field)' must be a string, number or boolean, got \(Self.describe(node))")
            return nil
        }
        switch Self.plainTag(node) {
        case .null?:
            report(.wrongType, node.mark, "'\(field)' must be a string, number or boolean, got null; use 'exists: false' to test absence")
            return nil
        case .bool?: return bool(node, field: field).map { $0 ? "true" : "false" }
        case .int?, .float?:
            if let d = Double(scalar.string) { return canonicalNumber(d) }
            return scalar.string
        default: return scalar.string
        }
    }

    mutating func bool(_ node: Node, field: String) -> Bool? {
        if case .scalar(let scalar) = node, Self.plainTag(node) == .bool {
            switch scalar.string.lowercased() {
            case "true", "yes", "on", "y": return true
            default: return false
            }
        }
        report(.wrongType, node.mark, "'\(field)' must be true or false, got \(Self.describe(node))")
        return nil
    }

    mutating func number(_ node: Node, field: String) -> Double? {
        if case .scalar(let scalar) = node, let tag = Self.plainTag(node), tag == .int || tag == .float,
           let d = Double(scalar.string) {
            return d
        }
        report(.wrongType, node.mark, "'\(field)' must be a number, got \(Self.describe(node))")
        return nil
    }

    mutating func strings(_ node: Node, field: String) -> [String]? {
        if Self.isNull(node) { return [] }
        guard case .sequence(let seq) = node else {
            report(.wrongType, node.mark, "'\(field)' must be a list of strings, got \(Self.describe(node))")
            return nil
        }
        var out: [String] = []
        var ok = true
        for item in seq {
            if let s = comparable(item, field: "\(field)[]") { out.append(s) } else { ok = false }
        }
        return ok ? out : nil
    }

    /// A list of values, `{list: NAME}`, or (when `singleAllowed`) one string.
    mutating func valueList(_ node: Node, field: String, singleAllowed: Bool, refs: inout [(String, SourceLoc)]) -> AlertValueList? {
        switch node {
        case .mapping(let inner):
            var listName: String?
            var ok = true
            for (k, v) in inner {
                guard let key = Self.key(k) else { continue }
                if key == "list" {
                    listName = string(v, field: "\(field).list")
                    if listName == nil { ok = false }
                } else {
                    unknownKey(key, k.mark, valid: ["list"], context: "'\(field)'")
                    ok = false
                }
            }
            guard ok else { return nil }
            guard let listName else {
                report(.missingField, node.mark, "'\(field)' takes a list of values or {list: NAME}")
                return nil
            }
            refs.append((listName, loc(node.mark)))
            return .named(listName)
        case .sequence:
            guard let values = strings(node, field: field) else { return nil }
            if values.isEmpty {
                report(.invalidValue, node.mark, "'\(field)' must not be an empty list")
                return nil
            }
            return .literal(values)
        default:
            if singleAllowed, let s = string(node, field: field) { return .literal([s]) }
            if !singleAllowed {
                report(.wrongType, node.mark, "'\(field)' must be a list of values or {list: NAME}, got \(Self.describe(node))")
            }
            return nil
        }
    }

    mutating func duration(_ node: Node, field: String) -> TimeInterval? {
        guard case .scalar(let scalar) = node else {
            report(.wrongType, node.mark, "'\(field)' must be a duration such as 30s, 5m or 1h, got \(Self.describe(node))")
            return nil
        }
        switch parseDuration(scalar.string) {
        case .success(let d): return d
        case .failure(let e):
            report(.invalidValue, node.mark, "'\(field)': \(e.message)")
            return nil
        }
    }

    mutating func field(_ node: Node, what: String) -> EventField? {
        guard let text = string(node, field: what) else { return nil }
        switch EventField.parse(text) {
        case .success(let f): return f
        case .failure(let e):
            report(.unknownEventField, node.mark, e.message)
            return nil
        }
    }

    // MARK: document

    /// Largest rules file accepted, in bytes, and most rules in one file.
    static let maxDocumentBytes = 1 << 20
    static let maxRules = 10_000

    mutating func parse(_ yaml: String) -> RulesFileSpec? {
        let size = yaml.utf8.count
        guard size <= Self.maxDocumentBytes else {
            report(.tooLarge, nil, "the rules file is \(size) bytes; the limit is \(Self.maxDocumentBytes) bytes (1 MiB)")
            return nil
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            reportYAML(error)
            return nil
        } catch {
            report(.yamlSyntax, nil, "YAML error: \(error)")
            return nil
        }
        guard let root else {
            report(.notAlertRules, nil, "empty document; expected 'apiVersion: \(Self.apiVersion)' and 'kind: \(Self.kind)'")
            return nil
        }
        guard case .mapping(let top) = root else {
            report(.notAlertRules, root.mark, "the document must be a mapping with apiVersion, kind and rules, got \(Self.describe(root))")
            return nil
        }
        var file = RulesFileSpec(source: source)
        var apiVersion: String?
        var kind: String?
        var sawRules = false
        for (keyNode, value) in top {
            guard let key = Self.key(keyNode) else {
                report(.wrongType, keyNode.mark, "keys must be strings")
                continue
            }
            switch key {
            case "apiVersion":
                apiVersion = string(value, field: key)
                if let v = apiVersion, v != Self.apiVersion {
                    report(.notAlertRules, value.mark, "unsupported apiVersion '\(v)'; expected \(Self.apiVersion)")
                }
            case "kind":
                kind = string(value, field: key)
                if let k = kind, k != Self.kind {
                    var message = "kind '\(k)' is not \(Self.kind)"
                    if let s = nearest(k, in: [Self.kind]) { message += "; did you mean '\(s)'?" }
                    report(.notAlertRules, value.mark, message)
                }
            case "metadata":
                if !Self.isNull(value), case .mapping = value {} else if !Self.isNull(value) {
                    report(.wrongType, value.mark, "'metadata' must be a mapping, got \(Self.describe(value))")
                }
            case "rules":
                sawRules = true
                if Self.isNull(value) { continue }
                guard case .sequence(let seq) = value else {
                    report(.wrongType, value.mark, "'rules' must be a list of rules, got \(Self.describe(value))")
                    continue
                }
                guard seq.count <= Self.maxRules else {
                    report(.tooLarge, keyNode.mark, "the file has \(seq.count) rules; the limit is \(Self.maxRules)")
                    continue
                }
                for (i, item) in seq.enumerated() {
                    if let rule = parseRule(item, index: i) { file.rules.append(rule) }
                }
            case "disable":
                if Self.isNull(value) { continue }
                guard case .sequence(let seq) = value else {
                    report(.wrongType, value.mark, "'disable' must be a list of rule names, got \(Self.describe(value))")
                    continue
                }
                for item in seq {
                    if let name = string(item, field: "disable[]") { file.disable.append((name, loc(item.mark))) }
                }
            case "lists":
                parseLists(value, into: &file)
            case "sigmaFieldMap":
                sawRules = true
                parseSigmaFieldMap(value, into: &file)
            default:
                unknownKey(key, keyNode.mark, valid: Self.topFields, context: "AlertRules")
            }
        }
        if kind == nil {
            report(.missingField, root.mark, "missing field 'kind' (expected 'kind: \(Self.kind)')")
        }
        if apiVersion == nil {
            report(.missingField, root.mark, "missing field 'apiVersion' (expected 'apiVersion: \(Self.apiVersion)')")
        }
        if !sawRules, file.disable.isEmpty, file.lists.isEmpty {
            report(.missingField, root.mark, "missing field 'rules' (a file needs rules, disable, lists or sigmaFieldMap)")
        }
        var seen: [String: SourceLoc] = [:]
        for rule in file.rules {
            if let first = seen[rule.name] {
                diagnostics.append(
                    AlertDiagnostic(
                        code: .duplicateRule, source: source, line: rule.location.line, column: rule.location.column,
                        message: "duplicate rule name '\(rule.name)' (first defined at \(first))"))
            } else {
                seen[rule.name] = rule.location
            }
        }
        return file
    }

    mutating func parseLists(_ node: Node, into file: inout RulesFileSpec) {
        if Self.isNull(node) { return }
        guard case .mapping(let map) = node else {
            report(.wrongType, node.mark, "'lists' must be a mapping of list names to lists, got \(Self.describe(node))")
            return
        }
        for (keyNode, value) in map {
            guard let name = Self.key(keyNode) else { continue }
            if case .mapping(let inner) = value {
                // {append: [..]}
                var found = false
                for (k, v) in inner {
                    guard let key = Self.key(k) else { continue }
                    if key == "append" {
                        found = true
                        if let values = strings(v, field: "lists.\(name).append") {
                            file.lists.append(ListSpec(name: name, values: values, append: true, location: loc(keyNode.mark)))
                        }
                    } else {
                        unknownKey(key, k.mark, valid: ["append"], context: "list '\(name)'")
                    }
                }
                if !found { report(.missingField, value.mark, "list '\(name)': expected a list or {append: [...]}") }
            } else if let values = strings(value, field: "lists.\(name)") {
                file.lists.append(ListSpec(name: name, values: values, append: false, location: loc(keyNode.mark)))
            }
        }
    }

    /// `sigmaFieldMap: {NAME: path or [paths]}` (see `SigmaFieldMapping`).
    mutating func parseSigmaFieldMap(_ node: Node, into file: inout RulesFileSpec) {
        if Self.isNull(node) { return }
        guard case .mapping(let map) = node else {
            report(.wrongType, node.mark, "'sigmaFieldMap' must be a mapping of Sigma field names to dotted paths, got \(Self.describe(node))")
            return
        }
        for (keyNode, value) in map {
            guard let name = Self.key(keyNode) else { continue }
            var paths: [String] = []
            if case .sequence(let seq) = value {
                for item in seq { if let p = string(item, field: "sigmaFieldMap.\(name)[]") { paths.append(p) } }
                if paths.count != seq.count { continue }
            } else if let p = string(value, field: "sigmaFieldMap.\(name)") {
                paths = [p]
            } else {
                continue
            }
            if paths.isEmpty || paths.contains(where: { $0.isEmpty || $0.hasPrefix(".") || $0.hasSuffix(".") }) {
                report(.invalidValue, value.mark, "'sigmaFieldMap.\(name)' must be one or more dotted paths such as objectRef.apiGroup")
                continue
            }
            file.sigmaFieldMap.append((name, paths))
        }
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
        default:
            report(.yamlSyntax, nil, "YAML error: \(error)")
        }
    }

    // MARK: rules

    mutating func parseRule(_ node: Node, index: Int) -> RuleSpec? {
        guard case .mapping(let map) = node else {
            report(.wrongType, node.mark, "rule #\(index + 1) must be a mapping, got \(Self.describe(node))")
            return nil
        }
        var name: String?
        for (k, v) in map where Self.key(k) == "name" { name = string(v, field: "name") }
        guard let name, !name.isEmpty else {
            if name == nil, !map.contains(where: { Self.key($0.key) == "name" }) {
                report(.missingField, node.mark, "rule #\(index + 1) has no 'name'")
            } else if name != nil {
                report(.invalidValue, node.mark, "rule #\(index + 1) has an empty 'name'")
            }
            // Still check the rest for errors.
            var scratch = RuleSpec(name: "", location: loc(node.mark))
            fill(&scratch, map, context: "rule #\(index + 1)")
            return nil
        }
        var rule = RuleSpec(name: name, location: loc(node.mark))
        fill(&rule, map, context: "rule '\(name)'")
        return rule
    }

    mutating func fill(_ rule: inout RuleSpec, _ map: Node.Mapping, context: String) {
        for (keyNode, value) in map {
            guard let key = Self.key(keyNode) else { continue }
            switch key {
            case "name": break
            case "description": rule.description = string(value, field: key)
            case "severity":
                guard let text = string(value, field: key) else { continue }
                if let s = AlertSeverity(rawValue: text.lowercased()) {
                    rule.severity = s
                } else {
                    let valid = AlertSeverity.allCases.map(\.rawValue)
                    var message = "unknown severity '\(text)'"
                    if let s = nearest(text, in: valid) { message += "; did you mean '\(s)'?" }
                    message += " (valid: \(valid.joined(separator: ", ")))"
                    report(.invalidValue, value.mark, message)
                }
            case "when":
                var refs: [(String, SourceLoc)] = []
                rule.condition = condition(value, path: "when", refs: &refs)
                rule.listReferences = refs
            case "threshold":
                rule.hasThreshold = true
                if Self.isNull(value) { continue }
                rule.threshold = threshold(value, context: context)
            case "suppress":
                rule.hasSuppress = true
                if Self.isNull(value) { continue }
                rule.suppress = duration(value, field: key)
            case "message":
                guard let text = string(value, field: key) else { continue }
                switch MessageTemplate.parse(text) {
                case .success(let t): rule.message = t
                case .failure(let e): report(.unknownEventField, value.mark, e.message)
                }
            case "enabled": rule.enabled = bool(value, field: key)
            case "stages":
                rule.hasStages = true
                if Self.isNull(value) { continue }
                rule.stages = stages(value)
            default:
                unknownKey(key, keyNode.mark, valid: Self.ruleFields, context: context)
            }
        }
    }

    mutating func stages(_ node: Node) -> Set<AlertStage>? {
        guard case .sequence(let seq) = node, !seq.isEmpty else {
            report(.wrongType, node.mark, "'stages' must be a non-empty list of stages, got \(Self.describe(node))")
            return nil
        }
        var out: Set<AlertStage> = []
        var ok = true
        for item in seq {
            guard let text = string(item, field: "stages[]") else {
                ok = false
                continue
            }
            if let s = AlertStage(rawValue: text) {
                out.insert(s)
            } else {
                ok = false
                let valid = AlertStage.allCases.map(\.rawValue)
                var message = "unknown stage '\(text)'"
                if let s = nearest(text, in: valid) { message += "; did you mean '\(s)'?" }
                message += " (valid: \(valid.joined(separator: ", ")))"
                report(.invalidValue, item.mark, message)
            }
        }
        return ok ? out : nil
    }

    mutating func threshold(_ node: Node, context: String) -> AlertThreshold? {
        guard case .mapping(let map) = node else {
            report(.wrongType, node.mark, "'threshold' must be a mapping {count, window, groupBy}, got \(Self.describe(node))")
            return nil
        }
        var count: Int?
        var window: TimeInterval?
        var groupBy: [EventField] = []
        var ok = true
        for (keyNode, value) in map {
            guard let key = Self.key(keyNode) else { continue }
            switch key {
            case "count":
                if case .scalar(let s) = value, Self.plainTag(value) == .int, let n = Int(s.string) {
                    if n >= 1 { count = n } else {
                        report(.invalidValue, value.mark, "'threshold.count' must be at least 1, got \(n)")
                        ok = false
                    }
                } else {
                    report(.wrongType, value.mark, "'threshold.count' must be an integer, got \(Self.describe(value))")
                    ok = false
                }
            case "window":
                window = duration(value, field: "threshold.window")
                if window == nil { ok = false }
            case "groupBy":
                if case .sequence(let seq) = value {
                    for item in seq {
                        if let f = field(item, what: "threshold.groupBy[]") { groupBy.append(f) } else { ok = false }
                    }
                } else if case .scalar = value, !Self.isNull(value) {
                    if let f = field(value, what: "threshold.groupBy") { groupBy.append(f) } else { ok = false }
                } else if !Self.isNull(value) {
                    report(.wrongType, value.mark, "'threshold.groupBy' must be a list of fields, got \(Self.describe(value))")
                    ok = false
                }
            default:
                unknownKey(key, keyNode.mark, valid: Self.thresholdFields, context: "the threshold of \(context)")
                ok = false
            }
        }
        if count == nil, ok {
            report(.missingField, node.mark, "'threshold' needs 'count'")
            ok = false
        }
        if window == nil, ok {
            report(.missingField, node.mark, "'threshold' needs 'window' (a duration such as 5m)")
            ok = false
        }
        guard ok, let count, let window else { return nil }
        return AlertThreshold(count: count, window: window, groupBy: groupBy)
    }

    // MARK: conditions

    mutating func condition(_ node: Node, path: String, refs: inout [(String, SourceLoc)]) -> AlertCondition? {
        guard case .mapping(let map) = node else {
            report(.wrongType, node.mark, "'\(path)' must be a condition mapping (all, any, not, or field with an operator), got \(Self.describe(node))")
            return nil
        }
        let keys = map.compactMap { Self.key($0.key) }
        if let combinator = keys.first(where: { Self.combinators.contains($0) }) {
            var result: AlertCondition?
            for (keyNode, value) in map {
                guard let key = Self.key(keyNode) else { continue }
                if key != combinator {
                    report(
                        .unknownOperator, keyNode.mark,
                        "'\(key)' cannot stand beside '\(combinator)' in one mapping; put each condition in its own list item")
                    continue
                }
                switch key {
                case "not":
                    if let inner = condition(value, path: "\(path).not", refs: &refs) { result = .not(inner) }
                default:
                    guard case .sequence(let seq) = value else {
                        report(.wrongType, value.mark, "'\(key)' must be a list of conditions, got \(Self.describe(value))")
                        continue
                    }
                    var items: [AlertCondition] = []
                    var ok = true
                    for (i, item) in seq.enumerated() {
                        if let c = condition(item, path: "\(path).\(key)[\(i)]", refs: &refs) { items.append(c) } else { ok = false }
                    }
                    if ok { result = key == "all" ? .all(items) : .any(items) }
                }
            }
            return result
        }
        // A leaf: field + one operator.
        var field: EventField?
        var sawField = false
        var tests: [(AlertTest, Mark?)] = []
        var ok = true
        for (keyNode, value) in map {
            guard let key = Self.key(keyNode) else { continue }
            switch key {
            case "field":
                sawField = true
                field = self.field(value, what: "field")
                if field == nil { ok = false }
            case "equals":
                if let v = comparable(value, field: key) { tests.append((.equals(v), keyNode.mark)) } else { ok = false }
            case "in", "prefix", "glob":
                guard let list = valueList(value, field: key, singleAllowed: key != "in", refs: &refs) else {
                    ok = false
                    continue
                }
                let test: AlertTest = key == "in" ? .oneOf(list) : key == "prefix" ? .prefix(list) : .glob(list)
                tests.append((test, keyNode.mark))
            case "exists":
                if let v = bool(value, field: key) { tests.append((.exists(v), keyNode.mark)) } else { ok = false }
            case "gt", "gte", "lt", "lte":
                guard let d = number(value, field: key) else {
                    ok = false
                    continue
                }
                let test: AlertTest =
                    switch key {
                    case "gt": .greaterThan(d)
                    case "gte": .greaterOrEqual(d)
                    case "lt": .lessThan(d)
                    default: .lessOrEqual(d)
                    }
                tests.append((test, keyNode.mark))
            case "contains":
                if let v = comparable(value, field: key) { tests.append((.contains(v), keyNode.mark)) } else { ok = false }
            case "matches":
                guard let pattern = string(value, field: key) else {
                    ok = false
                    continue
                }
                do {
                    _ = try NSRegularExpression(pattern: pattern)
                    tests.append((.matches(pattern), keyNode.mark))
                } catch {
                    report(.invalidValue, value.mark, "'matches': invalid regular expression '\(pattern)'")
                    ok = false
                }
            default:
                unknownKey(key, keyNode.mark, valid: Self.leafKeys + Self.combinators, context: "a condition", code: .unknownOperator)
                ok = false
            }
        }
        if !sawField {
            if ok {
                report(
                    .missingField, node.mark,
                    "condition at '\(path)' has no 'field' (a condition is all/any/not, or field with one of \(Self.operators.joined(separator: ", ")))")
            }
            return nil
        }
        if tests.isEmpty {
            if ok {
                report(.missingField, node.mark, "condition on '\(field?.text ?? "?")' has no operator (one of \(Self.operators.joined(separator: ", ")))")
            }
            return nil
        }
        if tests.count > 1 {
            report(
                .unknownOperator, tests[1].1,
                "a condition has one operator; combine several with 'all: [...]' (found \(tests.count) on '\(field?.text ?? "?")')")
            return nil
        }
        guard ok, let field, let test = tests.first?.0 else { return nil }
        return .test(field, test)
    }
}

/// Parses `30s`, `5m`, `1h30m`, `500ms`, `2d` into seconds (must be positive).
func parseDuration(_ text: String) -> Result<TimeInterval, EventFieldError> {
    let s = text.trimmingCharacters(in: .whitespaces)
    let bad = EventFieldError(message: "invalid duration '\(text)'; use a number and a unit (ms, s, m, h, d), like 30s, 5m or 1h30m")
    guard !s.isEmpty else { return .failure(bad) }
    var total = 0.0
    var chars = Substring(s)
    while !chars.isEmpty {
        let numberEnd = chars.firstIndex { !($0.isNumber || $0 == ".") } ?? chars.endIndex
        guard numberEnd > chars.startIndex, let value = Double(chars[..<numberEnd]) else { return .failure(bad) }
        chars = chars[numberEnd...]
        let unitEnd = chars.firstIndex { $0.isNumber || $0 == "." } ?? chars.endIndex
        let unit = chars[..<unitEnd]
        chars = chars[unitEnd...]
        switch unit {
        case "ms": total += value / 1000
        case "s": total += value
        case "m": total += value * 60
        case "h": total += value * 3600
        case "d": total += value * 86400
        default: return .failure(bad)
        }
    }
    guard total > 0 else { return .failure(EventFieldError(message: "duration '\(text)' must be positive")) }
    return .success(total)
}
