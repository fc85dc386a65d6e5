import AuditModel
import Testing

/// The query output's tagged lines read back (the UI's export through an aggregator).
@Suite struct TaggedEventLineTests {
    @Test func readsBackWhatTheWriterWrote() throws {
        let event = Array(#"{"auditID":"a","user":{"username":"x\"y"},"n":[1,{"b":null}]}"#.utf8)
        for (cluster, node) in [("prod", "m1"), ("we\"ird\\name", "n\u{1}de"), ("", "")] {
            let line = JSONText.taggedEventLine(cluster: cluster, node: node, event: event)
            let parsed = try #require(TaggedEventLine.parse(line))
            #expect(parsed.cluster == cluster)
            #expect(parsed.node == node)
            #expect(Array(line[parsed.event]) == event, "the event's exact bytes")
        }
    }

    @Test func membersInAnyOrderAndWhitespace() throws {
        let line = Array(#" { "event" : {"a":1} , "node":"n", "cluster":"c" } "#.utf8)
        let parsed = try #require(TaggedEventLine.parse(line))
        #expect(parsed.cluster == "c" && parsed.node == "n")
        #expect(String(decoding: line[parsed.event], as: UTF8.self) == #"{"a":1}"#)
    }

    @Test func refusesWhatIsNotATaggedLine() {
        for text in ["", "{}", #"{"cluster":"c","node":"n"}"#, #"{"cluster":"c","event":{}}"#, #"{"cluster":1,"node":"n","event":{}}"#,
                     #"{"cluster":"c","node":"n","event":{"#, "[1,2]", #"{"cluster":"c","node":"n","event":{}"#] {
            #expect(TaggedEventLine.parse(Array(text.utf8)) == nil, "\(text)")
        }
    }
}
