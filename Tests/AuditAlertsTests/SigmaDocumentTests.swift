import Foundation
import Testing

@testable import AuditAlerts

@Suite("Sigma: documents, conditions, refusals, filters")
struct SigmaDocumentTests {
    static let abc = """
            a:
                verb: delete
            b:
                objectRef.resource: secrets
            c:
                objectRef.namespace: kube-system
        """

    func matches(_ condition: String, _ verb: String, _ resource: String, _ namespace: String) throws -> Bool {
        try sigmaMatches(Self.abc + "\n    condition: \(condition)", eventView(json: auditEvent(verb: verb, resource: resource, namespace: namespace)))
    }

    @Test("precedence: not binds tighter than and, and tighter than or; parentheses group")
    func precedence() throws {
        // a or b and c = a or (b and c)
        #expect(try matches("a or b and c", "delete", "pods", "default"))
        #expect(try !matches("a or b and c", "get", "secrets", "default"))
        #expect(try matches("a or b and c", "get", "secrets", "kube-system"))
        // (a or b) and c
        #expect(try !matches("(a or b) and c", "delete", "pods", "default"))
        #expect(try matches("(a or b) and c", "delete", "pods", "kube-system"))
        // not a and b = (not a) and b
        #expect(try matches("not a and b", "get", "secrets", "default"))
        #expect(try !matches("not a and b", "delete", "pods", "default"))
        #expect(try !matches("not (a and b)", "delete", "secrets", "default"))
        #expect(try matches("NOT a AND NOT b", "get", "pods", "default"))
    }

    @Test("1 of, all of, them (without _names), and a list of conditions")
    func quantifiers() throws {
        let d = """
                sel_verb:
                    verb: delete
                sel_resource:
                    objectRef.resource: secrets
                _helper:
                    objectRef.namespace: nowhere
            """
        func m(_ condition: String, _ verb: String, _ resource: String) throws -> Bool {
            try sigmaMatches(d + "\n    condition: \(condition)", eventView(json: auditEvent(verb: verb, resource: resource, namespace: "default")))
        }
        #expect(try m("1 of sel_*", "delete", "pods"))
        #expect(try !m("all of sel_*", "delete", "pods"))
        #expect(try m("all of sel_*", "delete", "secrets"))
        #expect(try m("all of them", "delete", "secrets"))
        #expect(try !m("1 of _*", "delete", "secrets"))
        #expect(try m("not 1 of sel_*", "get", "pods"))
        #expect(try m("1 of them and not _helper", "get", "secrets"))
        let list = d + "\n    condition:\n        - all of sel_*\n        - sel_verb and _helper"
        #expect(try sigmaMatches(list, eventView(json: auditEvent(verb: "delete", resource: "secrets"))))
        #expect(try !sigmaMatches(list, eventView(json: auditEvent(verb: "delete", resource: "pods"))))
    }

    @Test("title, id and level flow to the rule and to alerts test --format json")
    func identity() throws {
        let set = try loadSigma([sigmaRule(title: "Secret read by a stranger", id: "11111111-2222-4333-8444-555555555555", level: "informational",
                                           detection: "    sel:\n        objectRef.resource: secrets\n    condition: sel")])
        let rule = try #require(set.rule(named: "Secret read by a stranger"))
        #expect(rule.ruleID == "11111111-2222-4333-8444-555555555555")
        #expect(rule.level == "informational")
        #expect(rule.severity == .info)
        #expect(rule.effectiveStages == [.responseComplete, .panic])
        let contents = AuditEventFile.parse(data: Data(auditEvent(verb: "get", resource: "secrets", name: "db").utf8), source: "t.log")
        let report = AlertTester.run(contents: contents, engine: AlertEngine(rules: set))
        #expect(report.firings.count == 1)
        let json = AlertFiringRenderer.jsonLines(report.firings)
        #expect(json.contains(#""rule":"Secret read by a stranger""#))
        #expect(json.contains(#""severity":"info""#))
        #expect(json.hasSuffix(#","ruleID":"11111111-2222-4333-8444-555555555555","level":"informational"}"# + "\n"))
        // Our own rules keep the exact old shape.
        let builtin = AlertTester.run(contents: AuditEventFile.parse(data: Data(auditEvent(verb: "create", resource: "pods", subresource: "exec", stage: "ResponseStarted").utf8), source: "e"), engine: AlertEngine())
        #expect(!AlertFiringRenderer.jsonLines(builtin.firings).contains("ruleID"))
        #expect(!builtin.firings.isEmpty)
    }

    @Test("level maps onto severities; no level is medium")
    func levels() throws {
        for (level, severity) in [("low", AlertSeverity.low), ("medium", .medium), ("high", .high), ("critical", .critical)] {
            let set = try loadSigma([sigmaRule(level: level, detection: "    sel:\n        verb: get\n    condition: sel")])
            #expect(set.rules.first?.severity == severity)
        }
        let noLevel = "title: No level\nlogsource: {product: kubernetes, service: audit}\ndetection:\n    sel: {verb: get}\n    condition: sel\n"
        #expect(try loadSigma([noLevel]).rules.first?.severity == .medium)
        #expect(sigmaErrors([sigmaRule(level: "severe", detection: "    sel:\n        verb: get\n    condition: sel")]).first?.message.contains("unknown Sigma level 'severe'") == true)
    }

    /// The one error of loading `text` as rule1.yml: its line and message.
    func refusal(_ text: String) -> (line: Int, message: String)? {
        let errors = sigmaErrors([text])
        #expect(errors.count == 1, "\(errors)")
        guard let e = errors.first else { return nil }
        #expect(e.source == "rule1.yml")
        #expect(e.description.hasPrefix("rule1.yml:\(e.line):"))
        return (e.line, e.message)
    }

    @Test("refused with file:line and the feature: placeholders, keywords, correlation, aggregations, modifiers")
    func refusals() throws {
        // Lines: 1 title, 2 id, 3 status, 4 logsource, 5 product, 6 service, 7 detection, 8 first search, 9 its first item.
        let expand = refusal(sigmaRule(detection: "    sel:\n        user.username|expand: '%admins%'\n    condition: sel"))
        #expect(expand?.line == 9)
        #expect(expand?.message == "unsupported Sigma feature: placeholders ('|expand' on 'user.username')")
        let keywords = refusal(sigmaRule(detection: "    words:\n        - mimikatz\n        - kubectl\n    condition: words"))
        #expect(keywords?.line == 9)
        #expect(keywords?.message.contains("keyword search") == true)
        let unknown = refusal(sigmaRule(detection: "    sel:\n        verb: get\n        userAgent|containz: curl\n    condition: sel"))
        #expect(unknown?.line == 10)
        #expect(unknown?.message == "unsupported Sigma feature: unknown modifier '|containz' on 'userAgent'; did you mean 'contains'?")
        let base64 = refusal(sigmaRule(detection: "    sel:\n        requestURI|base64offset|contains: abc\n    condition: sel"))
        #expect(base64?.message.contains("modifier '|base64offset'") == true)
        let count = refusal(sigmaRule(detection: "    sel:\n        verb: get\n    condition: sel | count() by user.username > 5"))
        #expect(count?.line == 10)
        #expect(count?.message.contains("aggregation") == true)
        let timeframe = refusal(sigmaRule(detection: "    sel:\n        verb: get\n    timeframe: 5m\n    condition: sel"))
        #expect(timeframe?.line == 10)
        let correlation = refusal("title: Many deletes\ncorrelation:\n    type: event_count\n    rules: [x]\n    timespan: 5m\n")
        #expect(correlation?.line == 2)
        #expect(correlation?.message == "unsupported Sigma feature: correlation rules ('correlation:')")
        let undefined = refusal(sigmaRule(detection: "    sel:\n        verb: get\n    condition: sel and filtr"))
        #expect(undefined?.message.contains("unknown search identifier 'filtr'") == true)
        let noMatch = refusal(sigmaRule(detection: "    sel:\n        verb: get\n    condition: 1 of x*"))
        #expect(noMatch?.message.contains("'x*' matches no search identifier") == true)
        let nested = refusal(sigmaRule(detection: "    sel:\n        objectRef:\n            resource: pods\n    condition: sel"))
        #expect(nested?.message.contains("one dotted name") == true)
        let allOne = refusal(sigmaRule(detection: "    sel:\n        verb|all: get\n    condition: sel"))
        #expect(allOne?.message.contains("'|all'") == true)
        let badCidr = refusal(sigmaRule(detection: "    sel:\n        sourceIPs|cidr: 10.0.0.0/33\n    condition: sel"))
        #expect(badCidr?.message.contains("not a network") == true)
    }

    @Test("another log source, and deprecated rules, are skipped with a warning")
    func skipped() throws {
        let gcp = sigmaRule(title: "GKE thing", logsource: "product: gcp\n    service: gcp.audit", detection: "    sel:\n        verb: get\n    condition: sel")
        let k8s = sigmaRule(title: "K8s thing", logsource: "category: application\n    product: kubernetes\n    service: audit",
                            detection: "    sel:\n        verb: get\n    condition: sel")
        let deprecated = sigmaRule(title: "Old", detection: "    sel:\n        verb: get\n    condition: sel").replacingOccurrences(of: "status: test", with: "status: deprecated")
        let azureFilter = "title: AKS exception\nlogsource: {product: azure, service: activitylogs}\nfilter:\n    rules: [K8s thing]\n    sel: {verb: get}\n    condition: sel\n"
        let set = try loadSigma([gcp, k8s, deprecated, azureFilter])
        #expect(set.rules.map(\.name) == ["K8s thing"])
        #expect(set.warnings.map(\.description) == [
            "rule1.yml:5:5: skipped Sigma rule 'GKE thing': log source {product: gcp, service: gcp.audit} is not product: kubernetes, service: audit",
            "rule3.yml:1:1: skipped Sigma rule 'Old': status deprecated",
            "rule4.yml:2:12: skipped Sigma filter 'AKS exception': log source {product: azure, service: activitylogs} is not product: kubernetes, service: audit",
        ])
        // The skipped filter does not touch the rule it names.
        #expect(!AlertEngine(rules: set).matchingRules(view: eventView(json: auditEvent(verb: "get", resource: "pods"))).isEmpty)
    }

    @Test("Sigma filters exclude events from the rules they name, by id or by title")
    func filters() throws {
        let rule = sigmaRule(title: "Secret deleted", id: "aaaaaaaa-0000-4000-8000-000000000001",
                             detection: "    sel:\n        verb: delete\n        objectRef.resource: secrets\n    condition: sel")
        let other = sigmaRule(title: "Pod deleted", id: "aaaaaaaa-0000-4000-8000-000000000002",
                              detection: "    sel:\n        verb: delete\n        objectRef.resource: pods\n    condition: sel")
        let byID = """
            title: Our CI rotates secrets
            logsource: {product: kubernetes, service: audit}
            filter:
                rules:
                    - aaaaaaaa-0000-4000-8000-000000000001
                    - Pod deleted
                    - no-such-rule
                selection:
                    user.username|startswith: 'system:serviceaccount:ci:'
                condition: selection
            """
        let set = try loadSigma([rule, other, byID])
        let engine = AlertEngine(rules: set)
        let ci = eventView(json: auditEvent(verb: "delete", resource: "secrets", user: "system:serviceaccount:ci:rotator"))
        let human = eventView(json: auditEvent(verb: "delete", resource: "secrets", user: "bob"))
        let ciPod = eventView(json: auditEvent(verb: "delete", resource: "pods", user: "system:serviceaccount:ci:rotator"))
        #expect(engine.matchingRules(view: ci).isEmpty)
        #expect(engine.matchingRules(view: human) == ["Secret deleted"])
        #expect(engine.matchingRules(view: ciPod).isEmpty)
        #expect(set.warnings.count == 1)
        #expect(set.warnings.first?.message == "Sigma filter 'Our CI rotates secrets': no loaded Sigma rule has the id or title 'no-such-rule'")
    }

    @Test("files are told apart by content; a directory loads its .yml and .yaml files, sorted")
    func directories() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sigma-dir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try sigmaRule(title: "B rule", detection: "    sel:\n        verb: patch\n    condition: sel").write(to: dir.appendingPathComponent("b.yaml"), atomically: true, encoding: .utf8)
        try sigmaRule(title: "A rule", detection: "    sel:\n        verb: get\n    condition: sel").write(to: dir.appendingPathComponent("a.yml"), atomically: true, encoding: .utf8)
        try "apiVersion: auditship.io/v1\nkind: AlertRules\nrules:\n  - name: ours\n    severity: low\n    when: {field: verb, equals: watch}\n    message: m\n"
            .write(to: dir.appendingPathComponent("c.rules.yml"), atomically: true, encoding: .utf8)
        try "not a rule".write(to: dir.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        let set = try AlertRuleSet.load(paths: [dir.path], includeBuiltins: false)
        #expect(set.rules.map(\.name) == ["ours", "A rule", "B rule"])
        #expect(set.rules.first { $0.name == "A rule" }?.origin.hasSuffix("a.yml:1:1") == true)
        let withPack = try AlertRuleSet.load(paths: [dir.path])
        #expect(withPack.rules.count == AlertRuleSet.builtin.rules.count + 3)
    }

    @Test("a title already used by another rule is an error naming both places")
    func duplicateTitles() {
        let a = sigmaRule(title: "pod-exec", detection: "    sel:\n        verb: get\n    condition: sel")
        do {
            _ = try AlertRuleSet.load(files: [AlertRulesSource(yaml: a, source: "x.yml")])
            Issue.record("expected a duplicate error")
        } catch {
            #expect(error.contains(.duplicateRule))
            #expect(error.description.contains("x.yml:1:1: Sigma rule title 'pod-exec' is already the name of a rule at builtin:"))
        }
    }
}
