import Testing
@testable import AuditPolicy

/// Policies built to hold the agent: refused at once with the limit named, or loaded.
@Suite("policy size limits")
struct PolicyLimitTests {
    static func policy(rules: Int, flow: Bool) -> String {
        var text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
        for i in 0..<rules {
            text += flow ? "- {level: None, users: [u\(i)]}\n" : "  - level: None\n    users: [\"user-\(i)\"]\n"
        }
        return text
    }

    @Test("100,000 rules (4 MB) are refused before parsing, naming the size limit")
    func hundredThousandRules() {
        let text = Self.policy(rules: 100_000, flow: false)
        #expect(text.utf8.count > AuditPolicy.maxDocumentBytes)
        #expect(throws: PolicyError.self) { try AuditPolicy.parse(yaml: text, source: "big.yaml") }
        do {
            _ = try AuditPolicy.parse(yaml: text, source: "big.yaml")
        } catch {
            #expect(error.diagnostics.count == 1)
            #expect(error.contains(.tooLarge))
            #expect(error.description.contains("big.yaml:1:1: the policy is \(text.utf8.count) bytes; the limit is 1048576 bytes"))
        }
    }

    @Test("more rules than the limit within the size limit are refused at the rules key")
    func tooManyRules() {
        let text = Self.policy(rules: AuditPolicy.maxRules + 1, flow: true)
        #expect(text.utf8.count <= AuditPolicy.maxDocumentBytes)
        do {
            _ = try AuditPolicy.parse(yaml: text, source: "many.yaml")
            Issue.record("a policy of \(AuditPolicy.maxRules + 1) rules loaded")
        } catch {
            #expect(error.contains(.tooLarge))
            #expect(error.description.contains("many.yaml:3:1: the policy has 10001 rules; the limit is 10000"))
        }
    }

    @Test("a policy of exactly the rule limit loads and decides")
    func atTheLimit() throws {
        let policy = try AuditPolicy.parse(yaml: Self.policy(rules: AuditPolicy.maxRules, flow: true), source: "limit.yaml")
        #expect(policy.rules.count == AuditPolicy.maxRules)
        let decision = policy.evaluate(.nonResource(user: "u9999", verb: "get", path: "/healthz"))
        #expect(decision.ruleIndex == 9999)
    }

    @Test("YAML nested 100,000 deep is a located syntax error, not a stack overflow")
    func deepYAML() {
        let text = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        do {
            _ = try AuditPolicy.parse(yaml: text, source: "deep.yaml")
            Issue.record("deep YAML loaded")
        } catch {
            #expect(error.contains(.yamlSyntax))
            #expect(error.description.contains("deep.yaml:1:"))
        }
    }
}
