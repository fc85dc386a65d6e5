import Foundation
import SharedFixtures
import Testing
@testable import AuditPolicy

/// Files under shared/real-world/policies/ that must NOT parse, with the error expected and why.
let expectedRealWorldFailures: [String: (codes: [PolicyDiagnostic.Code], contains: [String], why: String)] = [
    "openshift__cluster-logging-operator__test_functional_filters_apiaudit_vrl_testdata_example_policy.yaml": (
        [.missingField, .missingField, .unknownField],
        ["missing required field 'kind'", "missing required field 'apiVersion'", "unknown field 'redactions' in Policy"],
        "not an audit.k8s.io Policy: the splunk-audit-exporter dialect with no apiVersion/kind and a redactions section"
    ),
    "openshift__library-go__pkg_operator_apiserver_audit_testdata_audit-policies-cm-scenario-1.yaml": (
        [.notAPolicy], ["kind 'ConfigMap' is not a Policy; it embeds policies under data keys default.yaml, writerequestbodies.yaml, allrequestbodies.yaml"],
        "a ConfigMap carrying three policies as strings (those are parsed separately below)"
    ),
    // kube-apiserver's lenient decoder ignores the typo `resource:`; strict parsing rejects it because
    // the entry then matches every resource of machineconfiguration.openshift.io instead of two.
    "openshift__library-go__pkg_operator_apiserver_audit_testdata_allrequestbodies.yaml": (
        [.unknownField], ["38:5: unknown field 'resource' in a resources entry; did you mean 'resources'?"], "typo `resource:`"
    ),
    "openshift__library-go__pkg_operator_apiserver_audit_testdata_multipleCr.yaml": (
        [.unknownField, .unknownField],
        ["38:5: unknown field 'resource' in a resources entry; did you mean 'resources'?", "70:7: unknown field 'resource'"],
        "typo `resource:` (twice)"
    ),
    "openshift__library-go__pkg_operator_apiserver_audit_testdata_oauth.yaml": (
        [.unknownField], ["38:5: unknown field 'resource' in a resources entry; did you mean 'resources'?"], "typo `resource:`"
    ),
    "openshift__library-go__pkg_operator_apiserver_audit_testdata_writerequestbodies.yaml": (
        [.unknownField], ["38:5: unknown field 'resource' in a resources entry; did you mean 'resources'?"], "typo `resource:`"
    ),
]

/// Rule counts from the PROVENANCE feature table, for the files that parse.
let expectedRuleCounts: [String: Int] = [
    "STRRL__kubernetes-auditing-dashboard__script_kube-apiserver-config_audit-policy.yaml": 21,
    "falcosecurity__falco__examples_k8s_audit_config_audit-policy__at-3f90188d.yaml": 11,
    "falcosecurity__plugins__plugins_k8saudit_configs_audit-policy.yaml": 11,
    "ferozsalam__k8s-audit-log-inspector__kube-api-audit-policies_kube-api-audit-policy-all.yaml": 1,
    "ferozsalam__k8s-audit-log-inspector__kube-api-audit-policies_kube-api-audit-policy-gke.yaml": 16,
    "ferozsalam__k8s-audit-log-inspector__kube-api-audit-policies_kube-api-audit-policy-metadata-only.yaml": 9,
    "gardener__auditlog-forwarder__example_local-setup_audit-policy.yaml": 1,
    "kubernetes-sigs__kubespray__roles_kubernetes_control-plane_templates_apiserver-audit-policy.yaml.j2.rendered-default.yaml": 13,
    "kubernetes-sigs__kwok__test_kwokctl_audit-policy.yaml": 1,
    "kubernetes__kubernetes__cluster_gce_gci_configure-helper.sh__create-master-audit-policy.rendered.yaml": 17,
    "kubernetes__website__content_en_examples_audit_audit-policy.yaml": 9,
    "liggitt__audit2rbac__testdata_demo-policy.yaml": 1,
    "openshift__cluster-logging-operator__test_functional_filters_apiaudit_api_audit_filter_test.go.TRANSCRIBED.yaml": 4,
    "openshift__library-go__pkg_operator_apiserver_audit_manifests_base-policy.yaml": 2,
    "openshift__library-go__pkg_operator_apiserver_audit_testdata_default.yaml": 4,
    "openshift__library-go__pkg_operator_apiserver_audit_testdata_none.yaml": 3,
]

@Suite("real-world policies", .needsShared("real-world/policies"))
struct RealWorldPolicyTests {
    static let files: [String] = Fixtures.files(in: Fixtures.realWorldPolicies).map(\.lastPathComponent)

    @Test func directoryIsThere() {
        #expect(Self.files.count >= 20, "expected the policies under \(Fixtures.realWorldPolicies.path)")
        #expect(Set(Self.files) == Set(expectedRuleCounts.keys).union(expectedRealWorldFailures.keys),
                "a file was added or removed under real-world/policies: classify it here")
    }

    @Test(arguments: files)
    func parse(_ name: String) throws {
        let text = try Fixtures.read(Fixtures.realWorldPolicies.appendingPathComponent(name))
        if let expected = expectedRealWorldFailures[name] {
            do {
                let p = try AuditPolicy.parse(yaml: text, source: name)
                Issue.record("\(name) parsed (\(p.rules.count) rules) but should fail: \(expected.why)")
            } catch {
                #expect(error.diagnostics.map(\.code) == expected.codes, "\(name): \(error)")
                for fragment in expected.contains {
                    #expect(error.description.contains(fragment), "\(name): missing '\(fragment)' in\n\(error)")
                }
            }
            return
        }
        do {
            let p = try AuditPolicy.parse(yaml: text, source: name)
            #expect(p.rules.count == expectedRuleCounts[name], "\(name)")
            let report = p.check()
            #expect(!report.hasErrors)
        } catch {
            Issue.record("\(name) should parse but failed:\n\(error)")
        }
    }

    /// The typo'd OpenShift files load in kube's lenient mode; so do they here with `.lenient`.
    @Test(arguments: expectedRealWorldFailures.keys.filter { $0.contains("library-go") && !$0.contains("scenario") }.sorted())
    func openshiftTypoFilesParseLeniently(_ name: String) throws {
        let text = try Fixtures.read(Fixtures.realWorldPolicies.appendingPathComponent(name))
        let p = try AuditPolicy.parse(yaml: text, source: name, options: .lenient)
        #expect(p.omitManagedFields)
        #expect(p.warnings.allSatisfy { $0.code == .unknownField })
        // The consequence of the typo: every machineconfiguration.openshift.io resource is at Metadata.
        let r = PolicyRequest.resource(user: "u", groups: ["system:authenticated", "system:authenticated:oauth"], verb: "create",
                                       apiGroup: "machineconfiguration.openshift.io", resource: "kubeletconfigs")
        #expect(p.evaluate(r).level == .metadata)
    }

    /// The ConfigMap's three embedded policies parse.
    @Test func configMapEmbeddedPolicies() throws {
        let name = "openshift__library-go__pkg_operator_apiserver_audit_testdata_audit-policies-cm-scenario-1.yaml"
        let text = try Fixtures.read(Fixtures.realWorldPolicies.appendingPathComponent(name))
        let keys = ["default.yaml", "writerequestbodies.yaml", "allrequestbodies.yaml"]
        for key in keys {
            let embedded = try #require(blockScalar(named: key, in: text), "data key \(key)")
            let p = try AuditPolicy.parse(yaml: embedded, source: "\(name)#\(key)")
            #expect(p.omitManagedFields && p.omitStages == [.requestReceived])
        }
    }

    /// Semantics spot-checks on the kube website example policy.
    @Test func websiteExampleDecisions() throws {
        let name = "kubernetes__website__content_en_examples_audit_audit-policy.yaml"
        let p = try AuditPolicy.parse(yaml: try Fixtures.read(Fixtures.realWorldPolicies.appendingPathComponent(name)), source: name)
        let tim = "tim"
        #expect(p.evaluate(.resource(user: tim, verb: "create", resource: "pods", namespace: "a")).level == .requestResponse)
        #expect(p.evaluate(.resource(user: tim, verb: "get", resource: "pods", subresource: "log", namespace: "a")).level == .metadata)
        #expect(p.evaluate(.resource(user: tim, verb: "update", resource: "configmaps", namespace: "a", name: "controller-leader")).level == .none)
        #expect(p.evaluate(.resource(user: "system:kube-proxy", verb: "watch", resource: "endpoints")).level == .none)
        #expect(p.evaluate(.nonResource(user: tim, groups: ["system:authenticated"], verb: "get", path: "/apis/apps")).level == .none)
        #expect(p.evaluate(.nonResource(user: tim, groups: [], verb: "get", path: "/apis/apps")).level == .metadata)
        #expect(p.evaluate(.resource(user: tim, verb: "update", resource: "configmaps", namespace: "kube-system")).level == .request)
        #expect(p.evaluate(.resource(user: tim, verb: "get", resource: "secrets", namespace: "a")).level == .metadata)
        #expect(p.evaluate(.resource(user: tim, verb: "get", apiGroup: "extensions", resource: "ingresses")).level == .request)
        let d = p.evaluate(.resource(user: tim, verb: "get", apiGroup: "apps", resource: "deployments"))
        #expect(d.level == .metadata && d.ruleIndex == 8 && d.omitStages == [.requestReceived])
    }

    /// The STRRL policy repeats its first rule (core "*") as rule 10: a real shadowed rule.
    @Test func strrlHasAShadowedRule() throws {
        let name = "STRRL__kubernetes-auditing-dashboard__script_kube-apiserver-config_audit-policy.yaml"
        let p = try AuditPolicy.parse(yaml: try Fixtures.read(Fixtures.realWorldPolicies.appendingPathComponent(name)), source: name)
        #expect(p.shadowedRules().map(\.rule) == [10])
        #expect(p.shadowedRules().map(\.by) == [1])
    }

    /// Shadow warnings across the corpus are exactly the provable ones.
    @Test func corpusShadowWarnings() throws {
        var found: [String: [Int]] = [:]
        for name in expectedRuleCounts.keys {
            let p = try AuditPolicy.parse(yaml: try Fixtures.read(Fixtures.realWorldPolicies.appendingPathComponent(name)), source: name)
            let shadowed = p.shadowedRules().map(\.rule)
            if !shadowed.isEmpty { found[name] = shadowed }
        }
        #expect(found == ["STRRL__kubernetes-auditing-dashboard__script_kube-apiserver-config_audit-policy.yaml": [10]])
    }
}

/// The text of a `key: |` block scalar in a ConfigMap's data (test helper, minimal YAML).
func blockScalar(named key: String, in text: String) -> String? {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "\(key): |" }) else { return nil }
    let keyIndent = lines[start].prefix { $0 == " " }.count
    var body: [Substring] = []
    for line in lines[(start + 1)...] {
        let indent = line.prefix { $0 == " " }.count
        if !line.trimmingCharacters(in: .whitespaces).isEmpty && indent <= keyIndent { break }
        body.append(line)
    }
    let blockIndent = body.first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }?.prefix { $0 == " " }.count ?? 0
    return body.map { String($0.dropFirst(min(blockIndent, $0.count))) }.joined(separator: "\n")
}
