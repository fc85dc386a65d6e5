import Testing
@testable import AuditPolicy

// Requests and rules of kube-apiserver's own checker_test.go, re-expressed.
private let groupsOfTim = ["humans", "developers"]

enum Req: String, CaseIterable, Sendable {
    case namespaced, cluster, nonResource, subresource, unauthorized

    var request: PolicyRequest {
        switch self {
        case .namespaced:
            return .resource(user: "tim@k8s.io", groups: groupsOfTim, verb: "get", resource: "pods", namespace: "default",
                             name: "busybox", path: "/api/v1/namespaces/default/pods/busybox")
        case .cluster:
            return .resource(user: "tim@k8s.io", groups: groupsOfTim, verb: "get", apiGroup: "rbac.authorization.k8s.io",
                             resource: "clusterroles", name: "edit",
                             path: "/apis/rbac.authorization.k8s.io/v1beta1/clusterroles/edit")
        case .nonResource:
            return .nonResource(user: "tim@k8s.io", groups: groupsOfTim, verb: "get", path: "/logs/kubelet.log")
        case .subresource:
            return .resource(user: "tim@k8s.io", groups: groupsOfTim, verb: "get", resource: "pods", subresource: "log",
                             namespace: "default", name: "busybox", path: "/api/v1/namespaces/default/pods/busybox")
        case .unauthorized:
            return .resource(user: nil, verb: "get", resource: "pods", namespace: "default", name: "busybox",
                             path: "/api/v1/namespaces/default/pods/busybox")
        }
    }
}

let kubeRules: [String: PolicyRule] = [
    "default": PolicyRule(level: .metadata),
    "create": PolicyRule(level: .request, verbs: ["create"]),
    "tims": PolicyRule(level: .metadata, users: ["tim@k8s.io"]),
    "humans": PolicyRule(level: .metadata, userGroups: ["humans"]),
    "serviceAccounts": PolicyRule(level: .request, userGroups: ["system:serviceaccounts"]),
    "getPods": PolicyRule(level: .requestResponse, verbs: ["get"], resources: [GroupResources(resources: ["pods"])]),
    "getPodLogs": PolicyRule(level: .request, verbs: ["get"], resources: [GroupResources(resources: ["pods/log"])]),
    "getPodWildcardMatching": PolicyRule(level: .request, verbs: ["get"], resources: [GroupResources(resources: ["*"])]),
    "getPodResourceWildcardMatching": PolicyRule(level: .request, verbs: ["get"], resources: [GroupResources(resources: ["*/log"])]),
    "getPodSubResourceWildcardMatching": PolicyRule(level: .request, verbs: ["get"], resources: [GroupResources(resources: ["pods/*"])]),
    "getClusterRoles": PolicyRule(
        level: .requestResponse, verbs: ["get"],
        resources: [GroupResources(group: "rbac.authorization.k8s.io", resources: ["clusterroles"])], namespaces: [""]),
    "getLogs": PolicyRule(level: .requestResponse, verbs: ["get"], nonResourceURLs: ["/logs*"]),
    "getMetrics": PolicyRule(level: .request, verbs: ["get"], nonResourceURLs: ["/metrics"]),
    "clusterRoleEdit": PolicyRule(
        level: .request,
        resources: [GroupResources(group: "rbac.authorization.k8s.io", resources: ["clusterroles"], resourceNames: ["edit"])]),
    "omit RequestReceived": PolicyRule(level: .request, omitStages: [.requestReceived]),
    "only audit panic": PolicyRule(level: .request, omitStages: [.requestReceived, .responseStarted, .responseComplete]),
]

struct KubeCase: Sendable, CustomTestStringConvertible {
    var request: Req
    var level: AuditLevel
    var rules: [String]
    var testDescription: String { "\(request.rawValue) \(rules.joined(separator: ",")) → \(level.rawValue)" }
}

/// kube's testAuditLevel table.
let kubeCases: [KubeCase] = [
    .init(request: .namespaced, level: .metadata, rules: ["default"]),
    .init(request: .namespaced, level: .none, rules: ["create"]),
    .init(request: .namespaced, level: .metadata, rules: ["tims"]),
    .init(request: .namespaced, level: .metadata, rules: ["humans"]),
    .init(request: .namespaced, level: .none, rules: ["serviceAccounts"]),
    .init(request: .namespaced, level: .requestResponse, rules: ["getPods"]),
    .init(request: .namespaced, level: .none, rules: ["getClusterRoles"]),
    .init(request: .namespaced, level: .none, rules: ["getLogs"]),
    .init(request: .namespaced, level: .none, rules: ["getMetrics"]),
    .init(request: .namespaced, level: .metadata, rules: ["getMetrics", "serviceAccounts", "default"]),
    .init(request: .namespaced, level: .requestResponse, rules: ["getMetrics", "getPods", "default"]),
    .init(request: .namespaced, level: .requestResponse, rules: ["getPodLogs", "getPods"]),

    .init(request: .cluster, level: .metadata, rules: ["default"]),
    .init(request: .cluster, level: .none, rules: ["create"]),
    .init(request: .cluster, level: .metadata, rules: ["tims"]),
    .init(request: .cluster, level: .metadata, rules: ["humans"]),
    .init(request: .cluster, level: .none, rules: ["serviceAccounts"]),
    .init(request: .cluster, level: .none, rules: ["getPods"]),
    .init(request: .cluster, level: .requestResponse, rules: ["getClusterRoles"]),
    .init(request: .cluster, level: .request, rules: ["clusterRoleEdit", "getClusterRoles"]),
    .init(request: .cluster, level: .none, rules: ["getLogs"]),
    .init(request: .cluster, level: .none, rules: ["getMetrics"]),
    .init(request: .cluster, level: .metadata, rules: ["getMetrics", "serviceAccounts", "default"]),
    .init(request: .cluster, level: .requestResponse, rules: ["getMetrics", "getClusterRoles", "default"]),
    .init(request: .cluster, level: .none, rules: ["getPodLogs", "getPods"]),

    .init(request: .nonResource, level: .metadata, rules: ["default"]),
    .init(request: .nonResource, level: .none, rules: ["create"]),
    .init(request: .nonResource, level: .metadata, rules: ["tims"]),
    .init(request: .nonResource, level: .metadata, rules: ["humans"]),
    .init(request: .nonResource, level: .none, rules: ["serviceAccounts"]),
    .init(request: .nonResource, level: .none, rules: ["getPods"]),
    .init(request: .nonResource, level: .none, rules: ["getClusterRoles"]),
    .init(request: .nonResource, level: .requestResponse, rules: ["getLogs"]),
    .init(request: .nonResource, level: .none, rules: ["getMetrics"]),
    .init(request: .nonResource, level: .metadata, rules: ["getMetrics", "serviceAccounts", "default"]),
    .init(request: .nonResource, level: .requestResponse, rules: ["getLogs", "getClusterRoles", "default"]),
    .init(request: .nonResource, level: .none, rules: ["getPodLogs", "getPods"]),

    .init(request: .subresource, level: .request, rules: ["getPodLogs", "getPods"]),
    .init(request: .subresource, level: .request, rules: ["getPodWildcardMatching"]),
    .init(request: .subresource, level: .request, rules: ["getPodResourceWildcardMatching"]),
    .init(request: .subresource, level: .request, rules: ["getPodSubResourceWildcardMatching"]),

    .init(request: .unauthorized, level: .none, rules: ["tims"]),
    .init(request: .unauthorized, level: .metadata, rules: ["tims", "default"]),
    .init(request: .unauthorized, level: .none, rules: ["humans"]),
    .init(request: .unauthorized, level: .metadata, rules: ["humans", "default"]),
]

func policy(_ names: [String], omitStages: Set<AuditStage> = []) -> AuditPolicy {
    AuditPolicy(rules: names.compactMap { kubeRules[$0] }, omitStages: omitStages)
}

@Suite("kube checker_test.go conformance")
struct KubeCheckerConformance {
    @Test("level, no policy omitStages", arguments: kubeCases)
    func levelWithoutPolicyStages(_ c: KubeCase) {
        let p = policy(c.rules)
        #expect(p.rules.count == c.rules.count)
        let d = p.evaluate(c.request.request)
        #expect(d.level == c.level)
        #expect(d.omitStages == [])
        #expect(p.firstMatchLinear(c.request.request) == d.ruleIndex)
    }

    @Test("level, policy omitStages RequestReceived+ResponseStarted", arguments: kubeCases)
    func levelWithPolicyStages(_ c: KubeCase) {
        let stages: Set<AuditStage> = [.requestReceived, .responseStarted]
        let d = policy(c.rules, omitStages: stages).evaluate(c.request.request)
        #expect(d.level == c.level)
        #expect(d.omitStages == stages)
    }

    struct StageCase: Sendable, CustomTestStringConvertible {
        var request: Req
        var policyStages: Set<AuditStage>
        var rules: [String]
        var level: AuditLevel
        var stages: Set<AuditStage>
        var testDescription: String { "\(request.rawValue) \(rules.joined(separator: ",")) policy=\(policyStages.map(\.rawValue).sorted())" }
    }

    static let stageCases: [StageCase] = {
        let rr: Set<AuditStage> = [.requestReceived]
        let panicOnly: Set<AuditStage> = [.requestReceived, .responseStarted, .responseComplete]
        let pol: Set<AuditStage> = [.requestReceived, .responseStarted]
        var cases: [StageCase] = []
        for r in [Req.namespaced, .cluster, .nonResource] {
            cases.append(.init(request: r, policyStages: [], rules: ["omit RequestReceived", "getPods", "default"], level: .request, stages: rr))
            cases.append(.init(request: r, policyStages: [], rules: ["only audit panic", "getPods", "default"], level: .request, stages: panicOnly))
            cases.append(.init(request: r, policyStages: pol, rules: ["only audit panic", "getPods", "default"], level: .request, stages: panicOnly))
        }
        cases.append(.init(request: .namespaced, policyStages: pol, rules: ["omit RequestReceived", "getPods", "default"], level: .request, stages: pol))
        cases.append(.init(request: .cluster, policyStages: pol, rules: ["omit RequestReceived", "getPods", "default"], level: .request, stages: pol))
        cases.append(.init(request: .nonResource, policyStages: pol, rules: ["default", "omit RequestReceived", "getPods"], level: .metadata, stages: pol))
        return cases
    }()

    @Test("rule omitStages union policy omitStages", arguments: stageCases)
    func omitStagesUnion(_ c: StageCase) {
        let d = policy(c.rules, omitStages: c.policyStages).evaluate(c.request.request)
        #expect(d.level == c.level)
        #expect(d.omitStages == c.stages)
    }

    struct ManagedCase: Sendable, CustomTestStringConvertible {
        var policy: Bool
        var rule: Bool?
        var want: Bool
        var testDescription: String { "policy=\(policy) rule=\(rule.map(String.init(describing:)) ?? "unset")" }
    }

    @Test("omitManagedFields: rule overrides policy", arguments: [
        ManagedCase(policy: false, rule: nil, want: false), ManagedCase(policy: true, rule: nil, want: true),
        ManagedCase(policy: true, rule: false, want: false), ManagedCase(policy: false, rule: true, want: true),
    ])
    func omitManagedFields(_ c: ManagedCase) {
        let p = AuditPolicy(
            rules: [PolicyRule(level: .requestResponse, verbs: ["get"], omitManagedFields: c.rule)], omitManagedFields: c.policy)
        let d = p.evaluate(PolicyRequest(user: nil, verb: "get", isResourceRequest: false))
        #expect(d.omitManagedFields == c.want)
        #expect(d.ruleIndex == 0)
    }

    @Test func noMatchUsesPolicyDefaults() {
        let p = AuditPolicy(rules: [PolicyRule(level: .request, verbs: ["create"])], omitStages: [.panic], omitManagedFields: true)
        let d = p.evaluate(Req.namespaced.request)
        #expect(d == PolicyDecision(level: .none, omitStages: [.panic], omitManagedFields: true, ruleIndex: nil))
    }
}

// MARK: - Every matching form, written as YAML

struct MatchCase: Sendable, CustomTestStringConvertible {
    var name: String
    var rule: String  // YAML of one rule, indented as a list item under `rules:`
    var request: PolicyRequest
    var matches: Bool
    var testDescription: String { name }
}

private let podsGet = PolicyRequest.resource(user: "alice", groups: ["dev"], verb: "get", resource: "pods", namespace: "default", name: "web")
private func res(_ resource: String, _ sub: String = "", group: String = "", ns: String = "default", name: String = "x",
                 verb: String = "get", user: String? = "alice", groups: [String] = ["dev"]) -> PolicyRequest {
    .resource(user: user, groups: groups, verb: verb, apiGroup: group, resource: resource, subresource: sub, namespace: ns, name: name)
}
private func url(_ path: String, verb: String = "get", user: String? = "alice", groups: [String] = ["dev"]) -> PolicyRequest {
    .nonResource(user: user, groups: groups, verb: verb, path: path)
}

let matchCases: [MatchCase] = [
    // users
    .init(name: "users exact", rule: "users: [alice]", request: podsGet, matches: true),
    .init(name: "users other", rule: "users: [bob]", request: podsGet, matches: false),
    .init(name: "users is case sensitive", rule: "users: [Alice]", request: podsGet, matches: false),
    .init(name: "users no glob", rule: "users: ['al*']", request: podsGet, matches: false),
    .init(name: "users star is literal", rule: "users: ['*']", request: podsGet, matches: false),
    .init(name: "users, nil user", rule: "users: [alice]", request: res("pods", user: nil), matches: false),
    .init(name: "users, empty user name matches \"\"", rule: "users: ['']", request: res("pods", user: ""), matches: true),
    // userGroups
    .init(name: "userGroups any of", rule: "userGroups: [ops, dev]", request: podsGet, matches: true),
    .init(name: "userGroups none", rule: "userGroups: [ops]", request: podsGet, matches: false),
    .init(name: "userGroups second group", rule: "userGroups: [system:authenticated]",
          request: res("pods", groups: ["dev", "system:authenticated"]), matches: true),
    .init(name: "userGroups, nil user", rule: "userGroups: [system:unauthenticated]",
          request: res("pods", user: nil, groups: ["system:unauthenticated"]), matches: false),
    .init(name: "userGroups, no groups", rule: "userGroups: [dev]", request: res("pods", groups: []), matches: false),
    .init(name: "users and userGroups both needed", rule: "users: [alice]\n    userGroups: [ops]", request: podsGet, matches: false),
    // verbs
    .init(name: "verbs exact", rule: "verbs: [get]", request: podsGet, matches: true),
    .init(name: "verbs other", rule: "verbs: [list, watch]", request: podsGet, matches: false),
    .init(name: "verbs case sensitive", rule: "verbs: [GET]", request: podsGet, matches: false),
    .init(name: "verbs star literal", rule: "verbs: ['*']", request: podsGet, matches: false),
    .init(name: "verbs on non-resource", rule: "verbs: [post]", request: url("/api", verb: "post"), matches: true),
    // namespaces
    .init(name: "namespaces exact", rule: "namespaces: [default]", request: podsGet, matches: true),
    .init(name: "namespaces other", rule: "namespaces: [kube-system]", request: podsGet, matches: false),
    .init(name: "namespaces \"\" is cluster scope", rule: "namespaces: ['']", request: res("nodes", ns: ""), matches: true),
    .init(name: "namespaces \"\" not namespaced", rule: "namespaces: ['']", request: podsGet, matches: false),
    .init(name: "namespaces vs non-resource", rule: "namespaces: [default]", request: url("/healthz"), matches: false),
    .init(name: "namespaces glob literal", rule: "namespaces: ['kube-*']", request: res("pods", ns: "kube-system"), matches: false),
    // resources: groups
    .init(name: "group core", rule: "resources: [{group: ''}]", request: podsGet, matches: true),
    .init(name: "group core omitted key", rule: "resources: [{resources: [pods]}]", request: podsGet, matches: true),
    .init(name: "group core vs apps", rule: "resources: [{group: ''}]", request: res("deployments", group: "apps"), matches: false),
    .init(name: "group apps", rule: "resources: [{group: apps}]", request: res("deployments", group: "apps"), matches: true),
    .init(name: "group apps any resource incl sub", rule: "resources: [{group: apps}]", request: res("deployments", "scale", group: "apps"), matches: true),
    .init(name: "group second entry", rule: "resources: [{group: apps}, {group: batch, resources: [jobs]}]",
          request: res("jobs", group: "batch"), matches: true),
    .init(name: "resources vs non-resource", rule: "resources: [{group: ''}]", request: url("/api"), matches: false),
    // resources: patterns
    .init(name: "pods matches pods", rule: "resources: [{resources: [pods]}]", request: podsGet, matches: true),
    .init(name: "pods not pods/log", rule: "resources: [{resources: [pods]}]", request: res("pods", "log"), matches: false),
    .init(name: "pods/log matches", rule: "resources: [{resources: [pods/log]}]", request: res("pods", "log"), matches: true),
    .init(name: "pods/log not pods", rule: "resources: [{resources: [pods/log]}]", request: podsGet, matches: false),
    .init(name: "pods/log not pods/exec", rule: "resources: [{resources: [pods/log]}]", request: res("pods", "exec"), matches: false),
    .init(name: "star matches", rule: "resources: [{resources: ['*']}]", request: podsGet, matches: true),
    .init(name: "star matches subresource", rule: "resources: [{resources: ['*']}]", request: res("pods", "exec"), matches: true),
    .init(name: "star stays in group", rule: "resources: [{resources: ['*']}]", request: res("deployments", group: "apps"), matches: false),
    .init(name: "*/scale matches deployments/scale", rule: "resources: [{group: apps, resources: ['*/scale']}]",
          request: res("deployments", "scale", group: "apps"), matches: true),
    .init(name: "*/scale not deployments", rule: "resources: [{group: apps, resources: ['*/scale']}]",
          request: res("deployments", group: "apps"), matches: false),
    .init(name: "*/scale not deployments/status", rule: "resources: [{group: apps, resources: ['*/scale']}]",
          request: res("deployments", "status", group: "apps"), matches: false),
    .init(name: "pods/* matches pods/exec", rule: "resources: [{resources: ['pods/*']}]", request: res("pods", "exec"), matches: true),
    .init(name: "pods/* matches plain pods (as kube codes it)", rule: "resources: [{resources: ['pods/*']}]", request: podsGet, matches: true),
    .init(name: "pods/* not services", rule: "resources: [{resources: ['pods/*']}]", request: res("services"), matches: false),
    .init(name: "pods/* not podsx", rule: "resources: [{resources: ['pods/*']}]", request: res("podsx"), matches: false),
    .init(name: "resource case sensitive", rule: "resources: [{resources: [Pods]}]", request: podsGet, matches: false),
    // resourceNames
    .init(name: "resourceNames match", rule: "resources: [{resources: [configmaps], resourceNames: [leader]}]",
          request: res("configmaps", name: "leader"), matches: true),
    .init(name: "resourceNames other", rule: "resources: [{resources: [configmaps], resourceNames: [leader]}]",
          request: res("configmaps", name: "other"), matches: false),
    .init(name: "resourceNames vs list (no name)", rule: "resources: [{resources: [configmaps], resourceNames: [leader]}]",
          request: res("configmaps", name: "", verb: "list"), matches: false),
    .init(name: "resourceNames with star", rule: "resources: [{resources: ['*'], resourceNames: [leader]}]",
          request: res("leases", group: "", name: "leader"), matches: true),
    .init(name: "resourceNames with pods/*", rule: "resources: [{resources: ['pods/*'], resourceNames: [web]}]",
          request: res("pods", "log", name: "web"), matches: true),
    .init(name: "resourceNames entry plus plain entry", rule: "resources: [{resources: [secrets], resourceNames: [a]}, {resources: [secrets]}]",
          request: res("secrets", name: "b"), matches: true),
    // namespaces and resources together
    .init(name: "namespaces and resources both match", rule: "namespaces: [kube-system]\n    resources: [{group: coordination.k8s.io, resources: [leases]}]",
          request: res("leases", group: "coordination.k8s.io", ns: "kube-system"), matches: true),
    .init(name: "namespaces and resources, wrong ns", rule: "namespaces: [kube-system]\n    resources: [{group: coordination.k8s.io, resources: [leases]}]",
          request: res("leases", group: "coordination.k8s.io", ns: "default"), matches: false),
    .init(name: "clusterroles cluster scope", rule: "namespaces: ['']\n    resources: [{group: rbac.authorization.k8s.io, resources: [clusterroles]}]",
          request: res("clusterroles", group: "rbac.authorization.k8s.io", ns: ""), matches: true),
    .init(name: "update clusterroles/status vs clusterroles", rule: "verbs: [update]\n    resources: [{group: rbac.authorization.k8s.io, resources: [clusterroles]}]",
          request: res("clusterroles", "status", group: "rbac.authorization.k8s.io", ns: "", verb: "update"), matches: false),
    .init(name: "update clusterroles/status vs */status", rule: "verbs: [update]\n    resources: [{group: rbac.authorization.k8s.io, resources: ['*/status']}]",
          request: res("clusterroles", "status", group: "rbac.authorization.k8s.io", ns: "", verb: "update"), matches: true),
    .init(name: "update clusterroles/status vs clusterroles/*", rule: "verbs: [update]\n    resources: [{group: rbac.authorization.k8s.io, resources: ['clusterroles/*']}]",
          request: res("clusterroles", "status", group: "rbac.authorization.k8s.io", ns: "", verb: "update"), matches: true),
    // nonResourceURLs
    .init(name: "url exact", rule: "nonResourceURLs: [/version]", request: url("/version"), matches: true),
    .init(name: "url exact not prefix", rule: "nonResourceURLs: [/version]", request: url("/version/"), matches: false),
    .init(name: "url prefix", rule: "nonResourceURLs: ['/healthz*']", request: url("/healthz/etcd"), matches: true),
    .init(name: "url prefix self", rule: "nonResourceURLs: ['/healthz*']", request: url("/healthz"), matches: true),
    .init(name: "url prefix no slash boundary", rule: "nonResourceURLs: ['/api*']", request: url("/apis/apps"), matches: true),
    .init(name: "url prefix miss", rule: "nonResourceURLs: ['/healthz*']", request: url("/livez"), matches: false),
    .init(name: "url star", rule: "nonResourceURLs: ['*']", request: url("/anything"), matches: true),
    .init(name: "url logs prefix (kube getLogs)", rule: "nonResourceURLs: ['/logs*']", request: url("/logs/kubelet.log"), matches: true),
    .init(name: "url vs resource request", rule: "nonResourceURLs: ['*']", request: podsGet, matches: false),
    .init(name: "url star vs resource request with same path", rule: "nonResourceURLs: ['/api*']",
          request: .resource(user: "alice", verb: "get", resource: "pods", namespace: "default", path: "/api/v1/namespaces/default/pods"), matches: false),
    // no selectors
    .init(name: "catch-all matches resource", rule: "{}", request: podsGet, matches: true),
    .init(name: "catch-all matches non-resource", rule: "{}", request: url("/metrics"), matches: true),
    .init(name: "catch-all matches anonymous", rule: "{}", request: res("pods", user: nil), matches: true),
    .init(name: "verbs-only rule matches non-resource", rule: "verbs: [get]", request: url("/metrics"), matches: true),
    .init(name: "empty lists are no restriction", rule: "users: []\n    verbs: []\n    resources: []", request: url("/metrics"), matches: true),
]

@Suite("matching forms")
struct MatchingForms {
    @Test(arguments: matchCases)
    func match(_ c: MatchCase) throws {
        let yaml = """
            apiVersion: audit.k8s.io/v1
            kind: Policy
            rules:
              - level: Request
                \(c.rule == "{}" ? "" : c.rule)
            """
        let p = try AuditPolicy.parse(yaml: yaml, source: c.name)
        let d = p.evaluate(c.request)
        #expect(d.level == (c.matches ? .request : .none), "\(c.name)")
        #expect((d.ruleIndex == 0) == c.matches)
        #expect(p.firstMatchLinear(c.request) == d.ruleIndex, "bit-mask and linear matchers disagree")
    }

    /// kube: a rule with resources or namespaces only applies the resource test, even when
    /// nonResourceURLs is also set (the parser rejects that combination; the matcher must still agree).
    @Test func resourceTestWinsOverNonResourceURLs() {
        let rule = PolicyRule(level: .metadata, resources: [GroupResources(resources: ["pods"])], nonResourceURLs: ["*"])
        let p = AuditPolicy(rules: [rule])
        #expect(p.evaluate(podsGet).level == .metadata)
        #expect(p.evaluate(url("/healthz")).level == .none)
        let nsRule = PolicyRule(level: .metadata, namespaces: ["default"], nonResourceURLs: ["/healthz"])
        #expect(AuditPolicy(rules: [nsRule]).evaluate(url("/healthz")).level == .none)
    }

    @Test func firstMatchWins() {
        let p = AuditPolicy(rules: [
            PolicyRule(level: .none, users: ["system:kube-proxy"], verbs: ["watch"]),
            PolicyRule(level: .requestResponse, verbs: ["watch"]),
            PolicyRule(level: .metadata),
        ])
        #expect(p.evaluate(res("endpoints", verb: "watch", user: "system:kube-proxy")).ruleIndex == 0)
        #expect(p.evaluate(res("endpoints", verb: "watch")).ruleIndex == 1)
        #expect(p.evaluate(res("endpoints", verb: "list")).ruleIndex == 2)
    }

    /// Group "*" is not a wildcard in kube: built programmatically it matches only the literal group "*".
    @Test func groupStarIsLiteral() {
        let p = AuditPolicy(rules: [PolicyRule(level: .metadata, resources: [GroupResources(group: "*")])])
        #expect(p.evaluate(res("deployments", group: "apps")).level == .none)
        #expect(p.evaluate(res("pods")).level == .none)
    }

    /// Long policies take the linear path; both paths agree on random requests.
    @Test(arguments: [5, 64, 65, 130])
    func maskAndLinearAgree(ruleCount: Int) {
        var rng = SplitMix(seed: UInt64(ruleCount))
        let users = ["alice", "bob", "system:kube-proxy", ""]
        let groupsPool = ["dev", "ops", "system:nodes", "system:authenticated"]
        let verbs = ["get", "list", "watch", "update", "create"]
        let groupsAPI = ["", "apps", "rbac.authorization.k8s.io"]
        let resourcesPool = ["pods", "pods/log", "*", "*/status", "pods/*", "deployments", "deployments/scale", "*/scale"]
        let namespaces = ["", "default", "kube-system"]
        let urls = ["/healthz*", "/version", "*", "/api*", "/logs"]
        func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }
        func some<T>(_ a: [T]) -> [T] { rng.next() % 3 == 0 ? [] : (0..<Int(1 + rng.next() % 2)).map { _ in pick(a) } }
        var rules: [PolicyRule] = []
        for _ in 0..<ruleCount {
            var r = PolicyRule(level: pick(AuditLevel.allCases), users: some(users), userGroups: some(groupsPool), verbs: some(verbs))
            switch rng.next() % 3 {
            case 0:
                r.namespaces = some(namespaces)
                r.resources = some(groupsAPI).map { g in
                    GroupResources(group: g, resources: some(resourcesPool), resourceNames: rng.next() % 5 == 0 ? ["web"] : [])
                }
            case 1: r.nonResourceURLs = some(urls)
            default: break
            }
            rules.append(r)
        }
        // Keep only rules that could match something specific: drop most catch-alls.
        rules = rules.filter { !$0.isCatchAll || rng.next() % 4 == 0 }
        let p = AuditPolicy(rules: rules)
        for _ in 0..<2000 {
            let request: PolicyRequest
            if rng.next() % 4 == 0 {
                request = .nonResource(user: rng.next() % 6 == 0 ? nil : pick(users), groups: some(groupsPool), verb: pick(verbs),
                                       path: pick(["/healthz", "/healthz/etcd", "/version", "/api/v1", "/logs", "/metrics"]))
            } else {
                let rs = pick(["pods", "deployments", "services", "clusterroles"])
                request = .resource(user: rng.next() % 6 == 0 ? nil : pick(users), groups: some(groupsPool), verb: pick(verbs),
                                    apiGroup: pick(groupsAPI), resource: rs, subresource: pick(["", "", "log", "status", "scale"]),
                                    namespace: pick(namespaces), name: pick(["", "web", "db"]))
            }
            let fast = p.evaluate(request).ruleIndex
            let slow = p.firstMatchLinear(request)
            #expect(fast == slow, "\(request)")
            if fast != slow { return }
        }
    }
}

/// Small deterministic RNG for reproducible random tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
