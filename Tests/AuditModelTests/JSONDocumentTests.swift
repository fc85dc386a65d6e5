import AuditGenerator
import AuditModel
import Foundation
import Testing

@Suite struct JSONDocumentTests {
    func parse(_ s: String) throws -> JSONDocument { try JSONDocument(bytes: Array(s.utf8)) }

    @Test func readsMembersElementsAndScalars() throws {
        let d = try parse(#" {"a": "x", "n": [1, -2.5e3, true, false, null], "o": {"k": "v"}} "#)
        #expect(d.kind(d.root) == .object)
        #expect(d.stringValue(d.member(d.root, "a")) == "x")
        #expect(d.member(d.root, "missing") == nil)
        let n = try #require(d.member(d.root, "n"))
        #expect(d.kind(n) == .array)
        let kinds = (0..<6).map { d.element(n, $0).map(d.kind) }
        #expect(kinds == [.number, .number, .true, .false, .null, nil])
        #expect(d.element(n, 0).flatMap(d.number) == 1)
        #expect(d.element(n, 1).flatMap(d.number) == -2500)
        let o = try #require(d.member(d.root, "o"))
        #expect(d.stringValue(d.member(o, "k")) == "v")
        #expect(d.member(n, "k") == nil, "an array has no members")
        #expect(d.members(d.root).map { d.string($0.key) } == ["a", "n", "o"])
    }

    @Test func decodesEscapesInValuesAndKeys() throws {
        let d = try parse(#"{"t\u0065xt": "a\"b\\c\/d\n\u00e9\ud83d\ude00", "plain": "é"}"#)
        #expect(d.stringValue(d.member(d.root, "text")) == "a\"b\\c/d\né😀")
        #expect(d.stringValue(d.member(d.root, "plain")) == "é")
    }

    @Test func theLastOfARepeatedKeyWins() throws {
        let d = try parse(#"{"verb":"get","verb":"delete"}"#)
        #expect(d.stringValue(d.member(d.root, "verb")) == "delete")
        #expect(d.canonicalJSON(d.root) == #"{"verb":"delete"}"#)
    }

    @Test func canonicalTextSortsKeysAndKeepsNumbers() throws {
        let d = try parse(#"{ "b": [1.50, {"z": null, "a": "/"}], "a": true }"#)
        #expect(d.canonicalJSON(d.root) == #"{"a":true,"b":[1.50,{"a":"/","z":null}]}"#)
    }

    @Test(arguments: [
        #"{"a":1"#, #"{"a":1}x"#, #"{"a":1,}"#, #"[1,]"#, #"{"a" 1}"#, #"{a:1}"#, #"{"a":tru}"#, #"{"a":01}"#,
        #"{"a":"\x"}"#, #"{"a":"\ud800"}"#, "", "  ", #"{"a":"line"#,
    ])
    func refusesWhatIsNotJSON(_ text: String) {
        #expect(throws: ScanError.self) { try parse(text) }
    }

    @Test func refusesInvalidUTF8AndDeepNesting() throws {
        #expect(throws: ScanError.self) { try JSONDocument(bytes: [0x22, 0xC3, 0x28, 0x22]) }
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        let e = #expect(throws: ScanError.self) { try parse(deep) }
        #expect(e?.code == .tooDeep)
        _ = try parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100))
    }

    /// Every generated event reads the same as through JSONSerialization, member by member.
    @Test func agreesWithJSONSerializationOnGeneratedEvents() throws {
        var compared = 0
        for line in AuditLogGenerator(GeneratorConfiguration(events: 2_000, seed: 5, node: "n1", rate: 100)) {
            let d = try JSONDocument(bytes: line)
            let theirs = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
            #expect(d.members(d.root).count == theirs.count)
            for (k, v) in d.members(d.root) {
                let key = d.string(k)
                let other = try #require(theirs[key])
                // Every value written out canonically equals Foundation's value written out sorted.
                let ours = d.canonicalJSON(v)
                let expected = String(decoding: try JSONSerialization.data(withJSONObject: other, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed]), as: UTF8.self)
                #expect(ours == expected, "\(key)")
                compared += 1
            }
        }
        #expect(compared > 20_000)
    }
}
