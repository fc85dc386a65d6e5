import Foundation
import SharedFixtures
import Testing

@testable import AuditAlerts

@Suite("alerts check: findings on rules that load")
struct AlertRuleCheckTests {
    func findings(_ texts: [String]) throws -> [AlertRuleFinding] {
        AlertRuleChecker.check(try loadSigma(texts))
    }

    @Test("text against the integer responseStatus.code never matches; numbers and digit patterns do")
    func integerField() throws {
        let bad = try findings([sigmaRule(title: "Word code", detection: "    sel:\n        responseStatus.code: [ALLOW, 403]\n    condition: sel")])
        #expect(bad.map(\.kind) == [.neverMatches])
        #expect(bad.first?.description == "rule1.yml:1:1: rule 'Word code': 'responseStatus.code' is an integer: 'ALLOW' can never match it [never_matches]")
        #expect(try findings([sigmaRule(detection: "    sel:\n        responseStatus.code: ['403', 401, '40*']\n    condition: sel")]).isEmpty)
        let ours = """
            apiVersion: auditship.io/v1
            kind: AlertRules
            rules:
              - name: code-words
                severity: low
                message: m
                when: {any: [{field: code, equals: forbidden}, {field: code, prefix: "4"}, {field: code, in: [401, 403]}]}
            """
        let f = try findings([ours])
        #expect(f.count == 2)
        #expect(f.allSatisfy { $0.kind == .neverMatches && $0.rule == "code-words" && $0.origin == "rule1.yml:4:5" }, "\(f)")
    }

    @Test("a value outside a closed set: verb replace, a misspelt stage")
    func closedSets() throws {
        let f = try findings([sigmaRule(title: "Writes", detection: "    sel:\n        verb: [create, replace, update]\n        stage: ResponseComplet\n    condition: sel")])
        #expect(f.count == 2)
        #expect(f.contains { $0.message.hasPrefix("'replace' is not a value of 'verb'") && $0.message.contains("logged as update") })
        #expect(f.contains { $0.message.hasPrefix("'ResponseComplet' is not a value of 'stage'") })
        #expect(try findings([sigmaRule(detection: "    sel:\n        verb: [GET, deletecollection, 'patc*']\n    condition: sel")]).isEmpty)
    }

    @Test("unknown fields: a short name outside the mapping, an unknown member of objectRef; free-form objects pass")
    func unknownFields() throws {
        let f = try findings([sigmaRule(title: "Fields", detection: """
                sel:
                    imageName: nginx
                    objectRef.kind: Pod
                    requestObject.spec.anything.goes: x
                    annotations.example.com/team: y
                    capabilities: SYS_ADMIN
                condition: sel
            """)])
        #expect(f.map(\.message).sorted() == [
            "field 'imageName': 'imageName' is not a field of an audit event",
            "field 'objectRef.kind': 'objectRef.kind' is not a field of an audit event",
        ])
        #expect(f.allSatisfy { $0.kind == .unknownField })
    }

    @Test("duplicate Sigma ids; duplicate names are load errors")
    func duplicates() throws {
        let a = sigmaRule(title: "One", id: "99999999-0000-4000-8000-000000000009", detection: "    sel:\n        verb: get\n    condition: sel")
        let b = sigmaRule(title: "Two", id: "99999999-0000-4000-8000-000000000009", detection: "    sel:\n        verb: list\n    condition: sel")
        let f = try findings([a, b])
        #expect(f.map(\.kind) == [.duplicateID])
        #expect(f.first?.rule == "Two")
        #expect(f.first?.message.contains("'One' (rule1.yml:1:1)") == true)
        let errors = sigmaErrors([a, sigmaRule(title: "One", detection: "    sel:\n        verb: list\n    condition: sel")])
        #expect(errors.map(\.code) == [.duplicateRule])
    }

    @Test("too broad: a rule matching more than the share of the given events")
    func broad() throws {
        let set = try loadSigma([
            sigmaRule(title: "Any get", detection: "    sel:\n        verb: get\n    condition: sel"),
            sigmaRule(title: "Secret deletes", detection: "    sel:\n        verb: delete\n        objectRef.resource: secrets\n    condition: sel"),
        ])
        let events = (0..<8).map { _ in eventView(json: auditEvent(verb: "get", resource: "pods")) }
            + [eventView(json: auditEvent(verb: "delete", resource: "secrets")), eventView(json: auditEvent(verb: "list", resource: "pods"))]
        let f = AlertRuleChecker.broad(set, events: events, share: 0.2)
        #expect(f.map(\.description) == ["rule1.yml:1:1: rule 'Any get': matches 8 of 10 events (80.0%) [too_broad]"])
        #expect(AlertRuleChecker.broad(set, events: events, share: 0.9).isEmpty)
    }

    @Test("the built-in pack has no findings")
    func builtinPackIsClean() {
        #expect(AlertRuleChecker.check(.builtin, includeBuiltins: true) == [])
    }

    @Test("SigmaHQ's rules: the findings of alerts check", .needsShared("real-world/rules/sigma"))
    func sigmaHQ() throws {
        let set = try AlertRuleSet.load(paths: [SharedData.path("real-world/rules/sigma")])
        let f = AlertRuleChecker.check(set)
        for finding in f { print("sigma check: \(finding)") }
        // The enumeration rule's responseStatus.code: 'ALLOW' and the verb 'replace' of four rules.
        #expect(f.filter { $0.kind == .neverMatches && $0.message.contains("is an integer") }.count == 1)
        #expect(f.filter { $0.kind == .neverMatches && $0.message.contains("'replace'") }.count == 4)
        #expect(f.filter { $0.kind == .unknownField }.isEmpty)
        #expect(f.count == 5)
    }
}
