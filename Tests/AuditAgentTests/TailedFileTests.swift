@testable import AuditAgent
import Foundation
import Testing

@Suite struct TailedFileTests {
    @Test func readsEventsQuarantinesBadLinesAndWaitsForPartialLines() throws {
        let dir = temporaryDirectory()
        let path = dir + "/audit.log"
        let good = #"{"auditID":"1","verb":"get"}"#
        let content = good + "\nnot json\n" + String(repeating: "y", count: 3000) + "\n" + #"{"auditID":"2"}"# + "\n" + #"{"auditID":"3""#
        try Data(content.utf8).write(to: URL(fileURLWithPath: path))
        let file = try OpenFile(path: path)
        let (id, _) = try file.identity()
        let t = TailedFile(path: path, file: file, identity: id, offset: 0, line: 0, maxLineBytes: 1000, chunkBytes: 7)
        var events: [SourcedEvent] = []
        var quarantined: [QuarantinedLine] = []
        try t.read(fileIndex: 0, eventBudget: 100, byteBudget: 1 << 20, events: &events, quarantined: &quarantined)
        #expect(events.map(\.line) == [1, 4])
        #expect(quarantined.map(\.line) == [2, 3])
        #expect(quarantined.map(\.reason) == ["invalid_json", "too_large"])
        #expect(!t.caughtUp)  // the last line has no newline yet
        // The writer finishes the line.
        let h = try #require(FileHandle(forWritingAtPath: path))
        h.seekToEndOfFile()
        h.write(Data("}\n".utf8))
        try h.close()
        try t.read(fileIndex: 0, eventBudget: 100, byteBudget: 1 << 20, events: &events, quarantined: &quarantined)
        #expect(events.map(\.line) == [1, 4, 5])
        #expect(t.caughtUp)
        #expect(t.consumedOffset == Int64(content.utf8.count + 2))
    }

    @Test func identityCatchesInodeReuseByFingerprint() throws {
        let dir = temporaryDirectory()
        let path = dir + "/f"
        try Data("first content\n".utf8).write(to: URL(fileURLWithPath: path))
        let a = try OpenFile(path: path).identity().identity
        try FileManager.default.removeItem(atPath: path)
        try Data("other content\n".utf8).write(to: URL(fileURLWithPath: path))
        let b = try OpenFile(path: path).identity().identity
        #expect(a.fingerprint != b.fingerprint)
    }
}
