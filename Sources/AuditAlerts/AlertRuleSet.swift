import AuditModel
import Foundation

/// The text of one rules file and a label for messages (usually its path).
public struct AlertRulesSource: Sendable, Hashable {
    public var yaml: String
    public var source: String

    public init(yaml: String, source: String) {
        self.yaml = yaml
        self.source = source
    }
}

/// The effective rules: the built-in pack (unless left out) with user files applied in order.
///
/// A user file (`apiVersion: auditship.io/v1`, `kind: AlertRules`) may:
/// - add rules (a new name needs `severity`, `when` and `message`);
/// - override a built-in rule by naming it: the fields it gives replace the built-in's, the others are
///   kept (so `{name: pod-exec, severity: critical}` only raises the severity, and
///   `{name: pod-exec, enabled: false}` turns it off);
/// - `disable: [names]` of built-in rules;
/// - set `lists:` used by `in: {list: NAME}` — a list replaces the one of that name, `{append: [...]}` adds to it.
///   The pack's lists: see `BuiltinAlertRules`;
/// - set `sigmaFieldMap:` for the Sigma rules loaded with it (see `SigmaFieldMapping`).
///
/// Sigma rule files (and directories of them) load beside these: see `SigmaRule.swift`.
public struct AlertRuleSet: Sendable {
    /// Every rule, enabled or not, built-ins first (in pack order), then new rules in file order.
    public private(set) var rules: [AlertRule]
    /// Named value lists after every file was applied.
    public private(set) var lists: [String: [String]]
    /// What loading reported without failing: Sigma rules skipped (another log source, deprecated) and
    /// Sigma filters naming no loaded rule, each `file:line:col: message`.
    public private(set) var warnings: [AlertDiagnostic] = []
    /// The Sigma field mapping in effect (`SigmaFieldMapping.defaults` with `sigmaFieldMap:` entries applied).
    public private(set) var sigmaFieldMap: [String: [String]] = SigmaFieldMapping.defaults

    public init(rules: [AlertRule], lists: [String: [String]] = [:]) {
        self.rules = rules
        self.lists = lists
    }

    /// This set with only the named rules enabled (lists and everything else kept).
    public func keeping(only names: Set<String>) -> AlertRuleSet {
        var copy = self
        copy.rules = rules.map { r in
            var r = r
            r.enabled = r.enabled && names.contains(r.name)
            return r
        }
        return copy
    }

    /// The rules the engine evaluates.
    public var enabledRules: [AlertRule] { rules.filter(\.enabled) }

    /// The rule named `name`.
    public func rule(named name: String) -> AlertRule? { rules.first { $0.name == name } }

    /// The built-in pack alone. Loading it is checked by the tests; should it ever fail, this is empty
    /// and `builtinLoadError` says why.
    public static let builtin: AlertRuleSet = (try? load(files: [], includeBuiltins: true)) ?? AlertRuleSet(rules: [])

    /// Why the built-in pack failed to load (nil when it loads: always, unless the pack was edited badly).
    public static var builtinLoadError: AlertRulesError? {
        do {
            _ = try load(files: [], includeBuiltins: true)
            return nil
        } catch { return error }
    }

    /// Loads one file on top of the pack.
    public static func load(yaml: String, source: String, includeBuiltins: Bool = true) throws(AlertRulesError) -> AlertRuleSet {
        try load(files: [AlertRulesSource(yaml: yaml, source: source)], includeBuiltins: includeBuiltins)
    }

    /// Reads and loads files on top of the pack. A path that is a directory stands for every `.yml` and
    /// `.yaml` file in it (not in its subdirectories), sorted by name. Each file is our format or a Sigma
    /// document, told apart by content (see `SigmaParser.looksLikeSigma`).
    public static func load(paths: [String], includeBuiltins: Bool = true) throws(AlertRulesError) -> AlertRuleSet {
        var sources: [AlertRulesSource] = []
        var errors: [AlertDiagnostic] = []
        func cannotRead(_ path: String, _ why: String) {
            errors.append(AlertDiagnostic(code: .yamlSyntax, source: path, line: 1, column: 1, message: why))
        }
        for path in paths {
            var isDirectory: ObjCBool = false
            var files = [path]
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else {
                    cannotRead(path, "cannot list the directory")
                    continue
                }
                files = names.filter { $0.hasSuffix(".yml") || $0.hasSuffix(".yaml") }.sorted().map { (path as NSString).appendingPathComponent($0) }
                if files.isEmpty { cannotRead(path, "the directory has no .yml or .yaml file") }
            }
            for file in files {
                do {
                    let text = try String(contentsOfFile: file, encoding: .utf8)
                    sources.append(AlertRulesSource(yaml: text, source: file))
                } catch {
                    cannotRead(file, "cannot read the file: \(error.localizedDescription)")
                }
            }
        }
        if !errors.isEmpty { throw AlertRulesError(diagnostics: errors) }
        return try load(files: sources, includeBuiltins: includeBuiltins)
    }

    /// Parses every file (collecting every error of every file) and merges them onto the pack; Sigma
    /// files become rules after ours (see `SigmaRule.swift`), their skips go to `warnings`.
    public static func load(files: [AlertRulesSource], includeBuiltins: Bool = true) throws(AlertRulesError) -> AlertRuleSet {
        var diagnostics: [AlertDiagnostic] = []
        var warnings: [AlertDiagnostic] = []
        var specs: [RulesFileSpec] = []
        var sigma = SigmaFileSpec()
        let all = (includeBuiltins ? [AlertRulesSource(yaml: BuiltinAlertRules.yaml, source: BuiltinAlertRules.source)] : []) + files
        for (i, file) in all.enumerated() {
            if !(includeBuiltins && i == 0), SigmaParser.looksLikeSigma(file.yaml) {
                let size = file.yaml.utf8.count
                guard size <= AlertRulesParser.maxDocumentBytes else {
                    diagnostics.append(AlertDiagnostic(
                        code: .tooLarge, source: file.source, line: 1, column: 1,
                        message: "the rules file is \(size) bytes; the limit is \(AlertRulesParser.maxDocumentBytes) bytes (1 MiB)"))
                    continue
                }
                var parser = SigmaParser(source: file.source)
                parser.parse(file.yaml)
                diagnostics += parser.diagnostics
                warnings += parser.warnings
                sigma.rules += parser.file.rules
                sigma.filters += parser.file.filters
                continue
            }
            var parser = AlertRulesParser(source: file.source)
            let spec = parser.parse(file.yaml)
            diagnostics += parser.diagnostics
            if let spec { specs.append(spec) }
        }
        guard diagnostics.isEmpty else { throw AlertRulesError(diagnostics: diagnostics) }

        var merger = Merger()
        for (i, spec) in specs.enumerated() {
            merger.apply(spec, isBuiltin: includeBuiltins && i == 0)
        }
        var result = merger.finish()
        var fieldMap = SigmaFieldMapping.defaults
        for (name, paths) in merger.sigmaFieldMap { fieldMap[name] = paths }
        var compiler = SigmaCompiler(fieldMap: fieldMap)
        let taken = Dictionary(result.rules.map { ($0.name, $0.origin) }, uniquingKeysWith: { a, _ in a })
        let sigmaRules = compiler.compile(sigma, taken: taken)
        let errors = merger.diagnostics + compiler.diagnostics
        if !errors.isEmpty { throw AlertRulesError(diagnostics: errors) }
        result.rules += sigmaRules
        result.warnings = warnings + compiler.warnings
        result.sigmaFieldMap = fieldMap
        return result
    }
}

private struct Merger {
    var order: [String] = []
    var specs: [String: RuleSpec] = [:]
    var builtinNames: Set<String> = []
    var userDefined: [String: SourceLoc] = [:]
    var disabled: Set<String> = []
    var lists: [String: [String]] = [:]
    var sigmaFieldMap: [(String, [String])] = []
    var diagnostics: [AlertDiagnostic] = []

    mutating func error(_ code: AlertDiagnostic.Code, _ at: SourceLoc, _ message: String) {
        diagnostics.append(AlertDiagnostic(code: code, source: at.source, line: at.line, column: at.column, message: message))
    }

    mutating func apply(_ file: RulesFileSpec, isBuiltin: Bool) {
        sigmaFieldMap += file.sigmaFieldMap
        for list in file.lists {
            if list.append { lists[list.name, default: []] += list.values } else { lists[list.name] = list.values }
        }
        for (name, at) in file.disable {
            if builtinNames.contains(name) {
                disabled.insert(name)
            } else {
                var message = "cannot disable '\(name)': no built-in rule has that name"
                if let s = nearest(name, in: Array(builtinNames).sorted()) { message += "; did you mean '\(s)'?" }
                error(.unknownName, at, message)
            }
        }
        for rule in file.rules {
            if isBuiltin {
                builtinNames.insert(rule.name)
                order.append(rule.name)
                specs[rule.name] = rule
                continue
            }
            if let first = userDefined[rule.name], first.source != rule.location.source {
                error(.duplicateRule, rule.location, "rule '\(rule.name)' is already defined at \(first)")
                continue
            }
            userDefined[rule.name] = rule.location
            if let base = specs[rule.name], builtinNames.contains(rule.name) {
                specs[rule.name] = merge(base, rule)
            } else {
                order.append(rule.name)
                specs[rule.name] = rule
            }
        }
    }

    func merge(_ base: RuleSpec, _ over: RuleSpec) -> RuleSpec {
        var r = base
        r.location = over.location
        if let v = over.description { r.description = v }
        if let v = over.severity { r.severity = v }
        if let v = over.condition {
            r.condition = v
            r.listReferences = over.listReferences
        }
        if over.hasThreshold {
            r.hasThreshold = true
            r.threshold = over.threshold
        }
        if over.hasSuppress {
            r.hasSuppress = true
            r.suppress = over.suppress
        }
        if let v = over.message { r.message = v }
        if let v = over.enabled { r.enabled = v }
        if over.hasStages {
            r.hasStages = true
            r.stages = over.stages
        }
        return r
    }

    mutating func finish() -> AlertRuleSet {
        var rules: [AlertRule] = []
        for name in order {
            guard let spec = specs[name] else { continue }
            var missing: [String] = []
            if spec.severity == nil { missing.append("severity") }
            if spec.condition == nil { missing.append("when") }
            if spec.message == nil { missing.append("message") }
            if !missing.isEmpty {
                error(.missingField, spec.location, "rule '\(name)' is missing \(missing.map { "'\($0)'" }.joined(separator: ", "))")
                continue
            }
            for (list, at) in spec.listReferences where lists[list] == nil {
                var message = "rule '\(name)' uses unknown list '\(list)'"
                if let s = nearest(list, in: lists.keys.sorted()) { message += "; did you mean '\(s)'?" }
                error(.unknownName, at, message)
            }
            guard let severity = spec.severity, let condition = spec.condition, let message = spec.message else { continue }
            rules.append(
                AlertRule(
                    name: name, description: spec.description ?? "", severity: severity, condition: condition,
                    threshold: spec.threshold, suppress: spec.suppress, message: message,
                    enabled: (spec.enabled ?? true) && !disabled.contains(name), stages: spec.stages,
                    origin: spec.location.description, isBuiltin: builtinNames.contains(name)))
        }
        return AlertRuleSet(rules: rules, lists: lists)
    }
}
