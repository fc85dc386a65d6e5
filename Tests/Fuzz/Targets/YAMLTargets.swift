import AuditAlerts
import AuditAgent
import AuditModel
import AuditPolicy
import Foundation

/// Events for evaluating a loaded policy or rule set: built from the input like the scanner's.
func sampleEvents(_ data: [UInt8]) -> [[UInt8]] {
    var out: [[UInt8]] = []
    var input = FuzzInput(data.reversed())
    for _ in 0..<3 {
        let (value, _) = ScannerTarget.buildEvent(&input)
        var w = JSONWriter()
        var choices = FuzzInput([])
        value.write(&w, &choices, reorder: false)
        out.append(w.out)
    }
    return out
}

/// Lines as YAML counts them (libyaml's marks): CR LF, CR, LF, NEL, LS and PS each end a line.
func lineCount(_ text: String) -> Int {
    var lines = 1
    var previousCR = false
    for scalar in text.unicodeScalars {
        switch scalar.value {
        case 0x0A: if !previousCR { lines += 1 }
        case 0x0D, 0x85, 0x2028, 0x2029: lines += 1
        default: break
        }
        previousCR = scalar.value == 0x0D
    }
    return lines
}

/// The audit Policy YAML loader (`AuditPolicy.parse`).
///
/// Properties: any text either loads or is refused with diagnostics that each point at a line and
/// column inside the text; a policy that loads strictly loads leniently with the same rules; a
/// loaded policy decides any event with one of its rules (or none).
enum PolicyTarget {
    static let name = "policy"
    static let target = FuzzTarget(name: name, summary: "audit Policy YAML loader", maxLength: 8192) { data throws(PropertyViolation) in
        let text = String(decoding: data, as: UTF8.self)
        let lines = lineCount(text)
        switch attempt({ () throws(PolicyError) in try AuditPolicy.parse(yaml: text, source: "fuzz.yaml") }) {
        case .success(let policy):
            switch attempt({ () throws(PolicyError) in try AuditPolicy.parse(yaml: text, source: "fuzz.yaml", options: .lenient) }) {
            case .success(let lenient):
                try require(lenient.rules == policy.rules, name, "strict and lenient loading gave other rules")
            case .failure(let error):
                try require(false, name, "loads strictly but not leniently: \(error)")
            }
            let filter = PolicyFilter(policy: policy)
            for event in sampleEvents(data) {
                guard let summary = try? EventScanner.scan(event) else { continue }
                let decision = filter.decide(summary)
                if let i = decision.ruleIndex {
                    try require(policy.rules.indices.contains(i), name, "decision names rule \(i) of \(policy.rules.count)")
                }
            }
        case .failure(let error):
            try require(!error.diagnostics.isEmpty, name, "refused without a diagnostic")
            for d in error.diagnostics {
                try require(d.line >= 1 && d.line <= lines + 1 && d.column >= 1, name, "diagnostic at \(d.line):\(d.column) outside a text of \(lines) lines: \(d.message)")
                try require(!d.message.isEmpty, name, "a diagnostic without a message")
            }
        }
    }
}

/// The alert rule loader (`AlertRuleSet.load`) and the engine on what it loads.
///
/// Properties: any text loads or is refused with located diagnostics inside the text; a loaded
/// set evaluates any event, and every firing names an enabled rule of the set.
enum AlertRulesTarget {
    static let name = "rules"
    static let target = FuzzTarget(name: name, summary: "alert rule loader and engine", maxLength: 8192) { data throws(PropertyViolation) in
        let text = String(decoding: data, as: UTF8.self)
        let lines = lineCount(text)
        let includeBuiltins = data.first.map { $0 & 1 == 0 } ?? true
        switch attempt({ () throws(AlertRulesError) in try AlertRuleSet.load(yaml: text, source: "fuzz.yaml", includeBuiltins: includeBuiltins) }) {
        case .success(let set):
            let engine = AlertEngine(rules: set)
            let names = Set(set.enabledRules.map(\.name))
            for event in sampleEvents(data) {
                for firing in engine.evaluate(event: event, cluster: "c", node: "n", now: Date(timeIntervalSince1970: 1_600_000_100)) {
                    try require(names.contains(firing.rule), name, "a firing names '\(firing.rule)', not an enabled rule")
                }
            }
        case .failure(let error):
            try require(!error.diagnostics.isEmpty, name, "refused without a diagnostic")
            for d in error.diagnostics where d.source == "fuzz.yaml" {
                try require(d.line >= 1 && d.line <= lines + 1 && d.column >= 1, name, "diagnostic at \(d.line):\(d.column) outside a text of \(lines) lines: \(d.message)")
            }
        }
    }
}
