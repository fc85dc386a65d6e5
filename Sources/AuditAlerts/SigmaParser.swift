// Parses Sigma documents (see `SigmaRule.swift` for what is supported, skipped and refused).
import AuditModel
import Foundation
import Yams

/// Walks the YAML documents of one Sigma file, collecting rules, filters, errors and warnings.
struct SigmaParser {
    let source: String
    var diagnostics: [AlertDiagnostic] = []
    var warnings: [AlertDiagnostic] = []
    var file = SigmaFileSpec()

    init(source: String) { self.source = source }

    /// Modifiers we implement.
    static let supportedModifiers = ["contains", "startswith", "endswith", "all", "cased", "re", "i", "m", "s", "exists", "cidr", "gt", "gte", "lt", "lte"]
    /// Modifiers of the specification we refuse.
    static let refusedModifiers = [
        "base64", "base64offset", "utf16le", "utf16be", "utf16", "wide", "windash", "neq", "fieldref",
        "minute", "hour", "day", "week", "month", "year",
    ]

    /// True when the text is a Sigma document rather than our format: a top-level `detection:`,
    /// `logsource:` or `correlation:` key.
    static func looksLikeSigma(_ yaml: String) -> Bool {
        for line in yaml.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("detection:") || line.hasPrefix("logsource:") || line.hasPrefix("correlation:") { return true }
        }
        return false
    }

    func loc(_ mark: Mark?) -> SourceLoc { SourceLoc(source: source, line: mark?.line ?? 1, column: mark?.column ?? 1) }

    mutating func error(_ code: AlertDiagnostic.Code, _ mark: Mark?, _ message: String) {
        diagnostics.append(AlertDiagnostic(code: code, source: source, line: mark?.line ?? 1, column: mark?.column ?? 1, message: message))
    }

    mutating func error(_ code: AlertDiagnostic.Code, at: SourceLoc, _ message: String) {
        diagnostics.append(AlertDiagnostic(code: code, source: source, line: at.line, column: at.column, message: message))
    }

    mutating func refuse(_ mark: Mark?, _ feature: String) {
        error(.unsupportedSigma, mark, "unsupported Sigma feature: \(feature)")
    }

    mutating func refuse(at: SourceLoc, _ feature: String) {
        error(.unsupportedSigma, at: at, "unsupported Sigma feature: \(feature)")
    }

    static func key(_ node: Node) -> String? {
        if case .scalar(let s) = node { return s.string }
        return nil
    }

    static func value(_ map: Node.Mapping, _ key: String) -> Node? {
        map.first { Self.key($0.key) == key }?.value
    }

    mutating func string(_ node: Node?, field: String) -> String? {
        guard let node else { return nil }
        guard case .scalar(let s) = node, AlertRulesParser.plainTag(node) != .null else {
            error(.wrongType, node.mark, "'\(field)' must be a string, got \(AlertRulesParser.describe(node))")
            return nil
        }
        return s.string
    }

    // MARK: documents

    mutating func parse(_ yaml: String) {
        let documents: [Node]
        do {
            documents = Array(try Yams.compose_all(yaml: yaml))
        } catch {
            var rules = AlertRulesParser(source: source)
            if let e = error as? YamlError { rules.reportYAML(e) } else { rules.report(.yamlSyntax, nil, "YAML error: \(error)") }
            diagnostics += rules.diagnostics
            return
        }
        for document in documents { parseDocument(document) }
    }

    mutating func parseDocument(_ node: Node) {
        guard case .mapping(let top) = node else {
            error(.notAlertRules, node.mark, "a Sigma document must be a mapping, got \(AlertRulesParser.describe(node))")
            return
        }
        if let c = top.first(where: { Self.key($0.key) == "correlation" }) { return refuse(c.key.mark, "correlation rules ('correlation:')") }
        if let a = top.first(where: { Self.key($0.key) == "action" }) {
            return refuse(a.key.mark, "rule collections ('action: \(Self.key(a.value) ?? "")')")
        }
        let title = string(Self.value(top, "title"), field: "title")
        guard let title, !title.isEmpty else {
            if Self.value(top, "title") == nil { error(.missingField, node.mark, "a Sigma document needs a 'title'") }
            return
        }
        if let status = Self.value(top, "status").flatMap(Self.key), status == "deprecated" || status == "unsupported" {
            warnings.append(AlertDiagnostic(code: .skippedSigma, source: source, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1,
                                            message: "skipped Sigma rule '\(title)': status \(status)"))
            return
        }
        let what = Self.value(top, "filter") == nil ? "rule" : "filter"
        guard logsourceIsAudit(top, title: title, what: what, at: node.mark) else { return }
        if let filter = Self.value(top, "filter") {
            parseFilter(filter, title: title, at: node.mark)
            return
        }
        guard let detection = Self.value(top, "detection") else {
            error(.missingField, node.mark, "Sigma rule '\(title)' has no 'detection'")
            return
        }
        var level = SigmaLevel.medium
        if let levelNode = Self.value(top, "level"), let text = string(levelNode, field: "level") {
            if let l = SigmaLevel(rawValue: text.lowercased()) {
                level = l
            } else {
                error(.invalidValue, levelNode.mark,
                      "unknown Sigma level '\(text)' (valid: \(SigmaLevel.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }
        let id = Self.value(top, "id").flatMap { string($0, field: "id") }
        let description = Self.value(top, "description").flatMap { string($0, field: "description") } ?? ""
        guard let parsed = parseDetection(detection, what: "detection") else { return }
        file.rules.append(SigmaRuleSpec(title: title, id: id, level: level, description: description, detection: parsed, location: loc(node.mark)))
    }

    /// True for product kubernetes + service audit (category absent or application); else a warning.
    mutating func logsourceIsAudit(_ top: Node.Mapping, title: String, what: String, at mark: Mark?) -> Bool {
        guard let node = Self.value(top, "logsource") else {
            error(.missingField, mark, "Sigma \(what) '\(title)' has no 'logsource'")
            return false
        }
        guard case .mapping(let map) = node else {
            error(.wrongType, node.mark, "'logsource' must be a mapping, got \(AlertRulesParser.describe(node))")
            return false
        }
        var fields: [String: String] = [:]
        for (k, v) in map {
            if let key = Self.key(k), let value = Self.key(v) { fields[key] = value }
        }
        let product = fields["product"]?.lowercased(), service = fields["service"]?.lowercased(), category = fields["category"]?.lowercased()
        if product == "kubernetes", service == "audit", category == nil || category == "application" { return true }
        let shown = ["category", "product", "service"].compactMap { k in fields[k].map { "\(k): \($0)" } }.joined(separator: ", ")
        warnings.append(AlertDiagnostic(
            code: .skippedSigma, source: source, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1,
            message: "skipped Sigma \(what) '\(title)': log source {\(shown)} is not product: kubernetes, service: audit"))
        return false
    }

    mutating func parseFilter(_ node: Node, title: String, at mark: Mark?) {
        guard case .mapping(let map) = node else {
            error(.wrongType, node.mark, "'filter' must be a mapping with rules, searches and condition, got \(AlertRulesParser.describe(node))")
            return
        }
        var targets: [(String, SourceLoc)] = []
        switch Self.value(map, "rules") {
        case nil:
            error(.missingField, node.mark, "Sigma filter '\(title)' has no 'rules' (the ids or titles of the rules it applies to)")
        case .sequence(let seq)?:
            for item in seq { if let s = string(item, field: "filter.rules[]") { targets.append((s, loc(item.mark))) } }
        case let one?:
            if let s = string(one, field: "filter.rules") { targets.append((s, loc(one.mark))) }
        }
        guard let detection = parseDetection(node, what: "filter", skipping: ["rules"]), !targets.isEmpty else { return }
        file.filters.append(SigmaFilterSpec(title: title, targets: targets, detection: detection, location: loc(mark)))
    }

    // MARK: detection

    mutating func parseDetection(_ node: Node, what: String, skipping: Set<String> = []) -> SigmaDetection? {
        guard case .mapping(let map) = node else {
            error(.wrongType, node.mark, "'\(what)' must be a mapping of searches and a condition, got \(AlertRulesParser.describe(node))")
            return nil
        }
        var searches: [String: SigmaSearch] = [:]
        var order: [String] = []
        var conditionNode: Node?
        var ok = true
        for (k, v) in map {
            guard let name = Self.key(k), !skipping.contains(name) else { continue }
            switch name {
            case "condition": conditionNode = v
            case "timeframe":
                refuse(k.mark, "aggregation ('timeframe:'; Sigma v2 moved it to correlation rules)")
                ok = false
            default:
                // A search that failed is still a name the condition may use (one error, not two).
                order.append(name)
                if let search = parseSearch(name, v, at: k.mark) { searches[name] = search } else { ok = false }
            }
        }
        guard let conditionNode else {
            error(.missingField, node.mark, "'\(what)' has no 'condition'")
            return nil
        }
        var texts: [(String, Mark?)] = []
        switch conditionNode {
        case .sequence(let seq):
            for item in seq { if let s = string(item, field: "condition[]") { texts.append((s, item.mark)) } else { ok = false } }
        default:
            if let s = string(conditionNode, field: "condition") { texts.append((s, conditionNode.mark)) } else { ok = false }
        }
        var alternatives: [SigmaExpression] = []
        for (text, mark) in texts {
            switch SigmaConditionParser.parse(text, identifiers: order) {
            case .success(let e): alternatives.append(e)
            case .failure(let failure):
                if failure.unsupported { refuse(mark, failure.message) } else { error(.invalidValue, mark, "condition '\(text)': \(failure.message)") }
                ok = false
            }
        }
        guard ok, !alternatives.isEmpty else { return nil }
        return SigmaDetection(searches: searches, condition: alternatives.count == 1 ? alternatives[0] : .or(alternatives))
    }

    mutating func parseSearch(_ name: String, _ node: Node, at mark: Mark?) -> SigmaSearch? {
        switch node {
        case .mapping(let map):
            guard let items = parseMap(map) else { return nil }
            return SigmaSearch(name: name, maps: [items], location: loc(mark))
        case .sequence(let seq):
            var maps: [[SigmaItem]] = []
            var ok = true
            for item in seq {
                guard case .mapping(let map) = item else {
                    refuse(item.mark, "keyword search ('\(name)' lists values without field names)")
                    return nil
                }
                if let items = parseMap(map) { maps.append(items) } else { ok = false }
            }
            return ok ? SigmaSearch(name: name, maps: maps, location: loc(mark)) : nil
        default:
            refuse(node.mark, "keyword search ('\(name)' is a value without a field name)")
            return nil
        }
    }

    mutating func parseMap(_ map: Node.Mapping) -> [SigmaItem]? {
        var items: [SigmaItem] = []
        var ok = true
        for (k, v) in map {
            guard let key = Self.key(k) else { continue }
            if let item = SigmaItemParser.parse(key: key, value: v, at: loc(k.mark), parser: &self) { items.append(item) } else { ok = false }
        }
        return ok ? items : nil
    }
}
