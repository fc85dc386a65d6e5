import Foundation
import Testing

@testable import AuditAlerts

private func loadError(_ yaml: String, includeBuiltins: Bool = false) -> AlertRulesError? {
    do {
        _ = try AlertRuleSet.load(yaml: yaml, source: "rules.yaml", includeBuiltins: includeBuiltins)
        return nil
    } catch {
        return error
    }
}

private let header = "apiVersion: auditship.io/v1\nkind: AlertRules\n"

@Suite("Rule file parsing")
struct RuleParserTests {
    @Test("a complete rule parses")
    func complete() throws {
        let set = try AlertRuleSet.load(yaml: header + """
            rules:
              - name: many-403
                description: Someone is being refused a lot.
                severity: high
                when:
                  all:
                    - {field: code, equals: 403}
                    - not: {field: user, prefix: ["system:", "kube-"]}
                    - any:
                        - {field: groups, contains: developers}
                        - {field: "requestObject.spec.containers[*].image", glob: "*:latest"}
                threshold: {count: 5, window: 5m, groupBy: [user, sourceIP]}
                suppress: 1h
                message: "{{user}} refused {{code}} times from {{sourceIP}}"
                stages: [ResponseComplete]
            """, source: "rules.yaml", includeBuiltins: false)
        let rule = try #require(set.rule(named: "many-403"))
        #expect(rule.severity == .high)
        #expect(rule.threshold?.count == 5)
        #expect(rule.threshold?.window == 300)
        #expect(rule.threshold?.groupBy.map(\.text) == ["user", "sourceIP"])
        #expect(rule.suppress == 3600)
        #expect(rule.stages == [.responseComplete])
        #expect(rule.enabled)
        #expect(!rule.isBuiltin)
        #expect(rule.origin == "rules.yaml:4:5")
    }

    @Test("unknown rule field: location and suggestion")
    func unknownField() throws {
        let error = try #require(loadError(header + """
            rules:
              - name: r
                severity: low
                when: {field: verb, equals: get}
                mesage: "x"
            """))
        #expect(error.contains(.unknownField))
        let d = try #require(error.diagnostics.first { $0.code == .unknownField })
        #expect(d.line == 7)
        #expect(d.column == 5)
        #expect(d.description.hasPrefix("rules.yaml:7:5: unknown field 'mesage'"))
        #expect(d.message.contains("did you mean 'message'?"))
    }

    @Test("unknown operator, unknown event field, bad severity, bad duration: all collected")
    func severalErrors() throws {
        let error = try #require(loadError(header + """
            rules:
              - name: a
                severity: hihg
                when:
                  all:
                    - {field: verb, equal: get}
                    - {field: usr, equals: bob}
                    - {field: requestObjekt.spec.hostPID, equals: true}
                suppress: 5 minutes
                message: "{{user}} did {{verbb}}"
              - name: b
                severity: low
                when: {field: code, gt: high}
                threshold: {count: 0, window: 1m, groupby: [user]}
                message: ok
            """))
        let messages = error.diagnostics.map(\.description)
        #expect(messages.contains { $0.hasPrefix("rules.yaml:5:15: unknown severity 'hihg'; did you mean 'high'?") }, "\(messages)")
        #expect(messages.contains { $0.contains("unknown operator 'equal'") && $0.contains("did you mean 'equals'?") })
        #expect(messages.contains { $0.contains("unknown field 'usr'; did you mean 'user'?") })
        #expect(messages.contains { $0.contains("unknown field 'requestObjekt.spec.hostPID'; did you mean 'requestObject.spec.hostPID'?") })
        #expect(messages.contains { $0.contains("invalid duration '5 minutes'") })
        #expect(messages.contains { $0.contains("unknown field 'verbb'; did you mean 'verb'?") })
        #expect(messages.contains { $0.contains("'gt' must be a number") })
        #expect(messages.contains { $0.contains("'threshold.count' must be at least 1") })
        #expect(messages.contains { $0.contains("unknown field 'groupby'") && $0.contains("did you mean 'groupBy'?") })
        #expect(error.diagnostics.count >= 9)
        // Every diagnostic has a real location.
        #expect(error.diagnostics.filter { $0.line <= 1 || $0.column < 1 }.isEmpty)
    }

    @Test("wrong types")
    func wrongTypes() throws {
        let error = try #require(loadError(header + """
            rules:
              - name: r
                severity: low
                enabled: "yes please"
                when: {any: {field: verb, equals: get}}
                message: [not, a, string]
                stages: [ResponseCompleted]
            """))
        let messages = error.diagnostics.map(\.message)
        #expect(messages.contains { $0.contains("'enabled' must be true or false") })
        #expect(messages.contains { $0.contains("'any' must be a list of conditions") })
        #expect(messages.contains { $0.contains("'message' must be a string, got a list") })
        #expect(messages.contains { $0.contains("unknown stage 'ResponseCompleted'; did you mean 'ResponseComplete'?") })
    }

    @Test("a leaf with two operators, a combinator with extra keys, a leaf without operator")
    func conditionShape() throws {
        let error = try #require(loadError(header + """
            rules:
              - name: r
                severity: low
                when:
                  any:
                    - {field: verb, equals: get, prefix: g}
                    - {all: [], field: verb}
                    - {field: verb}
                    - {equals: get}
                message: m
            """))
        let messages = error.diagnostics.map(\.message)
        #expect(messages.contains { $0.contains("a condition has one operator") })
        #expect(messages.contains { $0.contains("'field' cannot stand beside 'all'") })
        #expect(messages.contains { $0.contains("condition on 'verb' has no operator") })
        #expect(messages.contains { $0.contains("has no 'field'") })
    }

    @Test("document-level errors: kind, apiVersion, unknown top-level key, duplicate names")
    func documentErrors() throws {
        let error = try #require(loadError("""
            apiVersion: auditship.io/v2
            kind: AlertRule
            rulez: []
            rules:
              - {name: x, severity: low, when: {field: verb, equals: get}, message: m}
              - {name: x, severity: low, when: {field: verb, equals: list}, message: m}
            """))
        let messages = error.diagnostics.map(\.description)
        #expect(messages.contains { $0.hasPrefix("rules.yaml:1:13: unsupported apiVersion 'auditship.io/v2'") })
        #expect(messages.contains { $0.contains("kind 'AlertRule' is not AlertRules; did you mean 'AlertRules'?") })
        #expect(messages.contains { $0.contains("unknown field 'rulez'") && $0.contains("did you mean 'rules'?") })
        #expect(messages.contains { $0.hasPrefix("rules.yaml:6:5: duplicate rule name 'x' (first defined at rules.yaml:5:5)") })
    }

    @Test("YAML syntax errors and empty documents are reported with a location")
    func yamlErrors() throws {
        let error = try #require(loadError(header + "rules:\n  - name: [unclosed\n"))
        #expect(error.contains(.yamlSyntax))
        #expect(error.diagnostics[0].line >= 4)
        let empty = try #require(loadError(""))
        #expect(empty.contains(.notAlertRules))
        let dup = try #require(loadError(header + "kind: AlertRules\nrules: []\n"))
        #expect(dup.diagnostics[0].message.contains("duplicate key"))
    }

    @Test("a new rule needs severity, when and message")
    func missingFields() throws {
        let error = try #require(loadError(header + "rules:\n  - name: lonely\n    description: nothing else\n"))
        #expect(error.diagnostics.map(\.description) == ["rules.yaml:4:5: rule 'lonely' is missing 'severity', 'when', 'message'"])
    }

    @Test("overriding a built-in by name keeps the fields it does not give")
    func override() throws {
        let set = try AlertRuleSet.load(yaml: header + """
            disable: [nodeport-service-created]
            rules:
              - name: pod-exec
                severity: critical
              - name: secret-modified
                enabled: false
              - name: configmap-modified
                when: {all: [{field: resource, equals: configmaps}, {field: verb, equals: delete}]}
              - name: my-rule
                severity: info
                when: {field: verb, equals: deletecollection}
                message: "{{user}} deleted a collection"
            """, source: "mine.yaml")
        let exec = try #require(set.rule(named: "pod-exec"))
        #expect(exec.severity == .critical)
        #expect(exec.isBuiltin)
        #expect(exec.stages?.contains(.responseStarted) == true)
        #expect(exec.message.source.contains("exec into pod"))
        #expect(exec.origin.hasPrefix("mine.yaml:"))
        #expect(set.rule(named: "secret-modified")?.enabled == false)
        #expect(set.rule(named: "nodeport-service-created")?.enabled == false)
        #expect(set.rules.last?.name == "my-rule")
        #expect(set.enabledRules.count == AlertRuleSet.builtin.rules.count + 1 - 2)

        let delete = auditEvent(verb: "delete", resource: "configmaps", namespace: "a", name: "b")
        let update = auditEvent(verb: "update", resource: "configmaps", namespace: "a", name: "b")
        #expect(builtinFirings(delete, rules: set).contains("configmap-modified"))
        #expect(!builtinFirings(update, rules: set).contains("configmap-modified"))
    }

    @Test("disable and list references are checked, with suggestions")
    func unknownNames() throws {
        let error = try #require(loadError(header + """
            disable: [pod-exex]
            rules:
              - name: r
                severity: low
                when: {field: namespace, in: {list: kube_namespace}}
                message: m
            """, includeBuiltins: true))
        let messages = error.diagnostics.map(\.message)
        #expect(messages.contains("cannot disable 'pod-exex': no built-in rule has that name; did you mean 'pod-exec'?"))
        #expect(messages.contains("rule 'r' uses unknown list 'kube_namespace'; did you mean 'kube_namespaces'?"))
    }

    @Test("lists replace or append")
    func lists() throws {
        let set = try AlertRuleSet.load(yaml: header + """
            lists:
              kube_namespaces: [kube-system]
              known_kube_service_accounts: {append: [my-operator]}
            """, source: "l.yaml")
        #expect(set.lists["kube_namespaces"] == ["kube-system"])
        #expect(set.lists["known_kube_service_accounts"]?.last == "my-operator")
        let sa = auditEvent(verb: "create", resource: "serviceaccounts", namespace: "kube-system", name: "my-operator", code: 201)
        #expect(!builtinFirings(sa, rules: set).contains("serviceaccount-created-in-kube-namespace"))
        let pub = auditEvent(verb: "create", resource: "serviceaccounts", namespace: "kube-public", name: "x", code: 201)
        #expect(!builtinFirings(pub, rules: set).contains("serviceaccount-created-in-kube-namespace"))
    }

    @Test("two user files defining the same rule is an error naming both places")
    func duplicateAcrossFiles() throws {
        let rule = header + "rules:\n  - {name: same, severity: low, when: {field: verb, equals: get}, message: m}\n"
        do {
            _ = try AlertRuleSet.load(files: [AlertRulesSource(yaml: rule, source: "a.yaml"), AlertRulesSource(yaml: rule, source: "b.yaml")])
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "b.yaml:4:5: rule 'same' is already defined at a.yaml:4:5")
        }
    }

    @Test("invalid regular expression and malformed paths")
    func regexAndPaths() throws {
        let error = try #require(loadError(header + """
            rules:
              - name: r
                severity: low
                when:
                  any:
                    - {field: requestURI, matches: "(unclosed"}
                    - {field: "requestObject.spec[x]", exists: true}
                    - {field: "requestObject.data[keys].x", exists: true}
                    - {field: "event", exists: true}
                message: "{{user"
            """))
        let messages = error.diagnostics.map(\.message)
        #expect(messages.contains { $0.contains("invalid regular expression") })
        #expect(messages.contains { $0.contains("'[x]' is not [*], [keys], [N]") })
        #expect(messages.contains { $0.contains("[keys] must be the last step") })
        #expect(messages.contains { $0.contains("'event' needs a step") })
        #expect(messages.contains { $0.contains("unclosed '{{'") })
    }

    @Test("the documented example loads (block-style paths with [*] need no quotes)")
    func documentedExample() throws {
        let set = try AlertRuleSet.load(yaml: """
            apiVersion: auditship.io/v1
            kind: AlertRules
            disable: [configmap-modified]
            lists:
              sensitive_secrets: [prod/db-password]
            rules:
              - name: pod-exec
                severity: critical
              - name: many-forbidden
                description: Someone is refused again and again.
                severity: high
                when:
                  all:
                    - {field: code, equals: 403}
                    - not: {field: user, prefix: "system:"}
                    - field: requestObject.spec.containers[*].image
                      glob: "*:latest"
                threshold: {count: 5, window: 5m, groupBy: [user, sourceIP]}
                suppress: 1h
                message: "{{user}} refused {{verb}} on {{resource}} {{namespacedName}}"
                stages: [ResponseComplete]
                enabled: true
            """, source: "alerts.yaml")
        let rule = try #require(set.rule(named: "many-forbidden"))
        guard case .all(let items) = rule.condition, case .test(let field, .glob) = items[2] else {
            Issue.record("unexpected condition \(rule.condition)")
            return
        }
        #expect(field.text == "requestObject.spec.containers[*].image")
        #expect(set.rule(named: "configmap-modified")?.enabled == false)
        #expect(set.lists["sensitive_secrets"] == ["prod/db-password"])
    }

    @Test("durations")
    func durations() throws {
        #expect(try parseDuration("30s").get() == 30)
        #expect(try parseDuration("5m").get() == 300)
        #expect(try parseDuration("1h30m").get() == 5400)
        #expect(try parseDuration("500ms").get() == 0.5)
        #expect(try parseDuration("2d").get() == 172_800)
        for bad in ["", "5", "m", "5x", "-5m", "0s", "5 m"] {
            #expect((try? parseDuration(bad).get()) == nil, "\(bad)")
        }
    }
}
