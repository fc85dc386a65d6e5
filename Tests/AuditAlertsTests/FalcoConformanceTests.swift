import Foundation
import SharedFixtures
import Testing
import Yams

@testable import AuditAlerts

// Falco's legacy k8s_audit regression matrix (../shared/real-world/rules/falco/falco_k8s_audit_tests.yaml),
// run with the built-in pack in place of Falco's rules. Each case names a trace file, the rule files
// Falco loads (its k8s_audit_rules.yaml, sometimes with an override from test-rules/) and what Falco
// must detect. The outcome of every case is pinned below; the table is Protocols/alert-conformance.md.

/// Falco rule → the built-in rules that follow it (their descriptions name it). Empty: no counterpart.
/// Covers every rule the matrix names and every rule of Falco's k8s_audit_rules.yaml.
let falcoCounterparts: [String: [String]] = [
    "Disallowed K8s User": [],
    "Create Disallowed Pod": [],
    "Create Privileged Pod": ["privileged-pod"],
    "Create Sensitive Mount Pod": ["sensitive-hostpath-mount"],
    "Create HostNetwork Pod": ["hostnetwork-pod"],
    "Create HostPid Pod": ["hostpid-pod"],
    "Create HostIPC Pod": ["hostipc-pod"],
    "Create NodePort Service": ["nodeport-service-created"],
    "Create/Modify Configmap With Private Credentials": ["configmap-with-credentials"],
    "Anonymous Request Allowed": ["anonymous-request-allowed"],
    "Attach/Exec Pod": ["pod-exec", "pod-attach"],
    "port-forward": ["pod-portforward"],
    "EphemeralContainers Created": ["ephemeral-container-created"],
    "Create Disallowed Namespace": [],
    "Pod Created in Kube Namespace": ["pod-created-in-kube-namespace"],
    "Service Account Created in Kube Namespace": ["serviceaccount-created-in-kube-namespace"],
    "System ClusterRole Modified/Deleted": ["system-role-modified"],
    "Attach to cluster-admin Role": ["cluster-admin-binding"],
    "ClusterRole With Wildcard Created": ["clusterrole-with-wildcard"],
    "ClusterRole With Write Privileges Created": [],
    "ClusterRole With Pod Exec Created": ["clusterrole-with-pod-exec"],
    "K8s Deployment Created": [],
    "K8s Deployment Deleted": [],
    "K8s Service Created": [],
    "K8s Service Deleted": [],
    "K8s ConfigMap Created": ["configmap-modified"],
    "K8s ConfigMap Deleted": ["configmap-modified"],
    "K8s Namespace Created": [],
    "K8s Namespace Deleted": [],
    "K8s Serviceaccount Created": [],
    "K8s Serviceaccount Deleted": [],
    // The matrix's names for what k8s_audit_rules.yaml now splits into Role / ClusterRole (Binding) rules.
    "K8s Role/Clusterrole Created": [],
    "K8s Role/Clusterrole Deleted": [],
    "K8s Role/Clusterrolebinding Created": [],
    "K8s Role/Clusterrolebinding Deleted": [],
    "K8s Role Created": [],
    "K8s Role Deleted": [],
    "K8s ClusterRole Created": [],
    "K8s ClusterRole Deleted": [],
    "K8s RoleBinding Created": [],
    "K8s RoleBinding Deleted": [],
    "K8s ClusterRoleBinding Created": [],
    "K8s ClusterRoleBinding Deleted": [],
    "K8s Secret Created": ["secret-modified"],
    "K8s Secret Deleted": ["secret-modified"],
    "K8s Secret Get Successfully": ["secret-read-by-non-system-user"],
    "K8s Secret Get Unsuccessfully Tried": ["secret-access-denied"],
    "All K8s Audit Events": [],
    "Full K8s Administrative Access": [],
    "Ingress Object without TLS Certificate Created": [],
    "Untrusted Node Successfully Joined the Cluster": [],
    "Untrusted Node Unsuccessfully Tried to Join the Cluster": [],
    // Defined by the override file single_rule_with_json_pointer.yaml, a test of Falco's JSON pointers.
    "json_pointer_example": [],
]

/// An override rule file a case loads on top of Falco's pack, and what stands for it here.
struct FalcoOverride: Sendable {
    /// What the file does in Falco.
    var does: String
    /// Built-in rules turned off (`disable:` in a rules file): the equivalent, where there is one.
    var disable: [String] = []
    /// How the pack stands to it.
    var here: String
}

/// The override files the matrix loads (by base name). Falco's own rule files (falco_rules.yaml,
/// k8s_audit_rules.yaml and its engine-v4 form engine_v4_k8s_audit_rules.yaml) are the pack itself.
let falcoOverrides: [String: FalcoOverride] = [
    "disallow_kactivity": FalcoOverride(
        does: "turns off the activity rules (K8s … Created/Deleted, K8s Secret Get …) by redefining consider_activity_events",
        disable: ["configmap-modified", "secret-modified", "secret-read-by-non-system-user", "secret-access-denied"],
        here: "applied: `disable:` of the activity rules' counterparts"),
    "allow_namespace_foo": FalcoOverride(
        does: "appends foo to allowed_namespaces (read by Create Disallowed Namespace only)",
        here: "nothing to apply: Create Disallowed Namespace has no counterpart (and kube_namespaces is a different list)"),
    "allow_user_some-user": FalcoOverride(
        does: "appends some-user to allowed_k8s_users (read by Disallowed K8s User only)",
        here: "nothing to apply: Disallowed K8s User has no counterpart"),
    "allow_nginx_container": FalcoOverride(
        does: "redefines allowed_k8s_containers as image repository nginx (read by Create Disallowed Pod only)",
        here: "nothing to apply: Create Disallowed Pod has no counterpart"),
    "allow_only_apache_container": FalcoOverride(
        does: "redefines allowed_k8s_containers as image repository apache (read by Create Disallowed Pod only)",
        here: "nothing to apply: Create Disallowed Pod has no counterpart"),
    "trust_nginx_container": FalcoOverride(
        does: "appends nginx to the image allowlists of the privileged, sensitive-mount and host-network rules",
        here: "not applicable: the pack has no image allowlists (a rules file can override a rule's `when` to add one)"),
    "single_rule_with_json_pointer": FalcoOverride(
        does: "adds rule json_pointer_example (a test of JSON pointers in conditions)",
        here: "nothing to apply: the rule has no counterpart"),
]

/// Falco's own rule files in the matrix's `rules_file` lists (base names).
let falcoBaseRuleFiles: Set<String> = ["falco_rules", "k8s_audit_rules", "engine_v4_k8s_audit_rules"]

/// For the cases where Falco expects no alert: the rules whose silence the case is about (the rule of
/// the case's positive twin). Empty: the case is about the input, which is not an audit event.
let falcoSilentFocus: [String: [String]] = [
    "compat_engine_v4_create_allowed_pod": ["Create Disallowed Pod"],
    "compat_engine_v4_create_privileged_trusted_pod": ["Create Privileged Pod"],
    "compat_engine_v4_create_unprivileged_pod": ["Create Privileged Pod"],
    "compat_engine_v4_create_hostnetwork_trusted_pod": ["Create HostNetwork Pod"],
    "user_in_allowed_set": ["Disallowed K8s User"],
    "create_allowed_pod": ["Create Disallowed Pod"],
    "create_privileged_trusted_pod": ["Create Privileged Pod"],
    "create_unprivileged_pod": ["Create Privileged Pod"],
    "create_unprivileged_trusted_pod": ["Create Privileged Pod"],
    "create_sensitive_mount_trusted_pod": ["Create Sensitive Mount Pod"],
    "create_unsensitive_mount_pod": ["Create Sensitive Mount Pod"],
    "create_unsensitive_mount_trusted_pod": ["Create Sensitive Mount Pod"],
    "create_hostnetwork_trusted_pod": ["Create HostNetwork Pod"],
    "create_nohostnetwork_pod": ["Create HostNetwork Pod"],
    "create_nohostnetwork_trusted_pod": ["Create HostNetwork Pod"],
    "create_nonodeport_service": ["Create NodePort Service"],
    "create_configmap_no_private_creds": ["Create/Modify Configmap With Private Credentials"],
    "namespace_in_allowed_set": ["Create Disallowed Namespace"],
    "create_service_account_token_secret": ["K8s Secret Created"],
    "create_kube_system_secret": ["K8s Secret Created"],
    "fal_01_003": [],
]

private let imageAllowlist =
    "trust_nginx_container exempts image nginx; the pack has no image allowlists, so its rule still fires on this nginx pod"
private let nothingToTrust = "trust_nginx_container (image allowlist) is not applicable, and nothing fires to exempt"
private let kubeSystemSecret =
    "Falco exempts secrets in kube-system; the pack does not: a user (not system:*) writing a secret there (here a bootstrap token, which lets a node join) is worth an alert"

/// The pinned outcome of every case: a change either way (a case that passed and no longer does, or
/// one that differed and now passes) fails the test. Reasons for differences are given per case.
let falcoExpected: [String: (status: ConformanceStatus, reason: String)] = [
    "compat_engine_v4_create_disallowed_pod": (.notCovered, ""),
    "compat_engine_v4_create_allowed_pod": (.notCovered, ""),
    "compat_engine_v4_create_privileged_pod": (.passes, ""),
    "compat_engine_v4_create_privileged_trusted_pod": (.differs, imageAllowlist),
    "compat_engine_v4_create_unprivileged_pod": (.passes, ""),
    "compat_engine_v4_create_hostnetwork_pod": (.passes, ""),
    "compat_engine_v4_create_hostnetwork_trusted_pod": (.differs, imageAllowlist),
    "user_outside_allowed_set": (.notCovered, ""),
    "user_in_allowed_set": (.notCovered, ""),
    "create_disallowed_pod": (.notCovered, ""),
    "create_allowed_pod": (.notCovered, ""),
    "create_privileged_pod": (.passes, ""),
    "create_privileged_no_secctx_1st_container_2nd_container_pod": (.passes, ""),
    "create_privileged_2nd_container_pod": (.passes, ""),
    "create_privileged_trusted_pod": (.differs, imageAllowlist),
    "create_unprivileged_pod": (.passes, ""),
    "create_unprivileged_trusted_pod": (.passes, nothingToTrust),
    "create_sensitive_mount_pod": (.passes, ""),
    "create_sensitive_mount_2nd_container_pod": (.passes, ""),
    "create_sensitive_mount_trusted_pod": (.differs, imageAllowlist),
    "create_unsensitive_mount_pod": (.passes, ""),
    "create_unsensitive_mount_trusted_pod": (.passes, nothingToTrust),
    "create_hostnetwork_pod": (.passes, ""),
    "create_hostnetwork_trusted_pod": (.differs, imageAllowlist),
    "create_nohostnetwork_pod": (.passes, ""),
    "create_nohostnetwork_trusted_pod": (.passes, nothingToTrust),
    "create_nodeport_service": (.passes, ""),
    "create_nonodeport_service": (.passes, ""),
    "create_configmap_private_creds": (.passes, ""),
    "create_configmap_no_private_creds": (.passes, ""),
    "anonymous_user": (.passes, ""),
    "pod_exec": (.passes, ""),
    "pod_attach": (.passes, ""),
    "namespace_outside_allowed_set": (.notCovered, ""),
    "namespace_in_allowed_set": (.notCovered, ""),
    "create_pod_in_kube_system_namespace": (.passes, ""),
    "create_pod_in_kube_public_namespace": (.passes, ""),
    "create_serviceaccount_in_kube_system_namespace": (.passes, ""),
    "create_serviceaccount_in_kube_public_namespace": (.passes, ""),
    "system_clusterrole_deleted": (.passes, ""),
    "system_clusterrole_modified": (.passes, ""),
    "attach_cluster_admin_role": (.passes, ""),
    "create_cluster_role_wildcard_resources": (.passes, ""),
    "create_cluster_role_wildcard_verbs": (.passes, ""),
    "create_writable_cluster_role": (.notCovered, ""),
    "create_pod_exec_cluster_role": (.passes, ""),
    "create_deployment": (.notCovered, ""),
    "delete_deployment": (.notCovered, ""),
    "create_service": (.notCovered, ""),
    "delete_service": (.notCovered, ""),
    "create_configmap": (.passes, ""),
    "delete_configmap": (.passes, ""),
    "create_namespace": (.notCovered, ""),
    "delete_namespace": (.notCovered, ""),
    "create_serviceaccount": (.notCovered, ""),
    "delete_serviceaccount": (.notCovered, ""),
    "create_clusterrole": (.notCovered, ""),
    "delete_clusterrole": (.notCovered, ""),
    "create_clusterrolebinding": (.notCovered, ""),
    "delete_clusterrolebinding": (.notCovered, ""),
    "create_secret": (.passes, ""),
    "create_service_account_token_secret": (.passes, ""),
    "create_kube_system_secret": (.differs, kubeSystemSecret),
    "delete_secret": (.passes, ""),
    "fal_01_003": (.passes, ""),
    "json_pointer_correct_parse": (.notCovered, ""),
]

/// One case of the matrix.
struct FalcoCase: Sendable, CustomTestStringConvertible {
    struct Count: Sendable, Hashable {
        var rule: String
        var count: Int
    }

    var name: String
    /// The trace file's name without `.json`.
    var trace: String
    var detect: Bool
    var counts: [Count]
    /// Base names of the rule files beyond Falco's own.
    var overrides: [String]

    var testDescription: String { name }
}

struct FalcoMatrixError: Error, CustomStringConvertible {
    var description: String
}

enum FalcoMatrix {
    static let relativePath = "real-world/rules/falco/falco_k8s_audit_tests.yaml"
    static let tracePrefix = "falcosecurity__falco__test_trace_files_k8s_audit_"

    static func tracePath(_ trace: String) -> String {
        SharedData.path("real-world/audit-logs/\(tracePrefix)\(trace).json")
    }

    /// Parses the matrix (a `!mux` mapping under `trace_files`: the tag is ignored, the node read as a mapping).
    static func parse(_ text: String) throws -> [FalcoCase] {
        guard let root = try Yams.compose(yaml: text), let cases = root["trace_files"]?.mapping else {
            throw FalcoMatrixError(description: "no trace_files mapping")
        }
        var result: [FalcoCase] = []
        for (key, value) in cases {
            guard let name = key.string else { throw FalcoMatrixError(description: "a case name is not a string") }
            guard let detect = value["detect"]?.string?.lowercased(), ["true", "false"].contains(detect) else {
                throw FalcoMatrixError(description: "\(name): detect is not True or False")
            }
            var counts: [FalcoCase.Count] = []
            for entry in value["detect_counts"]?.sequence.map({ Array($0) }) ?? [] {
                guard let pairs = entry.mapping, pairs.count == 1, let pair = pairs.first,
                      let rule = pair.key.string, let count = pair.value.int
                else { throw FalcoMatrixError(description: "\(name): a detect_counts entry is not `rule: count`") }
                counts.append(FalcoCase.Count(rule: rule, count: count))
            }
            let files = (value["rules_file"]?.sequence.map({ Array($0) }) ?? []).compactMap(\.string)
            let bases = files.map { ($0 as NSString).lastPathComponent.replacingOccurrences(of: ".yaml", with: "") }
            let options = value["addl_cmdline_opts"]?.string ?? ""
            let marker = "open_params=trace_files/k8s_audit/"
            guard let start = options.range(of: marker), let end = options.range(of: ".json", range: start.upperBound..<options.endIndex) else {
                throw FalcoMatrixError(description: "\(name): no trace file in addl_cmdline_opts")
            }
            result.append(FalcoCase(
                name: name, trace: String(options[start.upperBound..<end.lowerBound]), detect: detect == "true", counts: counts,
                overrides: bases.filter { !falcoBaseRuleFiles.contains($0) }))
        }
        return result
    }

    static func load() throws -> [FalcoCase] {
        try parse(String(contentsOfFile: SharedData.path(relativePath), encoding: .utf8))
    }
}

/// What the pack did on one case, and how that compares.
struct FalcoOutcome: Sendable {
    var fired: [String]
    var status: ConformanceStatus
    /// Why, where the comparison says it (no counterpart; the file is not read); else empty.
    var note: String
    var unreadable: Bool
}

enum FalcoConformance {
    /// Every built-in rule that follows some Falco rule.
    static let counterpartRules: Set<String> = Set(falcoCounterparts.values.joined())

    /// The rules the case is about.
    static func focus(_ c: FalcoCase) -> [String] {
        c.detect ? c.counts.map(\.rule) : (falcoSilentFocus[c.name] ?? [])
    }

    /// The built-in pack with the equivalents of the case's overrides.
    static func rules(for c: FalcoCase) throws -> AlertRuleSet {
        let disable = c.overrides.flatMap { falcoOverrides[$0]?.disable ?? [] }
        if disable.isEmpty { return .builtin }
        let yaml = "apiVersion: auditship.io/v1\nkind: AlertRules\ndisable: [\(disable.joined(separator: ", "))]\n"
        return try AlertRuleSet.load(yaml: yaml, source: "falco-override-\(c.name)", includeBuiltins: true)
    }

    static func run(_ c: FalcoCase) throws -> FalcoOutcome {
        let report = AlertTester.run(path: FalcoMatrix.tracePath(c.trace), rules: try rules(for: c))
        let fired = report.firings.map(\.rule)
        let focus = focus(c)
        if !c.detect, focus.isEmpty {
            // The case is about the input: Falco refuses the file ("data not recognized as a k8s audit event").
            let refused = report.events == 0 && !report.problems.isEmpty && fired.isEmpty
            let why = report.problems.first?.message ?? "read"
            return FalcoOutcome(fired: fired, status: refused ? .passes : .differs, note: "the file is refused: \(why)", unreadable: true)
        }
        let uncovered = focus.filter { (falcoCounterparts[$0] ?? []).isEmpty }
        if uncovered.count == focus.count {
            let names = uncovered.map { "‘\($0)’" }.joined(separator: ", ")
            return FalcoOutcome(fired: fired, status: .notCovered, note: "no counterpart for Falco's \(names)", unreadable: false)
        }
        let passes: Bool
        if c.detect {
            passes = c.counts.allSatisfy { count in
                let mapped = Set(falcoCounterparts[count.rule] ?? [])
                return mapped.isEmpty || fired.filter(mapped.contains).count == count.count
            }
        } else {
            passes = !fired.contains(where: counterpartRules.contains)
        }
        return FalcoOutcome(fired: fired, status: passes ? .passes : .differs, note: "", unreadable: false)
    }

    /// The document: what is compared, the mapping, the overrides, one row per case.
    static func document(_ cases: [FalcoCase], _ outcomes: [String: FalcoOutcome]) -> String {
        let statuses = cases.compactMap { outcomes[$0.name]?.status }
        var out = """
            # Alert conformance: Falco's k8s_audit regression matrix

            Generated by `Tests/AuditAlertsTests/FalcoConformanceTests.swift`; do not edit by hand. The test
            fails when this file differs from what it computes; `AUDITSHIP_WRITE_CONFORMANCE=1 swift test
            --filter FalcoConformance` rewrites it.

            Falco's legacy regression matrix for its Kubernetes audit rules
            (`../shared/real-world/rules/falco/falco_k8s_audit_tests.yaml`, from falcosecurity/falco) names, per
            case, a trace file, the rule files Falco loads (its `k8s_audit_rules.yaml`, sometimes with an override
            from `test-rules/`) and what Falco must detect: `detect_counts` (rule → number of alerts) or nothing.
            Each case's trace (`../shared/real-world/audit-logs/\(FalcoMatrix.tracePrefix)NAME.json`) is run
            through the built-in pack (`Sources/AuditAlerts/BuiltinAlertRules.swift`) with the equivalent of the
            case's override where there is one, and compared through the mapping below:

            - **passes**: each expected Falco rule's counterparts fire exactly as often as Falco expects (other
              rules may fire too, as in Falco's harness); where Falco expects nothing, no rule with a Falco
              counterpart fires.
            - **differs on purpose**: they do not, for the reason given (a design difference, not a bug).
            - **not covered**: the pack has no counterpart for the Falco rule the case is about.

            The outcome of every case is pinned in the test: a case that passed and stops passing fails it.
            Panther's rule tests, a second opinion: [alert-conformance-panther.md](alert-conformance-panther.md).

            **\(cases.count) cases: \(ConformanceDocument.summary(statuses)).**

            ## Rule mapping

            | Falco rule | built-in rule(s) |
            |---|---|

            """
        for name in falcoCounterparts.keys.sorted() {
            let mapped = falcoCounterparts[name] ?? []
            out += ConformanceDocument.row([name, mapped.isEmpty ? "not covered" : mapped.joined(separator: ", ")])
        }
        out += """

            ## Override files

            | file | what it does in Falco | here |
            |---|---|---|

            """
        for name in falcoOverrides.keys.sorted() {
            guard let o = falcoOverrides[name] else { continue }
            out += ConformanceDocument.row([name, o.does, o.here])
        }
        out += """

            ## Cases

            | case | trace | Falco expects | built-in pack fires | status | reason |
            |---|---|---|---|---|---|

            """
        for c in cases {
            guard let outcome = outcomes[c.name] else { continue }
            let caseCell = c.overrides.isEmpty ? c.name : "\(c.name) (+ \(c.overrides.joined(separator: ", ")))"
            let expects: String
            if c.detect {
                expects = c.counts.map { "\($0.rule) ×\($0.count)" }.joined(separator: ", ")
            } else if let focus = falcoSilentFocus[c.name], !focus.isEmpty {
                expects = "nothing (\(focus.joined(separator: ", ")))"
            } else {
                expects = "nothing (input refused)"
            }
            let reason = [falcoExpected[c.name]?.reason ?? "", outcome.note].filter { !$0.isEmpty }.joined(separator: "; ")
            out += ConformanceDocument.row([caseCell, c.trace, expects, ConformanceDocument.counted(outcome.fired), outcome.status.rawValue, reason])
        }
        return out
    }
}

@Suite(
    "Falco's k8s_audit regression matrix (../shared/real-world/rules/falco)",
    .needsShared(FalcoMatrix.relativePath), .needsShared("real-world/audit-logs"))
struct FalcoConformanceTests {
    @Test("the matrix parses: 66 cases, each with a trace file, every rule mapped, every override known")
    func matrix() throws {
        let cases = try FalcoMatrix.load()
        #expect(cases.count == 66)
        #expect(Set(cases.map(\.name)).count == cases.count)
        let builtin = Set(BuiltinAlertRules.ruleNames)
        for name in falcoCounterparts.values.joined() { #expect(builtin.contains(name), "\(name) is not a built-in rule") }
        for c in cases {
            #expect(FileManager.default.fileExists(atPath: FalcoMatrix.tracePath(c.trace)), "\(c.name): no trace \(c.trace)")
            for rule in c.counts.map(\.rule) { #expect(falcoCounterparts[rule] != nil, "\(c.name): map Falco rule ‘\(rule)’") }
            for file in c.overrides { #expect(falcoOverrides[file] != nil, "\(c.name): unknown override file \(file)") }
            if !c.detect { #expect(falcoSilentFocus[c.name] != nil, "\(c.name): say which rule the silent case is about") }
            #expect(c.detect == !c.counts.isEmpty, "\(c.name): detect and detect_counts disagree")
        }
        #expect(Set(falcoSilentFocus.keys) == Set(cases.filter { !$0.detect }.map(\.name)))
    }

    @Test("every case has its pinned outcome, and the document says so")
    func conformance() throws {
        let cases = try FalcoMatrix.load()
        var outcomes: [String: FalcoOutcome] = [:]
        for c in cases {
            let outcome = try FalcoConformance.run(c)
            outcomes[c.name] = outcome
            guard let pinned = falcoExpected[c.name] else {
                Issue.record("\(c.name): no pinned outcome; it \(outcome.status.rawValue), firing \(ConformanceDocument.counted(outcome.fired))")
                continue
            }
            #expect(outcome.status == pinned.status, "\(c.name): expected \(pinned.status.rawValue), got \(outcome.status.rawValue) (fired \(ConformanceDocument.counted(outcome.fired)))")
            if pinned.status == .differs { #expect(!pinned.reason.isEmpty, "\(c.name): a difference needs its reason") }
        }
        #expect(Set(falcoExpected.keys) == Set(cases.map(\.name)), "pinned cases that are not in the matrix")
        ConformanceDocument.check("Protocols/alert-conformance.md", FalcoConformance.document(cases, outcomes))
    }
}
