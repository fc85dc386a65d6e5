import Foundation
import SharedFixtures
import Testing

@testable import AuditAlerts

/// What loading each SigmaHQ rule for product kubernetes / service audit in
/// ../shared/real-world/rules/sigma does: nil = it loads; a text = it is refused, the error containing it.
/// A change either way (a rule that loaded and is now refused, or the reverse) fails the test.
let sigmaHQOutcomes: [String: String?] = [
    "kubernetes_audit_change_admission_controller.yml": nil,
    "kubernetes_audit_cronjob_modification.yml": nil,
    "kubernetes_audit_deployment_deleted.yml": nil,
    "kubernetes_audit_events_deleted.yml": nil,
    "kubernetes_audit_exec_into_container.yml": nil,
    "kubernetes_audit_hostpath_mount.yml": nil,
    "kubernetes_audit_pod_in_system_namespace.yml": nil,
    "kubernetes_audit_potential_enumeration_activity.yml": nil,
    "kubernetes_audit_privileged_pod_creation.yml": nil,
    "kubernetes_audit_rbac_permisions_listing.yml": nil,
    "kubernetes_audit_rolebinding_modification.yml": nil,
    "kubernetes_audit_secrets_enumeration.yml": nil,
    "kubernetes_audit_secrets_modified_or_deleted.yml": nil,
    "kubernetes_audit_serviceaccount_creation.yml": nil,
    "kubernetes_audit_sidecar_injection.yml": nil,
    "kubernetes_audit_unauthorized_unauthenticated_actions.yml": nil,
]

/// Firings of each SigmaHQ rule over every file of ../shared/real-world/audit-logs (0 when absent).
let sigmaHQFirings: [String: Int] = [
    "kubernetes_audit_deployment_deleted.yml": 1,
    "kubernetes_audit_exec_into_container.yml": 1,
    "kubernetes_audit_hostpath_mount.yml": 2,
    "kubernetes_audit_pod_in_system_namespace.yml": 1,
    "kubernetes_audit_rolebinding_modification.yml": 5,
    "kubernetes_audit_secrets_enumeration.yml": 2,
    "kubernetes_audit_secrets_modified_or_deleted.yml": 4,
    "kubernetes_audit_serviceaccount_creation.yml": 6,
    "kubernetes_audit_sidecar_injection.yml": 4,
    "kubernetes_audit_unauthorized_unauthenticated_actions.yml": 29,
]

private let sigmaDirectory = SharedData.path("real-world/rules/sigma")
private let auditLogDirectory = SharedData.path("real-world/audit-logs")

@Suite("SigmaHQ's Kubernetes audit rules (../shared/real-world/rules/sigma)", .needsShared("real-world/rules/sigma"))
struct SigmaRealWorldTests {
    @Test("every rule loads, or is refused for the stated reason")
    func loadOrRefuse() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: sigmaDirectory).filter { $0.hasSuffix(".yml") }.sorted()
        #expect(Set(files) == Set(sigmaHQOutcomes.keys), "files without an expectation, or expectations without a file")
        for file in files {
            let path = (sigmaDirectory as NSString).appendingPathComponent(file)
            let expected = sigmaHQOutcomes[file] ?? nil
            switch Result(catching: { () throws(AlertRulesError) in try AlertRuleSet.load(paths: [path], includeBuiltins: false) }) {
            case .success(let set):
                #expect(expected == nil, "\(file) loads, but it was expected to be refused: \(expected ?? "")")
                #expect(set.rules.count == 1, "\(file)")
                #expect(set.warnings.isEmpty, "\(file): \(set.warnings)")
                let rule = try #require(set.rules.first)
                #expect(rule.ruleID?.count == 36, "\(file): id")
                #expect(rule.level == "low" || rule.level == "medium", "\(file): level")
                print("sigma: \(file): loads as '\(rule.name)' (\(rule.severity.rawValue))")
            case .failure(let error):
                let reason = try #require(expected, "\(file) is refused: \(error)")
                #expect(error.description.contains(reason), "\(file): \(error)")
                #expect(error.description.hasPrefix(path + ":"))
                print("sigma: \(file): refused: \(error)")
            }
        }
    }

    @Test("the whole folder loads with the pack, and evaluating it over the real audit logs does not crash",
          .needsShared("real-world/audit-logs"))
    func evaluateOverRealLogs() throws {
        let set = try AlertRuleSet.load(paths: [sigmaDirectory])
        let sigmaRules = set.rules.filter { $0.ruleID != nil }
        #expect(sigmaRules.count == sigmaHQOutcomes.values.filter { $0 == nil }.count)
        let logs = try FileManager.default.contentsOfDirectory(atPath: auditLogDirectory).filter { $0 != "PROVENANCE.md" }.sorted()
        // The rule file's name for each rule.
        var fileOf: [String: String] = [:]
        for rule in sigmaRules {
            fileOf[rule.name] = URL(fileURLWithPath: String(rule.origin.split(separator: ":").first ?? "")).lastPathComponent
        }
        var counts: [String: Int] = [:]
        var events = 0
        for log in logs {
            let report = AlertTester.run(path: (auditLogDirectory as NSString).appendingPathComponent(log), rules: set)
            events += report.events
            for f in report.firings where f.ruleID != nil { counts[fileOf[f.rule] ?? f.rule, default: 0] += 1 }
        }
        #expect(events > 200)
        print("sigma: \(events) events in \(logs.count) files; firings per SigmaHQ rule:")
        for file in sigmaHQOutcomes.keys.sorted() {
            print("sigma:   \(counts[file] ?? 0)\t\(file)")
        }
        // Pinned, so that a change in matching shows.
        for file in sigmaHQOutcomes.keys.sorted() {
            #expect(counts[file] ?? 0 == sigmaHQFirings[file] ?? 0, "\(file)")
        }
    }
}
