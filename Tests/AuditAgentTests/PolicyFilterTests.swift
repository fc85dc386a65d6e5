@testable import AuditAgent
import AuditModel
import AuditPolicy
import Foundation
import Testing

@Suite struct PolicyFilterTests {
    static let policyText = """
        apiVersion: audit.k8s.io/v1
        kind: Policy
        omitStages: ["RequestReceived"]
        rules:
          - level: None
            users: ["system:kube-proxy"]
            verbs: ["watch"]
          - level: Metadata
            resources: [{group: "", resources: ["secrets", "configmaps"]}]
          - level: Request
            verbs: ["get", "list"]
            omitManagedFields: true
          - level: RequestResponse
            resources: [{group: "apps"}]
            omitManagedFields: true
          - level: RequestResponse
        """

    let filter: PolicyFilter

    init() throws {
        filter = PolicyFilter(policy: try AuditPolicy.parse(yaml: Self.policyText, source: "test.yaml"))
    }

    func event(stage: String = "ResponseComplete", level: String = "RequestResponse", verb: String = "update",
               user: String = "alice", resource: String = "configmaps", group: String = "", body: Bool = true) -> [UInt8] {
        var s = #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"\#(level)","auditID":"id-1","stage":"\#(stage)","requestURI":"/x","verb":"\#(verb)","user":{"username":"\#(user)","groups":["g"]},"objectRef":{"resource":"\#(resource)","namespace":"ns","name":"n","apiGroup":"\#(group)"}"#
        if body {
            s += #","requestObject":{"kind":"X","metadata":{"name":"n","managedFields":[{"manager":"kubectl"}],"labels":{"a":"b"}},"data":{"k":"}{"}}"#
            s += #","responseObject":{"kind":"XList","metadata":{"resourceVersion":"1"},"items":[{"metadata":{"name":"i1","managedFields":[{"m":1}]},"spec":{}},{"metadata":{"name":"i2"}}]}"#
        }
        s += #","stageTimestamp":"2026-01-01T00:00:00.000001Z"}"#
        return Array(s.utf8)
    }

    func apply(_ bytes: [UInt8]) throws -> (PolicyFilter.Outcome, Bool) {
        try filter.apply(bytes, try EventScanner.scan(bytes))
    }

    func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func noneDropsAndOmittedStagesDrop() throws {
        let (o1, _) = try apply(event(verb: "watch", user: "system:kube-proxy", resource: "endpoints"))
        #expect(o1 == .drop(rule: 0, reason: .levelNone))
        let (o2, _) = try apply(event(stage: "RequestReceived"))
        #expect(o2 == .drop(rule: 1, reason: .omittedStage))
    }

    @Test func metadataRemovesBothBodiesAndSetsTheLevel() throws {
        let (o, under) = try apply(event(resource: "secrets"))
        #expect(!under)
        guard case .rewrite(let bytes) = o else { Issue.record("expected a rewrite, got \(o)"); return }
        let obj = try object(bytes)
        #expect(obj["requestObject"] == nil)
        #expect(obj["responseObject"] == nil)
        #expect(obj["level"] as? String == "Metadata")
        #expect(obj["stageTimestamp"] as? String == "2026-01-01T00:00:00.000001Z")
        // The members that were not touched keep their exact bytes.
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#""objectRef":{"resource":"secrets","namespace":"ns","name":"n","apiGroup":""}"#))
    }

    @Test func requestRemovesTheResponseAndManagedFields() throws {
        let (o, _) = try apply(event(verb: "get", resource: "pods"))
        guard case .rewrite(let bytes) = o else { Issue.record("expected a rewrite, got \(o)"); return }
        let obj = try object(bytes)
        #expect(obj["responseObject"] == nil)
        let request = try #require(obj["requestObject"] as? [String: Any])
        let metadata = try #require(request["metadata"] as? [String: Any])
        #expect(metadata["managedFields"] == nil)
        #expect((metadata["labels"] as? [String: String]) == ["a": "b"])
        #expect((request["data"] as? [String: String]) == ["k": "}{"])
        #expect(obj["level"] as? String == "Request")
    }

    @Test func managedFieldsAreRemovedFromListItemsToo() throws {
        let (o, _) = try apply(event(resource: "deployments", group: "apps"))
        guard case .rewrite(let bytes) = o else { Issue.record("expected a rewrite, got \(o)"); return }
        let obj = try object(bytes)
        let response = try #require(obj["responseObject"] as? [String: Any])
        let items = try #require(response["items"] as? [[String: Any]])
        #expect(items.count == 2)
        #expect((items[0]["metadata"] as? [String: Any])?["managedFields"] == nil)
        #expect((items[0]["metadata"] as? [String: Any])?["name"] as? String == "i1")
        #expect(obj["level"] as? String == "RequestResponse")
    }

    @Test func unchangedEventsKeepTheirExactBytes() throws {
        let original = event(verb: "create", resource: "pods")
        let (o, under) = try apply(original)
        #expect(o == .keep)
        #expect(!under)
    }

    @Test func anEventLoggedBelowTheRuleIsKeptAndCounted() throws {
        let (o, under) = try apply(event(level: "Metadata", verb: "create", resource: "pods", body: false))
        #expect(o == .keep)
        #expect(under)
    }

    @Test func requestAttributesFollowKube() throws {
        let bytes = Array(#"{"auditID":"x","verb":"get","requestURI":"/logs/kube.log?tail=1","user":{"username":"u","groups":["a","b"]}}"#.utf8)
        let r = PolicyFilter.request(for: try EventScanner.scan(bytes))
        #expect(!r.isResourceRequest)
        #expect(r.path == "/logs/kube.log")
        #expect(r.groups == ["a", "b"])
    }
}
