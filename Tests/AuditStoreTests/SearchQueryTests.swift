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

    @Test func whatIsNotTakenIsRefusedNamingTheTerm() {
        #expect(refusal("-user:system:*")?.contains("'-user:system:*': excluding") == true)
        #expect(refusal("verb:delete,patch")?.contains("lists of values") == true)
        #expect(refusal("user:system:*")?.contains("wildcards") == true)
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
