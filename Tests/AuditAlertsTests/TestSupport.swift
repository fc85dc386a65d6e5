import Foundation
import SharedFixtures
import Testing

@testable import AuditAlerts

/// Builds a real-shaped audit.k8s.io/v1 Event as JSON text.
func auditEvent(
    verb: String, resource: String? = nil, subresource: String? = nil, namespace: String? = nil, name: String? = nil,
    apiGroup: String? = nil, user: String = "alice@example.com", groups: [String] = ["system:authenticated"],
    code: Int = 200, stage: String = "ResponseComplete", decision: String = "allow", uri: String? = nil,
    requestObject: [String: Any]? = nil, auditID: String = "6f0c8a4e-2b7d-4f5e-9c1a-3d2e1f0a9b8c",
    time: String = "2026-01-01T10:00:00.123456Z", level: String? = nil, sourceIP: String = "10.1.2.3",
    userAgent: String = "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350"
) -> String {
    var objectRef: [String: Any] = ["apiVersion": apiGroup == nil ? "v1" : "v1"]
    if let resource { objectRef["resource"] = resource }
    if let subresource { objectRef["subresource"] = subresource }
    if let namespace { objectRef["namespace"] = namespace }
    if let name { objectRef["name"] = name }
    if let apiGroup { objectRef["apiGroup"] = apiGroup }
    let path: String = {
        if let uri { return uri }
        var p = apiGroup.map { "/apis/\($0)/v1" } ?? "/api/v1"
        if let namespace { p += "/namespaces/\(namespace)" }
        if let resource { p += "/\(resource)" }
        if let name, verb != "create" || subresource != nil { p += "/\(name)" }
        if let subresource { p += "/\(subresource)" }
        return p
    }()
    var event: [String: Any] = [
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level ?? (requestObject == nil ? "Metadata" : "RequestResponse"),
        "auditID": auditID, "stage": stage, "requestURI": path, "verb": verb,
        "user": ["username": user, "uid": "d1b8e0b2-1111-2222-3333-444455556666", "groups": groups],
        "sourceIPs": [sourceIP], "userAgent": userAgent,
        "responseStatus": ["metadata": [String: Any](), "code": code],
        "requestReceivedTimestamp": time, "stageTimestamp": time,
        "annotations": ["authorization.k8s.io/decision": decision, "authorization.k8s.io/reason": "RBAC: allowed"],
    ]
    if resource != nil { event["objectRef"] = objectRef }
    if let requestObject { event["requestObject"] = requestObject }
    guard let data = try? JSONSerialization.data(withJSONObject: event, options: [.sortedKeys]),
          let text = String(data: data, encoding: .utf8)
    else { return "{}" }
    return text
}

/// A pod spec with one container (plus extras merged in).
func podSpec(_ extra: [String: Any] = [:], container: [String: Any] = [:], volumes: [[String: Any]] = []) -> [String: Any] {
    var c: [String: Any] = ["name": "app", "image": "nginx:1.27", "resources": [String: Any]()]
    for (k, v) in container { c[k] = v }
    var spec: [String: Any] = ["containers": [c], "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"]
    if !volumes.isEmpty { spec["volumes"] = volumes }
    for (k, v) in extra { spec[k] = v }
    return spec
}

func pod(_ spec: [String: Any], name: String = "web-0") -> [String: Any] {
    ["kind": "Pod", "apiVersion": "v1", "metadata": ["name": name, "namespace": "default"], "spec": spec]
}

func deployment(_ spec: [String: Any], name: String = "web") -> [String: Any] {
    [
        "kind": "Deployment", "apiVersion": "apps/v1", "metadata": ["name": name, "namespace": "default"],
        "spec": ["replicas": 2, "selector": ["matchLabels": ["app": name]], "template": ["metadata": ["labels": ["app": name]], "spec": spec]],
    ]
}

/// The rules the built-in pack fires on one event (fresh engine, so no suppression interferes).
func builtinFirings(_ json: String, rules: AlertRuleSet = .builtin) -> [String] {
    let engine = AlertEngine(rules: rules)
    return engine.evaluate(event: Array(json.utf8), cluster: "c1", node: "master-1", now: Date(timeIntervalSince1970: 1_767_261_600))
        .map(\.rule)
}

/// /work/shared/real-world/audit-logs, found from this file: the repo root is three levels up, shared/ beside it.
let realWorldDirectory: String = SharedData.path("real-world/audit-logs")

func realWorldFile(_ name: String) -> String { realWorldDirectory + "/" + name }
