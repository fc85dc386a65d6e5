import Foundation
import Testing

@testable import AuditAlerts

@Suite("rule file limits")
struct RuleFileLimitTests {
    @Test("100,000 rules are refused before parsing; more than 10,000 at the rules key")
    func tooBig() {
        var huge = "apiVersion: auditship.io/v1\nkind: AlertRules\nrules:\n"
        for i in 0..<100_000 { huge += "  - {name: r\(i), severity: low, when: {field: verb, equals: get}, message: m}\n" }
        do {
            _ = try AlertRuleSet.load(yaml: huge, source: "huge.yaml", includeBuiltins: false)
            Issue.record("100,000 rules loaded")
        } catch {
            #expect(error.contains(.tooLarge))
            #expect(error.description.contains("huge.yaml:1:1: the rules file is"))
        }
        var many = "apiVersion: auditship.io/v1\nkind: AlertRules\nrules:\n"
        for i in 0..<10_001 { many += "- {name: r\(i)}\n" }
        do {
            _ = try AlertRuleSet.load(yaml: many, source: "many.yaml", includeBuiltins: false)
            Issue.record("10,001 rules loaded")
        } catch {
            #expect(error.contains(.tooLarge))
            #expect(error.description.contains("many.yaml:3:1: the file has 10001 rules; the limit is 10000"))
        }
    }

    @Test("YAML nested 100,000 deep is a located syntax error")
    func deep() {
        let text = "apiVersion: auditship.io/v1\nkind: AlertRules\nrules: " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        do {
            _ = try AlertRuleSet.load(yaml: text, source: "deep.yaml", includeBuiltins: false)
            Issue.record("deep YAML loaded")
        } catch {
            #expect(error.contains(.yamlSyntax))
        }
    }
}
