import AuditModel
import Foundation
import SharedFixtures
import Testing

@testable import AuditAlerts

@Suite("Text a rule needs before parsing")
struct ByteNeedsTests {
    func needs(_ condition: String) throws -> ByteNeeds {
        let set = try AlertRuleSet.load(yaml: "apiVersion: auditship.io/v1\nkind: AlertRules\nrules:\n  - name: r\n    severity: low\n    when: \(condition)\n    message: m\n",
                                        source: "t.yaml", includeBuiltins: false)
        let engine = AlertEngine(rules: set)
        return try #require(engine.compiled.first).needs
    }

    func text(_ n: ByteNeeds) -> [[String]] { n.clauses.map { $0.map { String(decoding: $0.bytes, as: UTF8.self) } } }

    @Test func keysOfPathsAndPlainValuesAreNeeded() throws {
        #expect(text(try needs("{field: 'requestObject.spec.containers[*].securityContext.privileged', equals: true}"))
                == [["\"privileged\""], ["true"]])
        #expect(text(try needs("{field: resource, in: [secrets, configmaps]}")).map(Set.init) == [["secrets", "configmaps"]])
        #expect(text(try needs("{field: code, equals: 403}")).isEmpty, "numbers can be spelled many ways")
        #expect(text(try needs("{field: 'requestObject.metadata.name', equals: web}")) == [["web"]], "a key every event has is no needle")
        #expect(text(try needs("{field: namespacedName, equals: prod/db}")).isEmpty, "a derived value is not in the bytes")
        #expect(text(try needs("{not: {field: user, equals: alice}}")).isEmpty)
        #expect(text(try needs("{field: 'requestObject.data[keys]', exists: false}")).isEmpty)
        #expect(text(try needs("{any: [{field: verb, equals: delete}, {field: requestObject.spec.hostPID, equals: true}]}"))
                == [["delete", "\"hostPID\""]])
    }

    @Test func anEscapedKeyIsStillFound() throws {
        let engine = AlertEngine()
        let plain = #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"e1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"create","user":{"username":"mallory"},"objectRef":{"resource":"pods","namespace":"default","apiVersion":"v1"},"responseStatus":{"code":201},"requestObject":{"kind":"Pod","spec":{"containers":[{"name":"x","image":"busybox","securityContext":{"PRIVILEGED":true}}]}},"stageTimestamp":"2026-01-01T00:00:00Z"}"#
        // The apiserver logs a request body as the client sent it: a key spelled with \u escapes.
        let escaped = plain.replacingOccurrences(of: "PRIVILEGED", with: #"privil\u0065ged"#)
        let unescaped = plain.replacingOccurrences(of: "PRIVILEGED", with: "privileged")
        func fired(_ s: String) -> [String] { engine.evaluate(event: Array(s.utf8), cluster: "c", node: "n", now: Date()).map(\.rule) }
        #expect(fired(unescaped).contains("privileged-pod"))
        #expect(fired(escaped).contains("privileged-pod"))
        #expect(!fired(plain).contains("privileged-pod"))
        let bytes = Array(#"{"a":"x\\u"}"#.utf8)
        #expect(!bytes.withUnsafeBufferPointer(ByteNeeds.mayBeEscaped), "an escaped backslash then u is not an escape")
    }

    @Test func needlesAreFoundByTheirRarestByteAnywhere() {
        let hay = Array(#"{"a":"b","privileged":true,"x":"Privileged"}"#.utf8)
        let cases: [(String, Bool)] = [
            (#""privileged""#, true), ("true", true), (#"Privileged""#, true), (#"{"a""#, true),
            (#""]"#, false), (#"d"}"#, true), (#"privileged":false"#, false), ("", true),
        ]
        for (needle, found) in cases {
            let n = ByteNeedle(Array(needle.utf8))
            #expect(hay.withUnsafeBufferPointer { n.occurs(in: $0) } == found, "\(needle)")
            #expect(ByteSearch.contains(hay, Array(needle.utf8)) == found, "\(needle)")
        }
        #expect(ByteNeedle(Array("ab".utf8)).occurs(in: UnsafeBufferPointer(start: nil, count: 0)) == false)
    }

    @Test func sigmaTextIsNeededInEitherCaseAndNonASCIIIsAlwaysParsed() throws {
        let set = try AlertRuleSet.load(yaml: """
            title: Scanner
            logsource: {product: kubernetes, service: audit}
            detection:
                sel:
                    userAgent|contains: trufflehog
                    verb: list
                condition: sel
            level: medium
            """, source: "s.yml", includeBuiltins: false)
        let engine = AlertEngine(rules: set)
        let needs = try #require(engine.compiled.first).needs
        #expect(needs.clauses.flatMap { $0 }.contains { $0.caseInsensitive && $0.bytes == Array("trufflehog".utf8) })
        func event(_ agent: String) -> [UInt8] {
            Array(#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"ResponseComplete","verb":"LIST","userAgent":"\#(agent)","stageTimestamp":"2026-01-01T00:00:00Z"}"#.utf8)
        }
        func fired(_ b: [UInt8]) -> Bool { !engine.evaluate(event: b, cluster: "c", node: "n", now: Date()).isEmpty }
        #expect(fired(event("TruffleHog/3.0")))
        #expect(!fired(event("kubectl/1.30")))
        // The Kelvin sign lowercases to an ASCII k: the needle cannot see it, so the event is parsed.
        let kelvin = AlertEngine(rules: try AlertRuleSet.load(yaml: """
            title: K
            logsource: {product: kubernetes, service: audit}
            detection:
                sel:
                    userAgent|contains: kube
                condition: sel
            level: low
            """, source: "k.yml", includeBuiltins: false))
        let withKelvin = event("\u{212A}ube-probe/1.0")
        #expect(!kelvin.evaluate(event: withKelvin, cluster: "c", node: "n", now: Date()).isEmpty, "String.lowercased() makes it kube-probe")
        #expect(kelvin.statistics.unparsed == 0)
    }

    @Test func aNeedleInEitherCase() {
        let hay = Array(#"{"userAgent":"TruffleHog/3","x":"%2FBIN%2fsh"}"#.utf8)
        for (needle, found) in [("trufflehog", true), ("%2fbin%2fsh", true), ("hog/3", true), ("hog/4", false), ("\"useragent\"", true)] {
            #expect(hay.withUnsafeBufferPointer { ByteNeedle(Array(needle.utf8), caseInsensitive: true).occurs(in: $0) } == found, "\(needle)")
        }
        #expect(!hay.withUnsafeBufferPointer { ByteNeedle(Array("trufflehog".utf8)).occurs(in: $0) }, "case-sensitive by default")
    }

    /// The needles are exact: over every event of the real-world logs, every rule of the built-in pack
    /// and of SigmaHQ's Kubernetes rules whose condition holds has its needles in the event's bytes.
    @Test(.needsShared("real-world/audit-logs"), .needsShared("real-world/rules/sigma"))
    func everyMatchingEventHoldsItsRulesNeedles() throws {
        let set = try AlertRuleSet.load(paths: [SharedData.path("real-world/rules/sigma")], includeBuiltins: true)
        let engine = AlertEngine(rules: set)
        let dir = SharedData.path("real-world/audit-logs")
        var matched = 0, skipped = 0, events = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() where !file.hasSuffix(".md") {
            for view in AuditEventFile.read(path: dir + "/" + file).events {
                guard let object = try? JSONSerialization.jsonObject(with: Data(view.doc.bytes)),
                      let data = try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes]) else { continue }
                let bytes = [UInt8](data)
                guard let reread = AuditEventView(bytes: bytes) else { continue }
                events += 1
                let escaped = bytes.withUnsafeBufferPointer(ByteNeeds.mayBeEscaped)
                for rule in engine.compiled {
                    let admits = bytes.withUnsafeBufferPointer { rule.needs.admits($0, escaped: escaped) }
                    if !admits { skipped += 1 }
                    guard rule.condition.evaluate(reread) else { continue }
                    matched += 1
                    #expect(admits, "\(file): \(rule.rule.name) holds but its needles are missing")
                }
            }
        }
        #expect(matched > 20)
        #expect(skipped > events, "the needles rule most rules out for most events")
    }
}
