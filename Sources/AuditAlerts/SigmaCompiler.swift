// Turns parsed Sigma rules and filters into `AlertRule`s (see `SigmaRule.swift`).
import AuditModel

struct SigmaCompiler {
    let fieldMap: [String: [String]]
    var diagnostics: [AlertDiagnostic] = []
    var warnings: [AlertDiagnostic] = []

    init(fieldMap: [String: [String]]) { self.fieldMap = fieldMap }

    /// The message of a Sigma rule's firing.
    static let messageSource = "{{user}} {{verb}} {{resource}} {{namespacedName}}"

    func condition(_ item: SigmaItem) -> AlertCondition {
        let fields = SigmaFieldMapping.paths(item.field, fieldMap).map(EventField.sigma)
        let perValue: [AlertCondition] = item.tests.map { test in
            let each = fields.map { AlertCondition.test($0, test) }
            if each.count == 1 { return each[0] }
            // Absence must hold on every mapped path; a match on any.
            if case .exists(false) = test { return .all(each) }
            return .any(each)
        }
        if perValue.count == 1 { return perValue[0] }
        return item.all ? .all(perValue) : .any(perValue)
    }

    func condition(_ search: SigmaSearch) -> AlertCondition {
        let maps: [AlertCondition] = search.maps.map { items in
            let c = items.map(condition)
            return c.count == 1 ? c[0] : .all(c)
        }
        return maps.count == 1 ? maps[0] : .any(maps)
    }

    func condition(_ detection: SigmaDetection) -> AlertCondition {
        func build(_ e: SigmaExpression) -> AlertCondition {
            switch e {
            case .identifier(let name): detection.searches[name].map(condition) ?? .any([])
            case .and(let items): .all(items.map(build))
            case .or(let items): .any(items.map(build))
            case .not(let inner): .not(build(inner))
            }
        }
        return build(detection.condition)
    }

    /// The rules of `file`, with its filters applied; `taken` are names already used (rules of our format).
    mutating func compile(_ file: SigmaFileSpec, taken: [String: String]) -> [AlertRule] {
        var names = taken
        var rules: [AlertRule] = []
        for spec in file.rules {
            if let first = names[spec.title] {
                diagnostics.append(AlertDiagnostic(
                    code: .duplicateRule, source: spec.location.source, line: spec.location.line, column: spec.location.column,
                    message: "Sigma rule title '\(spec.title)' is already the name of a rule at \(first)"))
                continue
            }
            names[spec.title] = spec.location.description
            guard case .success(let message) = MessageTemplate.parse(Self.messageSource) else { continue }
            rules.append(AlertRule(
                name: spec.title, description: spec.description, severity: spec.level.severity, condition: condition(spec.detection),
                message: message, stages: AlertStage.defaultStages, origin: spec.location.description,
                ruleID: spec.id, level: spec.level.rawValue))
        }
        for filter in file.filters {
            let exception = condition(filter.detection)
            for (target, at) in filter.targets {
                let matched = rules.indices.filter { rules[$0].ruleID == target || rules[$0].name == target }
                if matched.isEmpty {
                    warnings.append(AlertDiagnostic(
                        code: .skippedSigma, source: at.source, line: at.line, column: at.column,
                        message: "Sigma filter '\(filter.title)': no loaded Sigma rule has the id or title '\(target)'"))
                }
                for i in matched { rules[i].condition = .all([rules[i].condition, .not(exception)]) }
            }
        }
        return rules
    }
}
