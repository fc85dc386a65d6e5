import Foundation
import SharedFixtures
import Testing

@testable import AuditAlerts

struct RealWorldCase: Sendable, CustomTestStringConvertible {
    var file: String
    /// Every rule the built-in pack fires on the file, sorted, with repeats.
    var rules: [String]
    var testDescription: String { file }
}

private let falco = "falcosecurity__falco__test_trace_files_k8s_audit_"

/// What the built-in pack fires on each readable file of ../shared/real-world/audit-logs.
/// Files mapping to [] are near misses (or benign traffic) that must stay silent.
let realWorldExpectations: [RealWorldCase] = [
    // Falco's trace files: positives…
    RealWorldCase(file: falco + "exec_pod.json", rules: ["pod-exec"]),
    RealWorldCase(file: falco + "attach_pod.json", rules: ["pod-attach"]),
    RealWorldCase(file: falco + "create_nginx_pod_privileged.json", rules: ["privileged-pod"]),
    RealWorldCase(file: falco + "create_nginx_pod_privileged_2nd_container.json", rules: ["privileged-pod"]),
    RealWorldCase(file: falco + "create_nginx_pod_no_secctx_1st_container_privileged_2nd_container.json", rules: ["privileged-pod"]),
    RealWorldCase(file: falco + "create_nginx_pod_hostnetwork.json", rules: ["hostnetwork-pod"]),
    RealWorldCase(file: falco + "create_nginx_pod_sensitive_mount.json", rules: ["sensitive-hostpath-mount"]),
    RealWorldCase(file: falco + "create_nginx_pod_sensitive_mount_2nd_container.json", rules: ["sensitive-hostpath-mount"]),
    RealWorldCase(file: falco + "attach_cluster_admin_role.json", rules: ["cluster-admin-binding"]),
    RealWorldCase(file: falco + "create_cluster_role_wildcard_verbs.json", rules: ["clusterrole-with-wildcard"]),
    RealWorldCase(file: falco + "create_cluster_role_wildcard_resources.json", rules: ["clusterrole-with-wildcard"]),
    RealWorldCase(file: falco + "create_cluster_role_pod_exec.json", rules: ["clusterrole-with-pod-exec"]),
    RealWorldCase(file: falco + "delete_cluster_role_kube_aggregator.json", rules: ["system-role-modified"]),
    RealWorldCase(file: falco + "modify_cluster_role_node_problem_detector.json", rules: ["system-role-modified"]),
    RealWorldCase(file: falco + "anonymous_creates_namespace_foo.json", rules: ["anonymous-request-allowed"]),
    RealWorldCase(file: falco + "create_nginx_service_nodeport.json", rules: ["nodeport-service-created"]),
    RealWorldCase(file: falco + "create_pod_kube_system_namespace.json", rules: ["pod-created-in-kube-namespace"]),
    RealWorldCase(file: falco + "create_pod_kube_public_namespace.json", rules: ["pod-created-in-kube-namespace"]),
    RealWorldCase(file: falco + "create_serviceaccount_kube_system_namespace.json", rules: ["serviceaccount-created-in-kube-namespace"]),
    RealWorldCase(file: falco + "create_serviceaccount_kube_public_namespace.json", rules: ["serviceaccount-created-in-kube-namespace"]),
    RealWorldCase(
        file: falco + "create_configmap_sensitive_values.json",
        rules: Array(repeating: "configmap-modified", count: 6) + Array(repeating: "configmap-with-credentials", count: 6)),
    RealWorldCase(file: falco + "create_configmap.json", rules: ["configmap-modified"]),
    RealWorldCase(file: falco + "delete_configmap.json", rules: ["configmap-modified"]),
    RealWorldCase(file: falco + "create_secret.json", rules: ["secret-modified"]),
    RealWorldCase(file: falco + "delete_secret.json", rules: ["secret-modified"]),
    RealWorldCase(file: falco + "create_kube_system_secret.json", rules: ["secret-modified"]),
    // …and their near misses, silent.
    RealWorldCase(file: falco + "create_configmap_no_sensitive_values.json", rules: ["configmap-modified"]),
    RealWorldCase(file: falco + "create_nginx_pod_unprivileged.json", rules: []),
    RealWorldCase(file: falco + "create_nginx_pod_nohostnetwork.json", rules: []),
    RealWorldCase(file: falco + "create_nginx_pod_unsensitive_mount.json", rules: []),
    RealWorldCase(file: falco + "create_nginx_service_nonodeport.json", rules: []),
    RealWorldCase(file: falco + "create_service.json", rules: []),
    RealWorldCase(file: falco + "create_clusterrole.json", rules: []),
    RealWorldCase(file: falco + "create_cluster_role_write_privileges.json", rules: []),
    RealWorldCase(file: falco + "create_clusterrolebinding.json", rules: []),
    RealWorldCase(file: falco + "delete_clusterrole.json", rules: []),
    RealWorldCase(file: falco + "delete_clusterrolebinding.json", rules: []),
    RealWorldCase(file: falco + "create_serviceaccount.json", rules: []),
    RealWorldCase(file: falco + "delete_serviceaccount.json", rules: []),
    RealWorldCase(file: falco + "create_service_account_token_secret.json", rules: []),
    RealWorldCase(file: falco + "create_deployment.json", rules: []),
    RealWorldCase(file: falco + "delete_deployment.json", rules: []),
    RealWorldCase(file: falco + "delete_service.json", rules: []),
    RealWorldCase(file: falco + "delete_namespace_foo.json", rules: []),
    RealWorldCase(file: falco + "minikube_creates_namespace_foo.json", rules: []),
    RealWorldCase(file: falco + "some-user_creates_namespace_foo.json", rules: []),
    // Other sources.
    RealWorldCase(file: "crowdsecurity__hub__tests_k8s-audit-pod-exec-file_k8s-audit-pod-exec-file.log", rules: ["pod-exec"]),
    RealWorldCase(file: "crowdsecurity__hub__tests_k8s-audit-priv-pod-file_k8s-audit-priv-pod-file.log", rules: ["privileged-pod"]),
    RealWorldCase(file: "liggitt__audit2rbac__testdata_demo.log", rules: ["secret-access-denied"]),
    RealWorldCase(file: "liggitt__audit2rbac__testdata_demo__at-883f4e80.log", rules: ["secret-access-denied"]),
    RealWorldCase(file: "openshift__cluster-logging-operator__test_functional_filters_apiaudit_vrl_testdata_audit_in.log", rules: ["pod-exec"]),
    RealWorldCase(file: "openshift__cluster-logging-operator__test_functional_filters_apiaudit_vrl_testdata_audit_out_exporter.log", rules: ["pod-exec"]),
    RealWorldCase(file: "openshift__cluster-logging-operator__test_functional_filters_apiaudit_testdata_audit.log", rules: []),
    RealWorldCase(file: "openshift__cluster-logging-operator__test_functional_filters_apiaudit_testdata_audit-want.log", rules: []),
    RealWorldCase(file: "openshift__cluster-logging-operator__hack_logsamples_raw_audit_kubernetes.json", rules: []),
    RealWorldCase(file: "openshift__cluster-logging-operator__hack_logsamples_raw_audit_oauth-apiserver.json", rules: []),
    RealWorldCase(file: "openshift__cluster-logging-operator__hack_logsamples_raw_audit_openshift.json", rules: []),
    RealWorldCase(file: "openshift__cluster-logging-operator__test_functional_filters_apiaudit_vrl_log5607_sample.json", rules: []),
    RealWorldCase(file: "sysdiglabs__aks-audit-log__samples_event.json", rules: []),
    RealWorldCase(file: "sysdiglabs__aks-audit-log__samples_sample_EventHubs_event.json", rules: []),
    RealWorldCase(file: "sysdiglabs__aks-audit-log__samples_sample_KubeAuditLog_event.json", rules: []),
    RealWorldCase(file: "elastic__integrations__packages_kubernetes_data_stream_audit_logs__dev_test_pipeline_test-audit.log", rules: []),
    RealWorldCase(file: "elastic__integrations__packages_kubernetes_data_stream_audit_logs__dev_test_pipeline_test-kube-audit.log", rules: []),
]

/// Files that are not audit events, and why (each reader problem must contain the text).
let unreadableExpectations: [(file: String, why: String)] = [
    (falco + "fal_01_003.json", "kind is not a string (0)"),
    ("GoogleCloudPlatform__khi__test_logs_oss_test-log.yaml", "not JSON"),
] + [
    "api_group", "roleref", "spec_containers", "spec_hostnetwork", "spec_volumes", "user_exec_in_pod", "user_list_pod",
    "user_patch_deploy",
].map { ("SEKOIA-IO__intake-formats__Kubernetes_audit-log_tests_event_\($0).json", "a wrapper object") }

@Suite("Real-world audit logs (../shared/real-world/audit-logs)", .needsShared("real-world/audit-logs"))
struct RealWorldTests {
    @Test("the built-in pack fires exactly the expected rules", arguments: realWorldExpectations)
    func expected(_ c: RealWorldCase) throws {
        let path = realWorldFile(c.file)
        try #require(FileManager.default.fileExists(atPath: path), "missing \(path)")
        let report = AlertTester.run(path: path)
        #expect(report.events > 0, "\(c.file): no audit events read: \(report.problems)")
        #expect(report.firings.map(\.rule).sorted() == c.rules.sorted())
    }

    @Test("every file in the folder is covered by an expectation")
    func allCovered() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: realWorldDirectory).filter { $0 != "PROVENANCE.md" && !$0.hasPrefix(".") }
        let known = Set(realWorldExpectations.map(\.file)).union(unreadableExpectations.map(\.file))
        #expect(Set(files).subtracting(known).isEmpty, "uncovered: \(Set(files).subtracting(known).sorted())")
        #expect(files.count == 73)
    }

    @Test("files that are not audit events are reported, saying which and why")
    func unreadable() {
        for (file, why) in unreadableExpectations {
            let contents = AuditEventFile.read(path: realWorldFile(file))
            #expect(contents.events.isEmpty, "\(file)")
            #expect(contents.problems.count == 1, "\(file): \(contents.problems)")
            #expect(contents.problems.first?.message.contains(why) == true, "\(file): \(contents.problems)")
            #expect(contents.problems.first?.source.hasSuffix(file) == true)
        }
    }

    @Test("file formats: JSON lines, pretty single events with a BOM, Azure envelopes, mixed lines")
    func formats() {
        let inLog = AuditEventFile.read(path: realWorldFile("openshift__cluster-logging-operator__test_functional_filters_apiaudit_vrl_testdata_audit_in.log"))
        #expect(inLog.format == .jsonLines)
        #expect(inLog.events.count == 100)
        #expect(inLog.problems.isEmpty)

        let bom = AuditEventFile.read(path: realWorldFile("sysdiglabs__aks-audit-log__samples_sample_KubeAuditLog_event.json"))
        #expect(bom.format == .singleEvent)
        #expect(bom.events.count == 1)

        let hubs = AuditEventFile.read(path: realWorldFile("sysdiglabs__aks-audit-log__samples_event.json"))
        #expect(hubs.format == .azureRecords)
        #expect(hubs.events.count == 22)

        let elastic = AuditEventFile.read(path: realWorldFile("elastic__integrations__packages_kubernetes_data_stream_audit_logs__dev_test_pipeline_test-audit.log"))
        #expect(elastic.format == .jsonLines)
        #expect(elastic.events.count == 4)
        #expect(elastic.problems.map(\.line) == [4])
        #expect(elastic.problems.first?.message.contains("protoPayload") == true)

        let sensitive = AuditEventFile.read(path: realWorldFile(falco + "create_configmap_sensitive_values.json"))
        #expect(sensitive.events.count == 6)
    }
}

@Suite("Reading event files")
struct EventFileTests {
    let e1 = auditEvent(verb: "get", resource: "secrets", namespace: "a", name: "x", auditID: "11111111-1111-1111-1111-111111111111")
    let e2 = auditEvent(verb: "create", resource: "pods", subresource: "exec", namespace: "a", name: "p", code: 101,
                        stage: "ResponseStarted", auditID: "22222222-2222-2222-2222-222222222222")

    func read(_ text: String) -> AuditEventFileContents {
        AuditEventFile.parse(data: Data(text.utf8), source: "f")
    }

    @Test("JSON array, EventList, JSON lines with blank and broken lines, pretty-printed")
    func shapes() throws {
        #expect(read("[\(e1),\(e2)]").events.count == 2)
        #expect(read("[\(e1),\(e2)]").format == .array)
        let list = read(#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[\#(e1),\#(e2)]}"#)
        #expect(list.format == .eventList)
        #expect(list.events.count == 2)
        let lines = read("\(e1)\n\n{not json\n\(e2)\r\n")
        #expect(lines.format == .jsonLines)
        #expect(lines.events.count == 2)
        #expect(lines.problems.map(\.description) == ["f:3: line is not JSON"])
        let object = try JSONSerialization.jsonObject(with: Data(e1.utf8))
        let pretty = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted])
        let p = AuditEventFile.parse(data: pretty, source: "f")
        #expect(p.format == .singleEvent)
        #expect(p.events.count == 1)
        #expect(read("").problems.map(\.message) == ["empty file"])
        #expect(read("kind: Event\n").problems.first?.message.hasPrefix("not JSON") == true)
    }

    /// The shapes the real-world folder holds, made here, so that a bare clone tests them too.
    @Test("a pretty event behind a BOM, Azure envelopes (object and string), wrappers and Cloud Logging entries")
    func realWorldShapesMadeHere() throws {
        let object = try JSONSerialization.jsonObject(with: Data(e1.utf8))
        let pretty = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted])
        let bom = AuditEventFile.parse(data: Data([0xEF, 0xBB, 0xBF]) + pretty, source: "f")
        #expect(bom.format == .singleEvent)
        #expect(bom.events.count == 1)
        #expect(bom.problems.isEmpty)

        let quoted = String(decoding: try JSONSerialization.data(withJSONObject: [e2], options: [.fragmentsAllowed]), as: UTF8.self)
        let asString = String(quoted.dropFirst().dropLast())  // the event as one JSON string
        let azure = read(#"{"records":[{"time":"t","properties":{"log":\#(e1)}},{"properties":{"log":\#(asString)}},{"properties":{}}]}"#)
        #expect(azure.format == .azureRecords)
        #expect(azure.events.count == 2)
        #expect(azure.problems.count == 1)
        #expect(azure.problems.first?.message.hasPrefix("record 3 is not an audit event") == true, "\(azure.problems)")

        let wrapper = read(#"{"input": {"message": "{}"}, "expected": {}}"#)
        #expect(wrapper.events.isEmpty)
        #expect(wrapper.problems.first?.message.contains("a wrapper object") == true, "\(wrapper.problems)")
        let gcp = read(#"{"protoPayload": {"methodName": "io.k8s.core.v1.pods.get"}, "logName": "x"}"#)
        #expect(gcp.events.isEmpty)
        #expect(gcp.problems.first?.message.contains("protoPayload") == true, "\(gcp.problems)")
    }

    @Test("alerts test: firings and both renderings (the JSON shape is a contract)")
    func testerAndRenderers() throws {
        let contents = read("\(e1)\n\(e2)\n")
        let report = AlertTester.run(contents: contents, engine: AlertEngine())
        #expect(report.events == 2)
        #expect(report.firings.map(\.rule) == ["secret-read-by-non-system-user", "pod-exec"])
        let json = AlertFiringRenderer.jsonLines(report.firings)
        #expect(json == """
            {"rule":"secret-read-by-non-system-user","severity":"medium","auditID":"11111111-1111-1111-1111-111111111111","stage":"ResponseComplete"}
            {"rule":"pod-exec","severity":"medium","auditID":"22222222-2222-2222-2222-222222222222","stage":"ResponseStarted"}

            """)
        for line in json.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
            #expect(Set(object.keys) == ["rule", "severity", "auditID", "stage"])
        }
        let table = AlertFiringRenderer.table(report.firings)
        let rows = table.split(separator: "\n")
        #expect(rows.count == 3)
        #expect(rows[0].hasPrefix("SEVERITY  RULE"))
        #expect(rows[2].contains("pod-exec") && rows[2].contains("exec into pod a/p"))
        #expect(AlertFiringRenderer.table([]).contains("(no alerts)"))
        #expect(AlertFiringRenderer.quote("a\"b\\c\n\u{1}") == #""a\"b\\c\n\u0001""#)
    }

    @Test("alerts test replays thresholds on the events' own clock")
    func replayClock() throws {
        let set = try AlertRuleSet.load(yaml: """
            apiVersion: auditship.io/v1
            kind: AlertRules
            rules:
              - name: burst
                severity: low
                when: {field: verb, equals: get}
                threshold: {count: 2, window: 1m}
                message: burst
            """, source: "t", includeBuiltins: false)
        let a = auditEvent(verb: "get", time: "2026-01-01T10:00:00Z")
        let b = auditEvent(verb: "get", time: "2026-01-01T10:05:00Z")
        let c = auditEvent(verb: "get", time: "2026-01-01T10:05:30Z")
        let report = AlertTester.run(contents: read("\(a)\n\(b)\n\(c)\n"), engine: AlertEngine(rules: set))
        #expect(report.firings.count == 1)
        #expect(report.firings.first?.eventTime == parseRFC3339("2026-01-01T10:05:30Z"))
    }
}
