import Foundation
import Testing

@testable import AuditAlerts

struct RuleCase: Sendable, CustomTestStringConvertible {
    var rule: String
    /// A real-shaped event that fires the rule.
    var fires: String
    /// A near miss: almost the same event, which must not fire it.
    var nearMiss: String
    var testDescription: String { rule }
}

let rsController = "system:serviceaccount:kube-system:replicaset-controller"

let builtinCases: [RuleCase] = [
    RuleCase(
        rule: "secret-read-by-non-system-user",
        fires: auditEvent(verb: "get", resource: "secrets", namespace: "prod", name: "db-credentials"),
        nearMiss: auditEvent(verb: "get", resource: "secrets", namespace: "prod", name: "db-credentials",
                             user: "system:serviceaccount:prod:api", groups: ["system:serviceaccounts"])),
    RuleCase(
        rule: "secret-access-denied",
        fires: auditEvent(verb: "get", resource: "secrets", namespace: "prod", name: "db-credentials", user: "mallory", code: 403, decision: "forbid"),
        nearMiss: auditEvent(verb: "get", resource: "secrets", namespace: "prod", name: "db-credential", code: 404)),
    RuleCase(
        rule: "secret-modified",
        fires: auditEvent(verb: "patch", resource: "secrets", namespace: "prod", name: "db-credentials",
                          requestObject: ["data": ["password": "c2VjcmV0"]]),
        nearMiss: auditEvent(verb: "patch", resource: "secrets", namespace: "prod", name: "db-credentials",
                             user: "system:kube-controller-manager", requestObject: ["data": ["password": "c2VjcmV0"]])),
    RuleCase(
        rule: "configmap-modified",
        fires: auditEvent(verb: "update", resource: "configmaps", namespace: "prod", name: "app-config",
                          requestObject: ["kind": "ConfigMap", "data": ["LOG_LEVEL": "debug"]]),
        nearMiss: auditEvent(verb: "update", resource: "configmaps", namespace: "prod", name: "app-config", code: 409,
                             requestObject: ["kind": "ConfigMap", "data": ["LOG_LEVEL": "debug"]])),
    RuleCase(
        rule: "configmap-with-credentials",
        fires: auditEvent(verb: "create", resource: "configmaps", namespace: "prod", code: 201,
                          requestObject: ["kind": "ConfigMap", "metadata": ["name": "app-config"],
                                          "data": ["app.properties": "db.host=pg\ndb.password = hunter2\n"]]),
        nearMiss: auditEvent(verb: "create", resource: "configmaps", namespace: "prod", code: 201,
                             requestObject: ["kind": "ConfigMap", "metadata": ["name": "app-config"],
                                             "data": ["app.properties": "db.host=pg\nlog.level=debug\n"]])),
    RuleCase(
        rule: "pod-exec",
        fires: auditEvent(verb: "create", resource: "pods", subresource: "exec", namespace: "prod", name: "api-7d9f-x2x",
                          code: 101, stage: "ResponseStarted",
                          uri: "/api/v1/namespaces/prod/pods/api-7d9f-x2x/exec?command=sh&container=api&stdin=true&stdout=true&tty=true"),
        nearMiss: auditEvent(verb: "get", resource: "pods", subresource: "log", namespace: "prod", name: "api-7d9f-x2x")),
    RuleCase(
        rule: "pod-attach",
        fires: auditEvent(verb: "create", resource: "pods", subresource: "attach", namespace: "prod", name: "api-7d9f-x2x",
                          code: 101, stage: "ResponseStarted"),
        nearMiss: auditEvent(verb: "create", resource: "pods", subresource: "attach", namespace: "prod", name: "api-7d9f-x2x",
                             code: 403, decision: "forbid")),
    RuleCase(
        rule: "pod-portforward",
        fires: auditEvent(verb: "create", resource: "pods", subresource: "portforward", namespace: "prod", name: "pg-0",
                          code: 101, stage: "ResponseStarted"),
        nearMiss: auditEvent(verb: "get", resource: "pods", subresource: "proxy", namespace: "prod", name: "pg-0")),
    RuleCase(
        rule: "ephemeral-container-created",
        fires: auditEvent(verb: "patch", resource: "pods", subresource: "ephemeralcontainers", namespace: "prod", name: "api-0",
                          requestObject: ["spec": ["ephemeralContainers": [["name": "debugger-x7", "image": "busybox"]]]]),
        nearMiss: auditEvent(verb: "get", resource: "pods", subresource: "ephemeralcontainers", namespace: "prod", name: "api-0")),
    RuleCase(
        rule: "privileged-pod",
        fires: auditEvent(verb: "create", resource: "pods", namespace: "default", user: rsController, code: 201,
                          requestObject: pod(podSpec(container: ["securityContext": ["privileged": true]]))),
        nearMiss: auditEvent(verb: "create", resource: "pods", namespace: "default", user: rsController, code: 201,
                             requestObject: pod(podSpec(container: ["securityContext": ["privileged": false]])))),
    RuleCase(
        rule: "hostnetwork-pod",
        fires: auditEvent(verb: "create", resource: "deployments", namespace: "default", apiGroup: "apps", code: 201,
                          requestObject: deployment(podSpec(["hostNetwork": true]))),
        nearMiss: auditEvent(verb: "create", resource: "deployments", namespace: "default", apiGroup: "apps", code: 201,
                             requestObject: deployment(podSpec(["hostNetwork": false])))),
    RuleCase(
        rule: "hostpid-pod",
        fires: auditEvent(verb: "create", resource: "pods", namespace: "default", code: 201,
                          requestObject: pod(podSpec(["hostPID": true]))),
        nearMiss: auditEvent(verb: "get", resource: "pods", namespace: "default", name: "web-0", requestObject: pod(podSpec(["hostPID": true])))),
    RuleCase(
        rule: "hostipc-pod",
        fires: auditEvent(verb: "create", resource: "pods", namespace: "default", code: 201,
                          requestObject: pod(podSpec(["hostIPC": true]))),
        nearMiss: auditEvent(verb: "create", resource: "pods", namespace: "default", code: 201,
                             requestObject: pod(podSpec(["hostIPC": false])))),
    RuleCase(
        rule: "sensitive-hostpath-mount",
        fires: auditEvent(verb: "create", resource: "daemonsets", namespace: "monitoring", apiGroup: "apps", code: 201,
                          requestObject: deployment(podSpec(volumes: [
                              ["name": "logs", "hostPath": ["path": "/var/log"]],
                              ["name": "sock", "hostPath": ["path": "/var/run/docker.sock", "type": "Socket"]],
                          ]))),
        nearMiss: auditEvent(verb: "create", resource: "daemonsets", namespace: "monitoring", apiGroup: "apps", code: 201,
                             requestObject: deployment(podSpec(volumes: [
                                 ["name": "logs", "hostPath": ["path": "/var/log"]],
                                 ["name": "cfg", "configMap": ["name": "/etc"]],
                             ])))),
    RuleCase(
        rule: "pod-created-in-kube-namespace",
        fires: auditEvent(verb: "create", resource: "pods", namespace: "kube-system", user: rsController, code: 201,
                          requestObject: pod(podSpec())),
        nearMiss: auditEvent(verb: "create", resource: "pods", namespace: "kube-system", user: "system:node:master-1",
                             groups: ["system:nodes"], code: 201, requestObject: pod(podSpec(), name: "etcd-master-1"))),
    RuleCase(
        rule: "serviceaccount-created-in-kube-namespace",
        fires: auditEvent(verb: "create", resource: "serviceaccounts", namespace: "kube-system", name: "helper", code: 201),
        nearMiss: auditEvent(verb: "create", resource: "serviceaccounts", namespace: "kube-system", name: "coredns", code: 201)),
    RuleCase(
        rule: "nodeport-service-created",
        fires: auditEvent(verb: "create", resource: "services", namespace: "default", name: "web", code: 201,
                          requestObject: ["kind": "Service", "spec": ["type": "NodePort", "ports": [["port": 80, "nodePort": 30080]]]]),
        nearMiss: auditEvent(verb: "create", resource: "services", namespace: "default", name: "web", code: 201,
                             requestObject: ["kind": "Service", "spec": ["type": "ClusterIP", "ports": [["port": 80]]]])),
    RuleCase(
        rule: "cluster-admin-binding",
        fires: auditEvent(verb: "create", resource: "clusterrolebindings", apiGroup: "rbac.authorization.k8s.io", code: 201,
                          requestObject: ["kind": "ClusterRoleBinding", "metadata": ["name": "ci-admin"],
                                          "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"],
                                          "subjects": [["kind": "ServiceAccount", "name": "ci", "namespace": "ci"]]]),
        nearMiss: auditEvent(verb: "create", resource: "clusterrolebindings", apiGroup: "rbac.authorization.k8s.io", code: 201,
                             requestObject: ["kind": "ClusterRoleBinding", "metadata": ["name": "ci-view"],
                                             "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"],
                                             "subjects": [["kind": "ServiceAccount", "name": "cluster-admin", "namespace": "ci"]]])),
    RuleCase(
        rule: "clusterrole-with-wildcard",
        fires: auditEvent(verb: "create", resource: "clusterroles", apiGroup: "rbac.authorization.k8s.io", code: 201,
                          requestObject: ["kind": "ClusterRole", "metadata": ["name": "ops"],
                                          "rules": [["apiGroups": [""], "resources": ["pods"], "verbs": ["get"]],
                                                    ["apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]]]]),
        nearMiss: auditEvent(verb: "create", resource: "clusterroles", apiGroup: "rbac.authorization.k8s.io", code: 201,
                             requestObject: ["kind": "ClusterRole", "metadata": ["name": "ops"],
                                             "rules": [["apiGroups": ["*"], "resources": ["deployments"], "verbs": ["get", "list"]]]])),
    RuleCase(
        rule: "clusterrole-with-pod-exec",
        fires: auditEvent(verb: "create", resource: "roles", namespace: "prod", apiGroup: "rbac.authorization.k8s.io", code: 201,
                          requestObject: ["kind": "Role", "metadata": ["name": "debugger"],
                                          "rules": [["apiGroups": [""], "resources": ["pods", "pods/exec"], "verbs": ["create", "get"]]]]),
        nearMiss: auditEvent(verb: "create", resource: "roles", namespace: "prod", apiGroup: "rbac.authorization.k8s.io", code: 201,
                             requestObject: ["kind": "Role", "metadata": ["name": "debugger"],
                                             "rules": [["apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get"]]]])),
    RuleCase(
        rule: "system-role-modified",
        fires: auditEvent(verb: "patch", resource: "clusterroles", name: "system:node", apiGroup: "rbac.authorization.k8s.io",
                          requestObject: ["rules": [["apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]]]]),
        nearMiss: auditEvent(verb: "patch", resource: "clusterroles", name: "system:coredns", apiGroup: "rbac.authorization.k8s.io",
                             requestObject: ["rules": [["apiGroups": [""], "resources": ["endpoints"], "verbs": ["list"]]]])),
    RuleCase(
        rule: "anonymous-request-allowed",
        fires: auditEvent(verb: "list", resource: "namespaces", user: "system:anonymous", groups: ["system:unauthenticated"],
                          uri: "/api/v1/namespaces?limit=500", sourceIP: "203.0.113.7"),
        nearMiss: auditEvent(verb: "get", user: "system:anonymous", groups: ["system:unauthenticated"],
                             uri: "/readyz?verbose", sourceIP: "203.0.113.7")),
]

@Suite("Built-in rule pack")
struct BuiltinRuleTests {
    @Test("the pack loads")
    func packLoads() {
        #expect(AlertRuleSet.builtinLoadError == nil)
        #expect(AlertRuleSet.builtin.rules.count == 23)
        #expect(AlertRuleSet.builtin.rules.filter { !$0.isBuiltin }.isEmpty)
    }

    @Test("every built-in rule has a firing case and a near miss")
    func everyRuleCovered() {
        let covered = Set(builtinCases.map(\.rule)).union(["named-secret-access"])
        let names = Set(AlertRuleSet.builtin.rules.map(\.name))
        #expect(names == covered)
    }

    @Test("fires on its event", arguments: builtinCases)
    func fires(_ c: RuleCase) {
        let fired = builtinFirings(c.fires)
        #expect(fired.contains(c.rule), "\(c.rule) did not fire; fired: \(fired)")
    }

    @Test("stays silent on the near miss", arguments: builtinCases)
    func nearMiss(_ c: RuleCase) {
        let fired = builtinFirings(c.nearMiss)
        #expect(!fired.contains(c.rule), "\(c.rule) fired on its near miss")
    }

    @Test("named-secret-access is inactive until sensitive_secrets is set")
    func namedSecret() throws {
        let event = auditEvent(verb: "get", resource: "secrets", namespace: "prod", name: "db-credentials",
                               user: "system:serviceaccount:prod:api")
        #expect(AlertEngine().inactiveRules.contains("named-secret-access"))
        #expect(!builtinFirings(event).contains("named-secret-access"))

        let rules = try AlertRuleSet.load(yaml: """
            apiVersion: auditship.io/v1
            kind: AlertRules
            lists:
              sensitive_secrets: [prod/db-credentials, kube-system/bootstrap-token-abcdef]
            """, source: "watch.yaml")
        #expect(AlertEngine(rules: rules).inactiveRules.isEmpty)
        #expect(builtinFirings(event, rules: rules).contains("named-secret-access"))
        let other = auditEvent(verb: "get", resource: "secrets", namespace: "prod", name: "db-credentials-old")
        #expect(!builtinFirings(other, rules: rules).contains("named-secret-access"))
        let otherNamespace = auditEvent(verb: "get", resource: "secrets", namespace: "staging", name: "db-credentials")
        #expect(!builtinFirings(otherNamespace, rules: rules).contains("named-secret-access"))
    }

    @Test("privileged containers in workload templates, init containers and cronjobs fire")
    func privilegedForms() {
        let privileged: [String: Any] = ["securityContext": ["privileged": true]]
        let dep = auditEvent(verb: "create", resource: "deployments", namespace: "default", apiGroup: "apps", code: 201,
                             requestObject: deployment(podSpec(container: privileged)))
        #expect(builtinFirings(dep).contains("privileged-pod"))
        var spec = podSpec()
        spec["initContainers"] = [["name": "init", "image": "busybox", "securityContext": ["privileged": true]]]
        let initPod = auditEvent(verb: "create", resource: "pods", namespace: "default", code: 201, requestObject: pod(spec))
        #expect(builtinFirings(initPod).contains("privileged-pod"))
        let cron = auditEvent(verb: "create", resource: "cronjobs", namespace: "default", apiGroup: "batch", code: 201,
                              requestObject: ["spec": ["schedule": "* * * * *", "jobTemplate": ["spec": ["template": ["spec": podSpec(container: privileged)]]]]])
        #expect(builtinFirings(cron).contains("privileged-pod"))
        // The second container privileged, the first without securityContext.
        var two = podSpec()
        two["containers"] = [["name": "a", "image": "nginx"], ["name": "b", "image": "nginx", "securityContext": ["privileged": true]]]
        let second = auditEvent(verb: "create", resource: "pods", namespace: "default", code: 201, requestObject: pod(two))
        #expect(builtinFirings(second).contains("privileged-pod"))
        // A status update carries the spec too, but is a subresource.
        let status = auditEvent(verb: "patch", resource: "pods", subresource: "status", namespace: "default", name: "web-0",
                                requestObject: pod(podSpec(container: privileged)))
        #expect(!builtinFirings(status).contains("privileged-pod"))
    }

    @Test("exec fires once across ResponseStarted and ResponseComplete of one request")
    func execOncePerAuditID() {
        let engine = AlertEngine()
        let now = Date(timeIntervalSince1970: 1_767_261_600)
        let started = auditEvent(verb: "create", resource: "pods", subresource: "exec", namespace: "prod", name: "api-0", code: 101, stage: "ResponseStarted")
        let complete = auditEvent(verb: "create", resource: "pods", subresource: "exec", namespace: "prod", name: "api-0", code: 101, stage: "ResponseComplete")
        let received = auditEvent(verb: "create", resource: "pods", subresource: "exec", namespace: "prod", name: "api-0", code: 101, stage: "RequestReceived")
        #expect(engine.evaluate(event: Array(received.utf8), cluster: "c", node: "n", now: now).isEmpty)
        #expect(engine.evaluate(event: Array(started.utf8), cluster: "c", node: "n", now: now).map(\.rule) == ["pod-exec"])
        #expect(engine.evaluate(event: Array(complete.utf8), cluster: "c", node: "n", now: now).isEmpty)
        #expect(engine.statistics.duplicateStages["pod-exec"] == 1)
        // A log with only the ResponseComplete stage still alerts.
        let other = auditEvent(verb: "create", resource: "pods", subresource: "exec", namespace: "prod", name: "api-0", code: 101,
                               auditID: "00000000-0000-0000-0000-000000000002")
        #expect(engine.evaluate(event: Array(other.utf8), cluster: "c", node: "n", now: now).map(\.rule) == ["pod-exec"])
    }

    @Test("default stages: a secret read at ResponseStarted or RequestReceived does not fire")
    func defaultStages() {
        for stage in ["RequestReceived", "ResponseStarted"] {
            let e = auditEvent(verb: "watch", resource: "secrets", namespace: "prod", stage: stage)
            #expect(builtinFirings(e).isEmpty)
        }
        let panic = auditEvent(verb: "get", resource: "secrets", namespace: "prod", name: "x", stage: "Panic")
        #expect(builtinFirings(panic) == ["secret-read-by-non-system-user"])
    }

    @Test("firing fields and message")
    func firingFields() {
        let engine = AlertEngine()
        let e = auditEvent(verb: "get", resource: "secrets", namespace: "prod", name: "db-credentials", user: "alice@example.com",
                           auditID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", time: "2026-01-01T10:00:00.5Z")
        let firings = engine.evaluate(event: Array(e.utf8), cluster: "prod-eu", node: "master-2", now: Date())
        #expect(firings.count == 1)
        let f = firings[0]
        #expect(f.rule == "secret-read-by-non-system-user")
        #expect(f.severity == .medium)
        #expect(f.message == "alice@example.com get secret prod/db-credentials")
        #expect(f.auditID == "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
        #expect(f.stage == "ResponseComplete")
        #expect(f.cluster == "prod-eu")
        #expect(f.node == "master-2")
        #expect(f.eventTime == Date(timeIntervalSince1970: 1_767_261_600.5))
    }
}
