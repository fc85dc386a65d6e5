import AuditModel
import Foundation
import Testing

@Suite struct EventScannerTests {
    func scan(_ s: String) throws -> EventSummary { try EventScanner.scan(Array(s.utf8)) }

    @Test func readsTheFieldsOfAV1Event() throws {
        let line = #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods/web/log?follow=true","verb":"get","user":{"username":"alice","uid":"1","groups":["dev","system:authenticated"]},"sourceIPs":["10.0.0.1"],"userAgent":"kubectl","objectRef":{"resource":"pods","namespace":"default","name":"web","apiVersion":"v1","subresource":"log"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-01-02T15:04:05.123456Z","stageTimestamp":"2026-01-02T15:04:05.223456Z"}"#
        let e = try scan(line)
        #expect(e.auditID == "a1")
        #expect(e.stage == "ResponseComplete")
        #expect(e.level == "Metadata")
        #expect(e.verb == "get")
        #expect(e.username == "alice")
        #expect(e.groups == ["dev", "system:authenticated"])
        #expect(e.hasObjectRef)
        #expect(e.resource == "pods")
        #expect(e.subresource == "log")
        #expect(e.namespace == "default")
        #expect(e.name == "web")
        #expect(e.apiGroup == "")
        #expect(e.responseCode == 200)
        #expect(e.requestURI == "/api/v1/namespaces/default/pods/web/log?follow=true")
        #expect(e.userAgent == "kubectl")
        #expect(e.sourceIPs == ["10.0.0.1"])
        #expect(e.requestReceivedTimestamp == Timestamp(rfc3339: "2026-01-02T15:04:05.123456Z"))
        #expect(e.stageTimestamp?.microseconds == 1_767_366_245_223_456)
    }

    @Test func fieldOrderDoesNotMatter() throws {
        let a = try scan(#"{"auditID":"x","verb":"list","user":{"groups":["g"],"username":"u"},"objectRef":{"name":"n","resource":"r"},"stage":"ResponseComplete"}"#)
        let b = try scan(#"{"stage":"ResponseComplete","objectRef":{"resource":"r","name":"n"},"user":{"username":"u","groups":["g"]},"verb":"list","auditID":"x"}"#)
        #expect(a == b)
    }

    @Test func escapesAndUnicodeAreDecoded() throws {
        let e = try scan(#"{"auditID":"a\u0031","user":{"username":"j\u00f6rg \"the\" admin\\x"},"verb":"g\u0065t","requestURI":"/api/\ud83d\ude00","objectRef":{"name":"caf\u00e9 ☕"}}"#)
        #expect(e.auditID == "a1")
        #expect(e.username == "jörg \"the\" admin\\x")
        #expect(e.verb == "get")
        #expect(e.requestURI == "/api/😀")
        #expect(e.name == "café ☕")
    }

    @Test func escapedKeysAreMatched() throws {
        let e = try scan(#"{"audit\u0049D":"k","v\u0065rb":"watch"}"#)
        #expect(e.auditID == "k")
        #expect(e.verb == "watch")
    }

    @Test func bracesAndQuotesInsideStringsAndNestedObjectsAreSkipped() throws {
        let line = #"{"auditID":"b","requestObject":{"data":{"x":"}{\"verb\":\"delete\"}","nested":[{"verb":"no"},[1,2,{"a":"]"}]]}},"annotations":{"k":"{\"user\":1}"},"verb":"create","user":{"username":"u","extra":{"x":["}"]}}}"#
        let e = try scan(line)
        #expect(e.verb == "create")
        #expect(e.username == "u")
        let member = try #require(e.requestObjectMember)
        let bytes = Array(line.utf8)
        #expect(String(decoding: bytes[member], as: UTF8.self).hasPrefix("\"requestObject\":{"))
        #expect(String(decoding: bytes[member], as: UTF8.self).hasSuffix("]]}}"))
    }

    @Test func v1beta1TimestampsAreRead() throws {
        let e = try scan(#"{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","metadata":{"creationTimestamp":"2018-03-21T21:47:07Z"},"level":"Request","timestamp":"2018-03-21T21:47:07Z","auditID":"20ac14d3","stage":"ResponseComplete","requestURI":"/api/v1/namespaces","verb":"list","user":{"username":"admin"}}"#)
        #expect(e.apiVersion == "audit.k8s.io/v1beta1")
        #expect(e.legacyTimestamp == Timestamp(rfc3339: "2018-03-21T21:47:07Z"))
        #expect(e.creationTimestamp == e.legacyTimestamp)
        #expect(e.stageTimestamp == nil)
        #expect(e.orderTimestamp == e.legacyTimestamp)
    }

    @Test func lastDuplicateKeyWinsAsInGo() throws {
        let e = try scan(#"{"auditID":"d","verb":"get","verb":"delete"}"#)
        #expect(e.verb == "delete")
    }

    @Test func nullsAndMissingFieldsAreEmpty() throws {
        let e = try scan(#"{"auditID":"n","user":null,"objectRef":null,"responseStatus":null,"stageTimestamp":null}"#)
        #expect(e.username == nil)
        #expect(!e.hasObjectRef)
        #expect(e.responseCode == nil)
        #expect(e.stageTimestamp == nil)
    }

    @Test(arguments: [
        (#"{"auditID":"a""#, ScanError.Code.invalidJSON),
        (#"{"auditID":"a",}"#, .invalidJSON),
        (#"{"auditID":'a'}"#, .invalidJSON),
        (#"{"auditID":"a"} x"#, .invalidJSON),
        (#"{"auditID":"a\x"}"#, .invalidJSON),
        (#"{"auditID":"a","n":01}"#, .invalidJSON),
        (#"{"auditID":"a","n":1.}"#, .invalidJSON),
        (#"{"auditID":"a","n":tru}"#, .invalidJSON),
        (#"{"auditID":"\ud800"}"#, .invalidJSON),
        ("[1,2,3]", .notAnObject),
        ("\"text\"", .notAnObject),
        ("I0102 15:04:05 not json", .invalidJSON),
        (#"{"verb":"get"}"#, .notAnEvent),
        (#"{"kind":"Pod","auditID":"x"}"#, .notAnEvent),
        (#"{"auditID":"a","stageTimestamp":"yesterday"}"#, .badField),
        ("", .invalidJSON),
    ])
    func malformedInputIsRefusedWithAReason(input: String, code: ScanError.Code) {
        #expect { try scan(input) } throws: { ($0 as? ScanError)?.code == code }
    }

    @Test func controlCharactersAndBadUTF8AreRefused() {
        var bytes = Array(#"{"auditID":"a"#.utf8)
        bytes.append(0x01)
        bytes.append(contentsOf: Array(#""}"#.utf8))
        #expect(throws: ScanError.self) { try EventScanner.scan(bytes) }
        var bad = Array(#"{"auditID":""#.utf8)
        bad.append(contentsOf: [0xC0, 0x80])  // overlong NUL
        bad.append(contentsOf: Array(#""}"#.utf8))
        #expect(throws: ScanError.self) { try EventScanner.scan(bad) }
    }

    /// Strings are scanned eight bytes at a time while no byte needs a look: every special
    /// byte (quote, backslash, control character, each UTF-8 lead, a bad UTF-8 byte) at every
    /// position of a long string, at every alignment, is seen exactly as one byte at a time would.
    @Test func theEightByteFastPathMissesNoSpecialByte() throws {
        let specials: [(bytes: [UInt8], valid: Bool, decoded: String?)] = [
            (Array(#"\""#.utf8), true, "\""), (Array(#"\\"#.utf8), true, "\\"), (Array(#"\u00e9"#.utf8), true, "é"),
            ([0x01], false, nil), ([0x1F], false, nil), ([0x09], false, nil), ([0x7F], true, "\u{7F}"),
            (Array("é".utf8), true, "é"), (Array("€".utf8), true, "€"), (Array("𝄞".utf8), true, "𝄞"),
            ([0xC0, 0x80], false, nil), ([0xFF], false, nil), ([0x80], false, nil), ([0xE2, 0x82], false, nil),
        ]
        for pad in 0..<8 {
            for position in 0..<24 {
                for special in specials {
                    let prefix = String(repeating: "p", count: pad)
                    var value = Array(String(repeating: "a", count: position).utf8)
                    value += special.bytes
                    value += Array(String(repeating: "z", count: 24 - position).utf8)
                    var line = Array(#"{"kind":"Event","#.utf8) + Array(#""\#(prefix)":1,"auditID":""#.utf8)
                    line += value
                    line += Array(#""}"#.utf8)
                    if special.valid {
                        let e = try EventScanner.scan(line)
                        let expected = String(repeating: "a", count: position) + (special.decoded ?? "") + String(repeating: "z", count: 24 - position)
                        #expect(e.auditID == expected, "pad \(pad), position \(position), \(special.bytes)")
                    } else {
                        #expect(throws: ScanError.self, "pad \(pad), position \(position), \(special.bytes)") { try EventScanner.scan(line) }
                    }
                }
            }
        }
    }

    @Test func depthIsLimited() throws {
        let deep = #"{"auditID":"a","x":"# + String(repeating: "[", count: 300) + String(repeating: "]", count: 300) + "}"
        #expect { try EventScanner.scan(Array(deep.utf8), limits: ScanLimits(maxDepth: 100)) } throws: { ($0 as? ScanError)?.code == .tooDeep }
        _ = try EventScanner.scan(Array(deep.utf8), limits: ScanLimits(maxDepth: 400))
    }

    @Test func errorsNameTheOffset() {
        do {
            _ = try scan(#"{"auditID":"a", "verb": get}"#)
            Issue.record("expected an error")
        } catch let error as ScanError {
            #expect(error.offset == 24)
            #expect(error.message.contains("'g'"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    /// `validate` (the agent without a policy) accepts and refuses exactly what `scan` does,
    /// with the same error, on well-formed events and on every kind of refusal.
    @Test func validateAgreesWithScan() throws {
        let inputs = [
            #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","verb":"get","user":{"username":"u","groups":["g1","g2"]},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"pods","namespace":"n","name":"p"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-01-01T00:00:00.000001Z","stageTimestamp":"2026-01-01T00:00:00.5Z"}"#,
            #"{"auditID":"\u0041"}"#, #"{"auditID":""}"#, #"{"auditID":null}"#, #"{"auditID":5}"#, #"{"auditID":"a","auditID":""}"#,
            #"{"auditID":"","auditID":"b"}"#, #"{"auditID":"a","user":{"groups":[1,"x",null,{"y":[]}]}}"#,
            #"{"auditID":"a","user":{"groups":["x\q"]}}"#, #"{"auditID":"a","sourceIPs":"10.0.0.1"}"#,
            #"{"auditID":"a","verb":["get"]}"#, #"{"auditID":"a","stageTimestamp":5}"#, #"{"auditID":"a","objectRef":{"name":"\ud800"}}"#,
            #"{"auditID":"a","user":{"username":"u" "groups":[]}}"#, #"{"auditID":"a","kind":"Pod"}"#, #"{"auditID":"a","kind":"\u0045vent"}"#,
            #"{"auditID":"a","stageTimestamp":"x","verb":}"#,
            #"{"auditID":"a""#, #"{"auditID":"a",}"#, #"{"auditID":'a'}"#, #"{"auditID":"a"} x"#, "[1,2,3]", "\"text\"", "", "  ",
            #"{"verb":"get"}"#, #"{"auditID":"a","stageTimestamp":"yesterday"}"#,
        ]
        for input in inputs {
            let bytes = Array(input.utf8)
            let scanned: Result<Bool, ScanError> = bytes.withUnsafeBufferPointer { b in
                do throws(ScanError) { _ = try EventScanner.scan(b); return .success(true) } catch { return .failure(error) }
            }
            let validated: Result<Bool, ScanError> = bytes.withUnsafeBufferPointer { b in
                do throws(ScanError) { try EventScanner.validate(b); return .success(true) } catch { return .failure(error) }
            }
            #expect(scanned == validated, "\(input)")
        }
    }

    /// The scanner and Foundation agree on what is a JSON object, on a mixed corpus.
    /// One documented difference: Foundation accepts trailing commas (`[1,]`,
    /// `{"a":1,}`); RFC 8259 and Go's encoding/json, which kube-apiserver and
    /// every other consumer of the log use, do not, and neither do we.
    @Test func agreesWithJSONSerializationOnValidity() throws {
        let samples = [
            #"{"auditID":"a"}"#, #"{"auditID":"a","x":[1,2.5e3,-0,true,false,null,{}]}"#,
            #"{"auditID":"a","x":"\u00zz"}"#, #"{"auditID":"a","x":1e}"#, #"{"auditID":"a" "x":1}"#,
            #"{"auditID":"\/\b\f\n\r\t"}"#, #" { "auditID" : "a" } "#, #"{"auditID":"a","x":-}"#,
        ]
        for trailing in [#"{"auditID":"a",}"#, #"{"auditID":"a","x":[1,]}"#] {
            #expect(throws: ScanError.self) { try scan(trailing) }
        }
        for s in samples {
            let foundation = (try? JSONSerialization.jsonObject(with: Data(s.utf8))) is [String: Any]
            let ours = (try? scan(s)) != nil
            #expect(foundation == ours, "disagreement on \(s)")
        }
    }
}

@Suite struct TimestampTests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2026-01-02T15:04:05.123456Z", Int64(1_767_366_245_123_456)),
        ("2026-01-02T15:04:05.1234567Z", Int64(1_767_366_245_123_456)),
        ("2026-01-02T16:04:05.5+01:00", Int64(1_767_366_245_500_000)),
        ("2000-02-29T00:00:00Z", Int64(951_782_400_000_000)),
    ])
    func parsesRFC3339(text: String, micros: Int64) {
        #expect(Timestamp(rfc3339: text)?.microseconds == micros)
    }

    @Test(arguments: ["2026-13-01T00:00:00Z", "2026-01-01 00:00:00", "2026-01-01T00:00:00", "yesterday", "2026-01-01T00:00:00.Z"])
    func refusesMalformed(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test func formatsRoundTrip() {
        let t = Timestamp(microseconds: 1_767_366_245_123_456)
        #expect(t.rfc3339 == "2026-01-02T15:04:05.123456Z")
        #expect(Timestamp(rfc3339: t.rfc3339) == t)
        #expect(Timestamp(microseconds: -1).rfc3339 == "1969-12-31T23:59:59.999999Z")
    }
}

@Suite struct EventListTests {
    @Test func splitsItemsKeepingTheirBytes() throws {
        let item1 = #"{"auditID":"1","verb":"get"}"#
        let item2 = #"{ "auditID" : "2", "objectRef": {"name": "]}"} }"#
        let body = #"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[ "# + item1 + " ,\n" + item2 + "]}"
        let bytes = Array(body.utf8)
        let ranges = try EventListScanner.items(bytes)
        #expect(ranges.map { String(decoding: bytes[$0], as: UTF8.self) } == [item1, item2])
    }

    @Test func refusesOtherKinds() {
        #expect(throws: ScanError.self) { try EventListScanner.items(Array(#"{"kind":"PodList","items":[]}"#.utf8)) }
        #expect(throws: ScanError.self) { try EventListScanner.items(Array(#"{"kind":"EventList"}"#.utf8)) }
        #expect(throws: ScanError.self) { try EventListScanner.items(Array("[]".utf8)) }
    }
}
