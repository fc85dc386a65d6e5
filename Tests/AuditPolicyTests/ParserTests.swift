import Testing
@testable import AuditPolicy

private func errors(_ yaml: String, source: String = "p.yaml") -> [PolicyDiagnostic] {
    do {
        _ = try AuditPolicy.parse(yaml: yaml, source: source)
        return []
    } catch {
        return error.diagnostics
    }
}

@Suite("parser")
struct ParserTests {
    @Test func parsesEveryField() throws {
        let p = try AuditPolicy.parse(yaml: """
            apiVersion: audit.k8s.io/v1
            kind: Policy
            metadata:
              name: x
            omitStages: [RequestReceived]
            omitManagedFields: true
            rules:
              - level: RequestResponse
                users: [alice]
                userGroups: [dev]
                verbs: [get, list]
                namespaces: [default, ""]
                resources:
                  - group: apps
                    resources: [deployments, deployments/scale]
                    resourceNames: [web]
                omitStages: [Panic]
                omitManagedFields: false
              - level: None
                nonResourceURLs: ["/healthz*"]
            """, source: "full.yaml")
        #expect(p.rules.count == 2)
        #expect(p.omitStages == [.requestReceived])
        #expect(p.omitManagedFields)
        let r = p.rules[0]
        #expect(r.level == .requestResponse)
        #expect(r.users == ["alice"] && r.userGroups == ["dev"] && r.verbs == ["get", "list"])
        #expect(r.namespaces == ["default", ""])
        #expect(r.resources == [GroupResources(group: "apps", resources: ["deployments", "deployments/scale"], resourceNames: ["web"])])
        #expect(r.omitStages == [.panic])
        #expect(r.omitManagedFields == false)
        #expect(r.location == SourceLocation(line: 8, column: 5))
        #expect(p.rules[1].nonResourceURLs == ["/healthz*"])
        #expect(p.warnings.isEmpty)
    }

    @Test func unknownFieldWithSuggestionAndLocation() {
        let e = errors("""
            apiVersion: audit.k8s.io/v1
            kind: Policy
            rules:
              - level: None
                verb: [watch]
                resources:
                  - group: ""
                    resource: [pods]
            """, source: "typo.yaml")
        #expect(e.count == 2)
        #expect(e.first?.description == "typo.yaml:5:5: unknown field 'verb' in rule #1; did you mean 'verbs'?")
        #expect(e.last?.description == "typo.yaml:8:9: unknown field 'resource' in a resources entry; did you mean 'resources'?")
        #expect(e.allSatisfy { $0.code == .unknownField })
    }

    @Test func unknownTopLevelField() {
        let e = errors("apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStage: [Panic]\nrules: [{level: None}]\n")
        #expect(e.map(\.description) == ["p.yaml:3:1: unknown field 'omitStage' in Policy; did you mean 'omitStages'?"])
    }

    @Test func unknownFieldCaseMismatchSuggests() {
        let e = errors("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  nonResourceUrls: [/x]\n")
        #expect(e.first?.message == "unknown field 'nonResourceUrls' in rule #1; did you mean 'nonResourceURLs'?")
    }

    @Test func misplacedFieldHintsIndentation() {
        let e = errors("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\nuserGroups: [x]\n")
        #expect(e.first?.message.contains("'userGroups' is a field of a rule: check the indentation") == true)
        #expect(e.first?.line == 5 && e.first?.column == 1)
    }

    @Test func wrongTypes() {
        let e = errors("""
            apiVersion: audit.k8s.io/v1
            kind: Policy
            omitManagedFields: "yes"
            rules:
              - level: Metadata
                users: system:admin
                verbs: [get, 42]
                resources: {group: ""}
                omitManagedFields: maybe
            """)
        #expect(e.map(\.code) == [.wrongType, .wrongType, .wrongType, .wrongType, .wrongType])
        #expect(e[0].description == "p.yaml:3:20: field 'omitManagedFields' must be true or false, got a string 'yes'")
        #expect(e[1].description == "p.yaml:6:12: field 'users' must be a list of strings, got a string 'system:admin'")
        #expect(e[2].message.hasPrefix("field 'verbs[]' must be a string, got an integer '42'"))
        #expect(e[3].line == 8 && e[3].message.contains("must be a list"))
        #expect(e[4].line == 9)
    }

    @Test func rulesMustBeAList() {
        let e = errors("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  level: None\n")
        #expect(e.map(\.code) == [.wrongType])
        #expect(e.first?.line == 4)
    }

    @Test func unknownLevelAndStage() {
        let e = errors("""
            apiVersion: audit.k8s.io/v1
            kind: Policy
            omitStages: [RequestRecieved]
            rules:
              - level: Metdata
              - level: none
                omitStages: [ResponseCompleted, Panic]
            """)
        #expect(e.map(\.code) == [.unknownStage, .unknownLevel, .unknownLevel, .unknownStage])
        #expect(e[0].description.hasPrefix("p.yaml:3:14: unknown stage 'RequestRecieved' in 'omitStages'; did you mean 'RequestReceived'?"))
        #expect(e[1].description.hasPrefix("p.yaml:5:12: unknown level 'Metdata'; did you mean 'Metadata'?"))
        #expect(e[2].message.hasPrefix("unknown level 'none'; did you mean 'None'?"))
        #expect(e[3].message.hasPrefix("unknown stage 'ResponseCompleted' in 'omitStages'; did you mean 'ResponseComplete'?"))
    }

    @Test func missingLevel() {
        let e = errors("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- verbs: [get]\n- level: None\n")
        #expect(e.map(\.description) == ["p.yaml:4:3: rule #1 has no 'level' (required: None, Metadata, Request or RequestResponse)"])
    }

    @Test func collectsAllErrors() {
        let e = errors("""
            kind: Policy
            rules:
              - levle: None
              - level: Loud
                verbz: [get]
              - level: None
                nonResourceURLs: [healthz, "/a*b"]
            """)
        #expect(e.count == 7)
        #expect(e.contains { $0.code == .missingField && $0.message.contains("apiVersion") })
        #expect(e.contains { $0.message.contains("'levle'") && $0.message.contains("did you mean 'level'?") })
        #expect(e.contains { $0.message.contains("rule #1 has no 'level'") })
        #expect(e.contains { $0.code == .unknownLevel })
        #expect(e.contains { $0.message.contains("'verbz'") })
        #expect(e.contains { $0.message == "non-resource URL 'healthz' must begin with '/'" })
        #expect(e.contains { $0.message == "non-resource URL '/a*b': a wildcard '*' must be the final character" })
        // file order
        #expect(e.map(\.line) == e.map(\.line).sorted())
    }

    @Test func kubeValidation() {
        let e = errors("""
            apiVersion: audit.k8s.io/v1
            kind: Policy
            rules:
              - level: None
                namespaces: [kube-system]
                nonResourceURLs: ["/healthz"]
              - level: None
                resources:
                  - group: apps/v1
                  - group: "*"
                  - group: Apps
                  - resourceNames: [x]
            """)
        #expect(e.count == 5)
        #expect(e[0].message.contains("rules cannot apply to both regular resources and non-resource URLs"))
        #expect(e[0].line == 6)
        #expect(e[1].message == "invalid group 'apps/v1': a group has no version; use 'apps'")
        #expect(e[2].message.hasPrefix("invalid group '*': kube-apiserver has no group wildcard"))
        #expect(e[3].message.hasPrefix("invalid group 'Apps': must be a lowercase DNS subdomain"))
        #expect(e[4].message == "resourceNames requires at least one resource in 'resources'")
    }

    @Test func versionAndKind() {
        #expect(errors("apiVersion: audit.k8s.io/v1alpha1\nkind: Policy\nrules: [{level: None}]\n").map(\.code) == [.unsupportedVersion])
        #expect(errors("apiVersion: v1\nkind: Policy\nrules: [{level: None}]\n").first?.message.hasPrefix("unsupported apiVersion 'v1'") == true)
        let pod = errors("apiVersion: v1\nkind: Pod\nspec: {}\n")
        #expect(pod.map(\.description) == ["p.yaml:2:7: kind 'Pod' is not a Policy"])
        #expect(errors("rules: [{level: None}]\n").map(\.code) == [.missingField, .missingField])
    }

    @Test func v1beta1ParsesWithDeprecationWarning() throws {
        let p = try AuditPolicy.parse(yaml: "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules: [{level: Metadata}]\n", source: "b.yaml")
        #expect(p.apiVersion == "audit.k8s.io/v1beta1")
        #expect(p.warnings.map(\.code) == [.deprecated])
        #expect(p.warnings.first?.description.hasPrefix("b.yaml:1:13: warning: apiVersion") == true)
    }

    @Test func noRules() {
        #expect(errors("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n").map(\.code) == [.noRules])
        #expect(errors("apiVersion: audit.k8s.io/v1\nkind: Policy\n").map(\.code) == [.noRules])
        #expect(errors("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n").map(\.code) == [.noRules])
    }

    @Test func yamlSyntaxErrorsHaveLocations() {
        let e = errors("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: [None\n")
        #expect(e.count == 1 && e[0].code == .yamlSyntax)
        #expect(e[0].line >= 4)
        let dup = errors("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None}]\nrules: [{level: None}]\n")
        #expect(dup.first?.code == .yamlSyntax && dup.first?.message.contains("duplicate key 'rules'") == true)
        #expect(errors("").map(\.code) == [.notAPolicy])
        #expect(errors("- a\n- b\n").map(\.code) == [.wrongType])
    }

    @Test func nullsAreEmpty() throws {
        let p = try AuditPolicy.parse(yaml: """
            apiVersion: audit.k8s.io/v1
            kind: Policy
            metadata:
            omitStages:
            rules:
              - level: Metadata
                users:
                resources:
                  - group:
                    resources: [pods]
            """, source: "nulls.yaml")
        #expect(p.rules[0].users == [] && p.rules[0].resources == [GroupResources(group: "", resources: ["pods"])])
    }

    @Test func lenientModeWarnsOnUnknownFields() throws {
        let yaml = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  verb: [get]\n"
        let p = try AuditPolicy.parse(yaml: yaml, source: "l.yaml", options: .lenient)
        #expect(p.rules.count == 1 && p.rules[0].verbs.isEmpty)
        #expect(p.warnings.map(\.description) == ["l.yaml:5:3: warning: unknown field 'verb' in rule #1; did you mean 'verbs'? (ignored)"])
    }

    @Test func errorPrintsOneLinePerDiagnostic() {
        do {
            _ = try AuditPolicy.parse(yaml: "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Nope\n  user: [a]\n", source: "f.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.split(separator: "\n").count == 2)
            #expect(error.description.hasPrefix("f.yaml:4:10: unknown level 'Nope'"))
            #expect(error.contains(.unknownField))
        }
    }
}
