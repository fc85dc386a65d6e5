import Foundation
import SharedFixtures
import Testing
@testable import AuditPolicy

/// Policies quoted in shared/seeds/*.txt (web pages about audit policies), cut out by line range.
@Suite("seed policies", .needsShared("seeds"))
struct SeedTests {
    static func seed(_ prefix: String, lines: ClosedRange<Int>) throws -> String {
        let url = try #require(Fixtures.files(in: Fixtures.seeds, suffixes: [".txt"]).first { $0.lastPathComponent.hasPrefix(prefix) },
                               "seed \(prefix)_*.txt under \(Fixtures.seeds.path)")
        let all = try Fixtures.read(url).split(separator: "\n", omittingEmptySubsequences: false)
        try #require(all.count >= lines.upperBound, "seed \(prefix) is shorter than expected")
        return all[(lines.lowerBound - 1)...(lines.upperBound - 1)].joined(separator: "\n") + "\n"
    }

    @Test func seed000KubeWebsiteCopyParses() throws {
        let text = try Self.seed("000", lines: 21...88)
        #expect(text.hasPrefix("apiVersion: audit.k8s.io/v1"))
        let p = try AuditPolicy.parse(yaml: text, source: "seed000")
        #expect(p.rules.count == 9)
        #expect(p.check().warnings.isEmpty)
    }

    /// Seed 001 as published lost its indentation: it is not even valid YAML.
    @Test func seed001AsPublishedIsASyntaxError() throws {
        let text = try Self.seed("001", lines: 10...27)
        #expect(text.hasPrefix("## /etc/kubernetes/audit-policy.yaml"))
        do {
            _ = try AuditPolicy.parse(yaml: text, source: "seed001")
            Issue.record("seed 001 should not parse")
        } catch {
            #expect(error.diagnostics.map(\.code) == [.yamlSyntax])
            #expect(error.diagnostics.first?.line == 15)  // `- level: Metadata` after `level: RequestResponse`
            #expect(error.description.contains("was the indentation lost in copying?"))
        }
    }

    /// Seed 001 with its indentation restored (same lines, only leading spaces added):
    /// its `verb:` and `groups:` are reported with suggestions.
    @Test func seed001RestoredReportsVerbAndGroups() throws {
        let restored = """
            ## /etc/kubernetes/audit-policy.yaml
            apiVersion: audit.k8s.io/v1
            kind: Policy
            omitStages: ["RequestReceived"]
            metadata:
              name: sample-policy
            rules:
            - namespaces: ["prod-namespace"]
              verb: ["delete"]
              resources:
              - groups: ""
                resources: ["pods"]
                resourceNames: ["webapp-pod"]
              level: RequestResponse
            - level: Metadata
              resources:
              - groups: ""
                resources: ["secrets"]

            """
        let published = try Self.seed("001", lines: 10...27)
        let strip = { (s: String) in s.split(separator: "\n").map { $0.drop { $0 == " " } } }
        #expect(strip(restored) == strip(published), "the restored text must differ from the seed only in indentation")
        do {
            _ = try AuditPolicy.parse(yaml: restored, source: "seed001.yaml")
            Issue.record("seed 001 should not parse")
        } catch {
            #expect(error.diagnostics.map(\.description) == [
                "seed001.yaml:9:3: unknown field 'verb' in rule #1; did you mean 'verbs'?",
                "seed001.yaml:11:5: unknown field 'groups' in a resources entry; did you mean 'group'?",
                "seed001.yaml:17:5: unknown field 'groups' in a resources entry; did you mean 'group'?",
            ])
        }
        // With the typos fixed it is a valid policy.
        let fixed = restored.replacingOccurrences(of: "verb:", with: "verbs:").replacingOccurrences(of: "groups:", with: "group:")
        let p = try AuditPolicy.parse(yaml: fixed, source: "seed001-fixed.yaml")
        #expect(p.evaluate(.resource(user: "u", verb: "delete", resource: "pods", namespace: "prod-namespace", name: "webapp-pod")).level == .requestResponse)
        #expect(p.evaluate(.resource(user: "u", verb: "get", resource: "pods", namespace: "prod-namespace", name: "webapp-pod")).level == .none)
    }

    /// Seed 002 (Yandex managed Kubernetes page) also lost its indentation.
    @Test func seed002AsPublishedIsASyntaxError() throws {
        let text = try Self.seed("002", lines: 27...169)
        #expect(text.hasPrefix("apiVersion: audit.k8s.io/v1"))
        #expect(throws: PolicyError.self) { try AuditPolicy.parse(yaml: text, source: "seed002") }
        do {
            _ = try AuditPolicy.parse(yaml: text, source: "seed002")
        } catch {
            #expect(error.diagnostics.first?.code == .yamlSyntax)
            #expect(error.diagnostics.first?.line == 10)
        }
    }

    @Test func seed003AlibabaV1beta1Parses() throws {
        let text = try Self.seed("003", lines: 19...123)
        let p = try AuditPolicy.parse(yaml: text, source: "seed003")
        #expect(p.apiVersion == "audit.k8s.io/v1beta1")
        #expect(p.rules.count == 12)
        #expect(p.warnings.map(\.code) == [.deprecated])
    }
}

@Suite("presets in Deploy/policies")
struct PresetTests {
    @Test(arguments: ["recommended.yaml", "minimal.yaml", "forensic.yaml"])
    func parsesCleanWithoutWarnings(_ name: String) throws {
        let url = Fixtures.presets.appendingPathComponent(name)
        let p = try AuditPolicy.parse(yaml: try Fixtures.read(url), source: name)
        let report = p.check()
        #expect(!report.hasErrors)
        #expect(report.warnings.isEmpty, "\(name): \(report.warnings.map(\.description))")
        #expect(p.shadowedRules().isEmpty)
        #expect(p.rules.last?.isCatchAll == true, "\(name) should end with a catch-all")
    }

    @Test func recommendedDecisions() throws {
        let p = try AuditPolicy.parse(yaml: try Fixtures.read(Fixtures.presets.appendingPathComponent("recommended.yaml")), source: "recommended.yaml")
        func level(_ r: PolicyRequest) -> AuditLevel { p.evaluate(r).level }
        #expect(level(.resource(user: "system:kube-proxy", groups: ["system:authenticated"], verb: "watch", resource: "endpoints")) == .none)
        #expect(level(.resource(user: "system:node:n1", groups: ["system:nodes"], verb: "get", resource: "nodes", name: "n1")) == .none)
        #expect(level(.resource(user: "system:node:n1", groups: ["system:nodes"], verb: "patch", resource: "nodes", subresource: "status")) == .none)
        #expect(level(.resource(user: "system:node:n1", groups: ["system:nodes"], verb: "update", apiGroup: "coordination.k8s.io",
                                resource: "leases", namespace: "kube-node-lease")) == .none)
        #expect(level(.resource(user: "system:kube-scheduler", verb: "update", apiGroup: "coordination.k8s.io", resource: "leases",
                                namespace: "kube-system", name: "kube-scheduler")) == .none)
        #expect(level(.resource(user: "alice", verb: "create", resource: "events", namespace: "a")) == .none)
        #expect(level(.nonResource(user: "lb", verb: "get", path: "/readyz")) == .none)
        #expect(level(.resource(user: "alice", verb: "get", resource: "secrets", namespace: "a")) == .metadata)
        #expect(level(.resource(user: "alice", verb: "update", resource: "configmaps", namespace: "a")) == .metadata)
        #expect(level(.resource(user: "api", verb: "create", apiGroup: "authentication.k8s.io", resource: "tokenreviews")) == .metadata)
        #expect(level(.resource(user: "alice", verb: "delete", apiGroup: "apps", resource: "deployments", namespace: "a")) == .requestResponse)
        #expect(level(.resource(user: "alice", verb: "list", resource: "pods", namespace: "a")) == .request)
        #expect(level(.nonResource(user: "alice", verb: "get", path: "/apis")) == .request)
        #expect(level(.resource(user: "alice", verb: "proxy", resource: "services", namespace: "a")) == .metadata)
        let d = p.evaluate(.resource(user: "alice", verb: "get", resource: "pods", namespace: "a"))
        #expect(d.omitStages == [.requestReceived])
    }
}
