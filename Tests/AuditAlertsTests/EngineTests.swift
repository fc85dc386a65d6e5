import Foundation
import Testing

@testable import AuditAlerts

private func rules(_ body: String) throws -> AlertRuleSet {
    try AlertRuleSet.load(yaml: "apiVersion: auditship.io/v1\nkind: AlertRules\nrules:\n" + body, source: "t.yaml", includeBuiltins: false)
}

private let t0 = Date(timeIntervalSince1970: 1_767_261_600)

private func run(_ engine: AlertEngine, _ json: String, at seconds: TimeInterval) -> [AlertFiring] {
    engine.evaluate(event: Array(json.utf8), cluster: "c", node: "n", now: t0.addingTimeInterval(seconds))
}

private func denied(_ user: String, id: Int = 0) -> String {
    auditEvent(verb: "get", resource: "secrets", namespace: "prod", name: "s", user: user, code: 403, decision: "forbid",
               auditID: "00000000-0000-0000-0000-\(String(format: "%012d", id))")
}

@Suite("Engine: thresholds, suppression, memory")
struct EngineStateTests {
    static let thresholdRule = """
          - name: brute
            severity: high
            when: {field: code, equals: 403}
            threshold: {count: 3, window: 1m, groupBy: [user]}
            message: "{{user}} refused"
        """

    @Test("threshold fires on the Nth match within the window, per group, then restarts")
    func threshold() throws {
        let engine = AlertEngine(rules: try rules(Self.thresholdRule))
        #expect(run(engine, denied("bob"), at: 0).isEmpty)
        #expect(run(engine, denied("eve"), at: 1).isEmpty)
        #expect(run(engine, denied("bob"), at: 10).isEmpty)
        let fired = run(engine, denied("bob", id: 3), at: 20)
        #expect(fired.map(\.rule) == ["brute"])
        #expect(fired.first?.groupKey == "user=bob")
        #expect(fired.first?.count == 3)
        #expect(fired.first?.auditID == "00000000-0000-0000-0000-000000000003")
        // The count restarts.
        #expect(run(engine, denied("bob"), at: 21).isEmpty)
        #expect(run(engine, denied("bob"), at: 22).isEmpty)
        #expect(run(engine, denied("bob"), at: 23).count == 1)
        // eve's two old matches fall out of the window.
        #expect(run(engine, denied("eve"), at: 30).isEmpty)
        #expect(run(engine, denied("eve"), at: 62).isEmpty)  // the one at 1s expired
        #expect(run(engine, denied("eve"), at: 63).count == 1)
    }

    @Test("matches spread wider than the window never fire")
    func slowMatches() throws {
        let engine = AlertEngine(rules: try rules(Self.thresholdRule))
        for i in 0..<10 { #expect(run(engine, denied("bob"), at: Double(i) * 31).isEmpty) }
    }

    @Test("suppression: the same alert for the same group at most once per interval")
    func suppression() throws {
        let engine = AlertEngine(rules: try rules("""
              - name: secret-get
                severity: low
                when: {field: resource, equals: secrets}
                suppress: 10m
                message: "{{user}} read {{namespacedName}}"
            """))
        let a = auditEvent(verb: "get", resource: "secrets", namespace: "prod", name: "a", user: "bob")
        let b = auditEvent(verb: "get", resource: "secrets", namespace: "prod", name: "b", user: "bob")
        #expect(run(engine, a, at: 0).count == 1)
        #expect(run(engine, a, at: 60).isEmpty)
        #expect(run(engine, b, at: 61).count == 1)  // another message: another group
        #expect(run(engine, a, at: 599).isEmpty)
        #expect(run(engine, a, at: 600).count == 1)
        #expect(engine.statistics.suppressed["secret-get"] == 2)
        #expect(engine.statistics.firings["secret-get"] == 3)
    }

    @Test("threshold with suppression: a group that keeps crossing is reported once per interval")
    func thresholdAndSuppression() throws {
        let engine = AlertEngine(rules: try rules(Self.thresholdRule + "\n    suppress: 1h"))
        var fired = 0
        for i in 0..<30 { fired += run(engine, denied("bob"), at: Double(i)).count }
        #expect(fired == 1)
        #expect(engine.statistics.suppressed["brute"] == 9)
        for i in 0..<3 { fired += run(engine, denied("bob"), at: 3600 + Double(i)).count }
        #expect(fired == 2)
    }

    @Test("groups are capped per rule and evictions counted; expired groups are swept")
    func boundedMemory() throws {
        let engine = AlertEngine(rules: try rules(Self.thresholdRule), options: .init(maxGroupsPerRule: 100))
        for i in 0..<1000 { _ = run(engine, denied("user-\(i)"), at: Double(i) * 0.01) }
        let tracked = try #require(engine.statistics.trackedGroups["brute"])
        #expect(tracked <= 100)
        #expect((engine.statistics.evictedGroups["brute"] ?? 0) >= 900)
        // Much later, one event: the sweep drops every expired group.
        _ = run(engine, denied("late"), at: 10_000)
        #expect(engine.statistics.trackedGroups["brute"] == 1)
        #expect((engine.statistics.expiredGroups["brute"] ?? 0) > 0)
    }

    @Test("a rule without threshold or suppression keeps no state")
    func stateless() throws {
        let engine = AlertEngine(rules: try rules("""
              - {name: any-403, severity: low, when: {field: code, equals: 403}, message: m}
            """))
        for i in 0..<100 { #expect(run(engine, denied("u\(i)"), at: 0).count == 1) }
        #expect(engine.statistics.trackedGroups.isEmpty)
    }

    @Test("malformed events are counted, not fatal")
    func malformed() throws {
        // A rule that needs no text: every event is parsed.
        let engine = AlertEngine(rules: try rules("""
              - {name: any-403, severity: low, when: {field: code, equals: 403}, message: m}
            """))
        let inputs = [Array("".utf8), Array("{".utf8), Array("[1,2]".utf8), Array("{\"kind\": 0}".utf8), [0xFF, 0xFE]]
        for bytes in inputs {
            #expect(engine.evaluate(event: bytes, cluster: "c", node: "n", now: t0).isEmpty)
        }
        #expect(engine.statistics.malformedEvents == 4)  // "", "{", "[1,2]", 0xFFFE; {"kind": 0} is an object
        #expect(engine.statistics.events == 5)
        // Two rules that need text none of these hold: none is parsed, but for the bytes outside
        // ASCII (always parsed), which are malformed.
        let needing = AlertEngine(rules: try rules("""
              - {name: creates, severity: low, when: {field: verb, equals: create}, message: m}
              - {name: deletes, severity: low, when: {field: verb, equals: delete}, message: m}
            """))
        for bytes in inputs { #expect(needing.evaluate(event: bytes, cluster: "c", node: "n", now: t0).isEmpty) }
        #expect(needing.statistics.unparsed == 4)
        #expect(needing.statistics.malformedEvents == 1)
        #expect(needing.statistics.events == 5)
        // The built-in pack has more distinct needs than are worth searching: every event is parsed.
        let builtin = AlertEngine()
        for bytes in inputs { #expect(builtin.evaluate(event: bytes, cluster: "c", node: "n", now: t0).isEmpty) }
        #expect(builtin.statistics.unparsed == 0)
        #expect(builtin.statistics.malformedEvents == 4)
    }
}

@Suite("Conditions")
struct ConditionTests {
    private func holds(_ condition: String, _ event: String) throws -> Bool {
        let set = try rules("  - name: r\n    severity: low\n    when: \(condition)\n    message: m\n")
        return !builtinFirings(event, rules: set).isEmpty
    }

    let podEvent = auditEvent(
        verb: "create", resource: "pods", namespace: "prod", user: "bob", groups: ["dev", "system:authenticated"], code: 201,
        requestObject: [
            "metadata": ["name": "p", "labels": ["app.kubernetes.io/name": "web"]],
            "spec": [
                "containers": [
                    ["name": "a", "image": "nginx:latest", "ports": [["containerPort": 80]]],
                    ["name": "b", "image": "registry.corp/b:1.2", "securityContext": ["privileged": true]],
                ],
                "volumes": [["name": "v", "emptyDir": [String: Any]()]],
                "tolerations": [String](),
            ],
        ])

    @Test("fan-out: true when ANY value satisfies")
    func fanOut() throws {
        #expect(try holds("{field: 'requestObject.spec.containers[*].securityContext.privileged', equals: true}", podEvent))
        #expect(try holds("{field: 'requestObject.spec.containers[*].image', prefix: registry.corp/}", podEvent))
        #expect(try holds("{field: 'requestObject.spec.containers[*].image', glob: '*:latest'}", podEvent))
        #expect(try !holds("{field: 'requestObject.spec.containers[*].image', glob: 'nginx'}", podEvent))
        #expect(try holds("{field: 'requestObject.spec.containers[*].ports[*].containerPort', lte: 80}", podEvent))
        #expect(try holds("{field: 'requestObject.spec.containers[1].name', equals: b}", podEvent))
        #expect(try !holds("{field: 'requestObject.spec.containers[2].name', exists: true}", podEvent))
        // "none of the images is from registry.corp": not around the any-test.
        #expect(try !holds("{not: {field: 'requestObject.spec.containers[*].image', prefix: registry.corp/}}", podEvent))
    }

    @Test("contains: list membership for lists, substring for strings")
    func contains() throws {
        #expect(try holds("{field: groups, contains: dev}", podEvent))
        #expect(try !holds("{field: groups, contains: de}", podEvent))
        #expect(try holds("{field: groups, equals: dev}", podEvent))
        #expect(try holds("{field: requestURI, contains: /namespaces/prod/}", podEvent))
        #expect(try holds("{field: sourceIP, in: [10.1.2.3, 10.9.9.9]}", podEvent))
    }

    @Test("exists: absent, null and empty lists")
    func exists() throws {
        #expect(try holds("{field: subresource, exists: false}", podEvent))
        #expect(try holds("{field: requestObject.spec.tolerations, exists: true}", podEvent))
        #expect(try holds("{field: requestObject.spec.hostNetwork, exists: false}", podEvent))
        #expect(try holds("{field: 'requestObject.metadata.labels[\"app.kubernetes.io/name\"]', equals: web}", podEvent))
        #expect(try holds("{field: 'annotations[\"authorization.k8s.io/decision\"]', equals: allow}", podEvent))
        #expect(try holds("{field: decision, equals: allow}", podEvent))
        #expect(try holds("{field: 'requestObject.metadata.labels[keys]', prefix: app.kubernetes.io/}", podEvent))
        #expect(try holds("{field: 'event.user.uid', exists: true}", podEvent))
    }

    @Test("numbers and booleans compare as text or numerically")
    func numbers() throws {
        #expect(try holds("{field: code, equals: 201}", podEvent))
        #expect(try holds("{field: code, equals: '201'}", podEvent))
        #expect(try holds("{field: code, in: [200, 201]}", podEvent))
        #expect(try holds("{all: [{field: code, gte: 200}, {field: code, lt: 300}]}", podEvent))
        #expect(try !holds("{field: code, gt: 201}", podEvent))
        #expect(try !holds("{field: code, equals: true}", podEvent))
    }

    @Test("all, any, not and empty combinators")
    func combinators() throws {
        #expect(try holds("{all: []}", podEvent))
        #expect(try !holds("{any: []}", podEvent))
        #expect(try holds("{any: [{field: verb, equals: get}, {field: verb, equals: create}]}", podEvent))
        #expect(try !holds("{not: {all: [{field: verb, equals: create}, {field: user, equals: bob}]}}", podEvent))
    }

    @Test("name falls back to the request/response object; namespacedName joins it")
    func names() throws {
        #expect(try holds("{field: name, equals: p}", podEvent))
        #expect(try holds("{field: namespacedName, equals: prod/p}", podEvent))
        #expect(try holds("{field: apiGroup, equals: ''}", podEvent))
    }

    @Test("glob")
    func glob() {
        func g(_ p: String, _ s: String) -> Bool { globMatch(Array(p.utf8), Array(s.utf8)) }
        #expect(g("/healthz?*", "/healthz?verbose"))
        #expect(!g("/healthz?*", "/healthz"))
        #expect(g("*", ""))
        #expect(g("a*b*c", "axxbyyc"))
        #expect(!g("a*b*c", "axxbyy"))
        #expect(g("system:serviceaccount:*:default", "system:serviceaccount:prod:default"))
        #expect(g("?é", "xé"))
        #expect(g("caf?", "café"))
    }

    @Test("RFC 3339 timestamps")
    func timestamps() {
        #expect(parseRFC3339("2026-01-01T10:00:00Z") == Date(timeIntervalSince1970: 1_767_261_600))
        #expect(parseRFC3339("2026-01-01T10:00:00.250000Z") == Date(timeIntervalSince1970: 1_767_261_600.25))
        #expect(parseRFC3339("2026-01-01T12:00:00+02:00") == Date(timeIntervalSince1970: 1_767_261_600))
        #expect(parseRFC3339("2018-10-26T13:38:34Z") == Date(timeIntervalSince1970: 1_540_561_114))
        #expect(parseRFC3339("2026-01-01") == nil)
        #expect(parseRFC3339("2026-13-01T10:00:00Z") == nil)
        #expect(parseRFC3339("2026-01-01T10:00:00") == nil)
    }
}
