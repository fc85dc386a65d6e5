import AuditBlock
import AuditModel
import AuditStore
import Testing

@Suite struct SearchQueryTests {
    func parse(_ text: String) throws -> EventQuery {
        var q = EventQuery()
        try SearchQuery.apply(text, to: &q)
        return q
    }

    func refusal(_ text: String) -> String? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func termsAndOnePhraseFillTheQuery() throws {
        let q = try parse(#"user:alice verb:delete resource:secrets ns:prod code:4xx "kubectl-edit""#)
        #expect(q == EventQuery(user: "alice", verb: "delete", resource: "secrets", namespace: "prod", codeClass: 4, text: "kubectl-edit"))
        // Usernames hold colons: the field ends at the first one.
        #expect(try parse("user:system:serviceaccount:kube-system:default").user == "system:serviceaccount:kube-system:default")
        #expect(try parse(#"name:"my app" stage:ResponseComplete code:404"#) == EventQuery(name: "my app", code: 404, stage: "ResponseComplete"))
        #expect(try parse(#""a \"quoted\" word""#).text == #"a "quoted" word"#)
        #expect(try parse("resource:pods/log apiGroup:apps group:system:masters cluster:c1 node:n1")
                == EventQuery(cluster: "c1", node: "n1", resource: "pods/log", group: "system:masters", apiGroup: "apps"))
        // auditID is searched as the exact text the apiserver writes.
        #expect(try parse("auditID:1234-ab").text == #""auditID":"1234-ab""#)
        #expect(try parse("   ") == EventQuery())
    }

    @Test func listsWildcardsAndExclusionsBecomeRowMatches() throws {
        let q = try parse(#"-user:system:* verb:delete,patch resource:secrets -ns:"kube-*" code:4xx,500"#)
        #expect(q.resource == "secrets")
        #expect(q.matches == [
            FieldMatch(field: .user, values: ["system:*"], wildcard: true, negated: true),
            FieldMatch(field: .verb, values: ["delete", "patch"]),
            FieldMatch(field: .namespace, values: ["kube-*"], wildcard: false, negated: true),
            FieldMatch(field: .code, values: ["4xx", "500"]),
        ])
        // A field may have one plain value and exclusions beside it.
        #expect(try parse("verb:get -verb:list").matches == [FieldMatch(field: .verb, values: ["list"], negated: true)])
    }

    @Test func aRowMatchChecksListsWildcardsClassesAndSubresources() {
        var row = BlockRow(node: "n", time: 0, auditID: "a", stage: "ResponseComplete", verb: "get", user: "system:serviceaccount:kube-system:x")
        row.resource = "pods"
        row.subresource = "log"
        row.code = 403
        #expect(FieldMatch(field: .user, values: ["system:*"], wildcard: true).matches(row))
        #expect(!FieldMatch(field: .user, values: ["system:*"], wildcard: true, negated: true).matches(row))
        #expect(!FieldMatch(field: .user, values: ["system:*"]).matches(row), "without wildcard, * is itself")
        #expect(FieldMatch(field: .user, values: ["*:kube-system:*"], wildcard: true).matches(row))
        #expect(!FieldMatch(field: .user, values: ["*:default:*"], wildcard: true).matches(row))
        #expect(FieldMatch(field: .verb, values: ["list", "get"]).matches(row))
        #expect(FieldMatch(field: .code, values: ["5xx", "4xx"]).matches(row))
        #expect(!FieldMatch(field: .code, values: ["404"]).matches(row))
        #expect(FieldMatch(field: .resource, values: ["pods"]).matches(row))
        #expect(FieldMatch(field: .resource, values: ["pods/log"]).matches(row))
        #expect(!FieldMatch(field: .resource, values: ["pods/exec"]).matches(row))
        row.user = nil
        #expect(FieldMatch(field: .user, values: ["system:*"], wildcard: true, negated: true).matches(row), "no user is not excluded")
    }

    @Test func whatIsNotTakenIsRefusedNamingTheTerm() {
        #expect(refusal("-cluster:prod")?.contains("not supported for cluster") == true)
        #expect(refusal("-\"phrase\"")?.contains("excluding free text") == true)
        #expect(refusal("verb:,get")?.contains("empty value") == true)
        #expect(refusal("code:4xx,teapot")?.contains("'teapot' is not a response code") == true)
        #expect(refusal("system:*")?.contains("'system' is not a field") == true)
        #expect(refusal("kube*")?.contains("wildcards") == true)
        #expect(refusal("foo bar")?.contains("'bar': one free-text phrase") == true)
        #expect(refusal("colour:red")?.contains("'colour' is not a field") == true)
        #expect(refusal("user:a user:b")?.contains("given twice") == true)
        #expect(refusal("code:teapot")?.contains("not a response code") == true)
        #expect(refusal(#"name:"open"#)?.contains("not closed") == true)
        #expect(refusal("user:")?.contains("give a value") == true)
        #expect(refusal(#"auditID:x "also text""#)?.contains("free text already") == true)
    }

    @Test func parametersAndTheSearchBoxCombineButDoNotRepeat() throws {
        let now = try #require(Timestamp(rfc3339: "2026-01-01T12:00:00Z"))
        let params = ["q": "user:alice code:5xx", "cluster": "c1", "since": "1h"]
        let q = try QueryParameters.query({ params[$0] }, now: now)
        #expect(q.user == "alice" && q.codeClass == 5 && q.cluster == "c1")
        #expect(q.since == Timestamp(rfc3339: "2026-01-01T11:00:00Z"))
        let twice = ["q": "user:alice", "user": "bob"]
        #expect(throws: StoreError.self) { try QueryParameters.query({ twice[$0] }, now: now) }
    }
}
