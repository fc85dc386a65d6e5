import SharedFixtures
import Testing
@testable import AuditPolicy

private func parse(_ rules: String, source: String = "c.yaml") throws -> AuditPolicy {
    try AuditPolicy.parse(yaml: "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n" + rules, source: source)
}

@Suite("policy check")
struct CheckTests {
    @Test func ruleSummaries() throws {
        let p = try parse("""
            - level: None
              users: ["system:kube-proxy"]
              verbs: ["watch"]
              resources:
                - group: ""
                  resources: ["endpoints", "services"]
            - level: None
              nonResourceURLs: ["/healthz*", "/version"]
            - level: Metadata
              userGroups: [system:nodes]
              namespaces: ["", kube-system]
              resources: [{group: apps}, {resources: [configmaps], resourceNames: [leader]}]
              omitStages: [RequestReceived]
            - level: Metadata
            """)
        let lines = p.check().rules.map(\.text)
        #expect(lines == [
            "#1 None: watch by system:kube-proxy on core endpoints, services",
            "#2 None: any verb on non-resource URLs /healthz*, /version",
            "#3 Metadata: any verb by group system:nodes on all of apps; core configmaps named leader in cluster scope, kube-system (omit RequestReceived)",
            "#4 Metadata: everything (catch-all)",
        ])
    }

    struct ShadowCase: Sendable, CustomTestStringConvertible {
        var name: String
        var rules: String
        var shadowed: [Int]
        var testDescription: String { name }
    }

    @Test(arguments: [
        ShadowCase(name: "catch-all before anything", rules: "- level: Metadata\n- level: None\n  verbs: [get]\n", shadowed: [2]),
        ShadowCase(name: "identical rules", rules: "- level: None\n  users: [a]\n- level: Request\n  users: [a]\n", shadowed: [2]),
        ShadowCase(name: "subset of users", rules: "- level: None\n  users: [a, b]\n- level: Request\n  users: [a]\n", shadowed: [2]),
        ShadowCase(name: "superset of users is not shadowed", rules: "- level: None\n  users: [a]\n- level: Request\n  users: [a, b]\n", shadowed: []),
        ShadowCase(name: "later without users is not shadowed", rules: "- level: None\n  users: [a]\n- level: Request\n  verbs: [get]\n", shadowed: []),
        ShadowCase(name: "verbs-only covers resource rule", rules: "- level: None\n  verbs: [get]\n- level: Request\n  verbs: [get]\n  resources: [{group: apps}]\n", shadowed: [2]),
        ShadowCase(name: "resource rule never covers a plain rule", rules: "- level: None\n  resources: [{group: apps}]\n- level: Request\n  verbs: [get]\n", shadowed: []),
        ShadowCase(name: "group covers its resources", rules: "- level: None\n  resources: [{group: apps}]\n- level: Request\n  resources: [{group: apps, resources: [deployments/scale]}]\n", shadowed: [2]),
        ShadowCase(name: "other group not covered", rules: "- level: None\n  resources: [{group: apps}]\n- level: Request\n  resources: [{group: batch}]\n", shadowed: []),
        ShadowCase(name: "star covers subresources", rules: "- level: None\n  resources: [{resources: ['*']}]\n- level: Request\n  resources: [{resources: [pods/log, services]}]\n", shadowed: [2]),
        ShadowCase(name: "pods does not cover pods/log", rules: "- level: None\n  resources: [{resources: [pods]}]\n- level: Request\n  resources: [{resources: [pods/log]}]\n", shadowed: []),
        ShadowCase(name: "pods/* covers pods and pods/log", rules: "- level: None\n  resources: [{resources: ['pods/*']}]\n- level: Request\n  resources: [{resources: [pods, pods/log]}]\n", shadowed: [2]),
        ShadowCase(name: "*/scale covers deployments/scale", rules: "- level: None\n  resources: [{group: apps, resources: ['*/scale']}]\n- level: Request\n  resources: [{group: apps, resources: [deployments/scale]}]\n", shadowed: [2]),
        ShadowCase(name: "named does not cover unnamed", rules: "- level: None\n  resources: [{resources: [configmaps], resourceNames: [a]}]\n- level: Request\n  resources: [{resources: [configmaps]}]\n", shadowed: []),
        ShadowCase(name: "unnamed covers named", rules: "- level: None\n  resources: [{resources: [configmaps]}]\n- level: Request\n  resources: [{resources: [configmaps], resourceNames: [a]}]\n", shadowed: [2]),
        ShadowCase(name: "namespace subset", rules: "- level: None\n  namespaces: [a, b]\n- level: Request\n  namespaces: [a]\n  resources: [{group: apps}]\n", shadowed: [2]),
        ShadowCase(name: "namespace not subset", rules: "- level: None\n  namespaces: [a]\n  resources: [{group: apps}]\n- level: Request\n  resources: [{group: apps}]\n", shadowed: []),
        ShadowCase(name: "url prefix covers", rules: "- level: None\n  nonResourceURLs: ['/healthz*']\n- level: Request\n  nonResourceURLs: [/healthz/etcd, '/healthz/x*']\n", shadowed: [2]),
        ShadowCase(name: "url exact does not cover prefix", rules: "- level: None\n  nonResourceURLs: [/healthz]\n- level: Request\n  nonResourceURLs: ['/healthz*']\n", shadowed: []),
        ShadowCase(name: "url rule vs resource rule", rules: "- level: None\n  nonResourceURLs: ['*']\n- level: Request\n  resources: [{group: apps}]\n", shadowed: []),
        ShadowCase(name: "split coverage is not claimed", rules: "- level: None\n  verbs: [get]\n- level: None\n  verbs: [list]\n- level: Request\n  verbs: [get, list]\n", shadowed: []),
    ])
    func shadowing(_ c: ShadowCase) throws {
        let p = try parse(c.rules)
        #expect(p.shadowedRules().map(\.rule) == c.shadowed, "\(c.name)")
        let warned = p.check().warnings.filter { $0.kind == .shadowed }.compactMap(\.rule)
        #expect(warned == c.shadowed)
    }

    /// Each claimed shadowing is checked against the matcher on a grid of requests.
    @Test func shadowClaimsHoldOnSamples() throws {
        let p = try parse("""
            - level: None
              resources: [{resources: ['pods/*']}, {group: apps, resources: ['*/scale']}]
            - level: Request
              resources: [{resources: [pods/log]}, {group: apps, resources: [deployments/scale]}]
            - level: Metadata
            """)
        #expect(p.shadowedRules().map(\.rule) == [2])
        for resource in ["pods", "deployments"] {
            for sub in ["", "log", "scale"] {
                for group in ["", "apps"] {
                    let r = PolicyRequest.resource(user: "u", verb: "get", apiGroup: group, resource: resource, subresource: sub)
                    #expect(p.evaluate(r).ruleIndex != 1)
                }
            }
        }
    }

    @Test func suspiciousThings() throws {
        let p = try parse("""
            - level: Metadata
              omitStages: [RequestReceived, ResponseStarted, ResponseComplete, Panic]
              users: ["*apiserver"]
            - level: Request
              verbs: [GET, lsit]
              resources: [{resources: [Pods]}]
            - level: Metadata
            - level: None
              verbs: [get]
            """)
        let report = p.check()
        let kinds = report.warnings.map(\.kind)
        #expect(kinds.contains(.omitsAllStages))
        #expect(kinds.contains(.literalWildcard))
        #expect(kinds.contains(.catchAllNotLast))
        #expect(kinds.contains(.shadowed))
        #expect(report.warnings.contains { $0.kind == .unknownVerb && $0.message.contains("'lsit'") && $0.message.contains("did you mean 'list'?") })
        #expect(report.warnings.contains { $0.kind == .unknownVerb && $0.message.contains("'GET'") })
        #expect(report.warnings.contains { $0.kind == .suspiciousResource })
        let text = report.renderText()
        #expect(text.contains("c.yaml:4:3: warning: rule #1: omits every stage"))
        #expect(text.contains("#4 None: get on anything"))
        #expect(text.hasSuffix("0 errors\n"))
    }

    @Test func errorsReport() {
        let report = AuditPolicy.check(yaml: "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  verb: [get]\n", source: "bad.yaml")
        #expect(report.hasErrors)
        #expect(report.renderText() == "bad.yaml:5:3: unknown field 'verb' in rule #1; did you mean 'verbs'?\nbad.yaml: 1 error\n")
    }

    @Test(.needsShared("real-world/policies")) func cloTranscribedGlobIsFlagged() throws {
        let name = "openshift__cluster-logging-operator__test_functional_filters_apiaudit_api_audit_filter_test.go.TRANSCRIBED.yaml"
        let text = try Fixtures.read(Fixtures.realWorldPolicies.appendingPathComponent(name))
        let report = AuditPolicy.check(yaml: text, source: name)
        #expect(report.warnings.map(\.kind) == [.literalWildcard])
    }
}
