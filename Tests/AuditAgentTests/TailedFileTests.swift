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

    /// The agent without a policy reads events without summaries: the same events, lines and
    /// quarantine records as a read with them, each event's bytes exactly the line's.
    @Test func validatingReadsMatchScanningReads() throws {
        let dir = temporaryDirectory()
        let path = dir + "/audit.log"
        let lines = [#"{"auditID":"1","verb":"get"}"#, "not json", #"{"auditID":"","verb":"get"}"#, #"{"auditID":"2","stageTimestamp":"soon"}"#,
                     String(repeating: "y", count: 3000), #"{"auditID":"3"}"# + "\r", "  ", #"{"kind":"Pod","auditID":"4"}"#, #"{"auditID":"5"}"#]
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
        func readAll(summaries: Bool, chunk: Int) throws -> ([[UInt8]], [Int64], [String]) {
            let file = try OpenFile(path: path)
            let (id, _) = try file.identity()
            let t = TailedFile(path: path, file: file, identity: id, offset: 0, line: 0, maxLineBytes: 1000, chunkBytes: chunk)
            var events: [[UInt8]] = [], numbers: [Int64] = [], quarantined: [QuarantinedLine] = []
            try t.read(eventBudget: 100, byteBudget: 1 << 20, summaries: summaries, quarantined: &quarantined) { bytes, summary, line in
                events.append(Array(bytes))
                numbers.append(line)
                #expect(summaries ? !summary.auditID.isEmpty : summary.auditID.isEmpty)
            }
            return (events, numbers, quarantined.map { "\($0.line) \($0.reason) \($0.message)" })
        }
        let reference = try readAll(summaries: true, chunk: 1 << 16)
        #expect(reference.0.map { String(decoding: $0, as: UTF8.self) } == [lines[0], #"{"auditID":"3"}"#, lines[8]])
        #expect(reference.1 == [1, 6, 9])
        #expect(reference.2.count == 5)
        for chunk in [7, 64, 1 << 16] {
            let validated = try readAll(summaries: false, chunk: chunk)
            #expect(validated.0 == reference.0 && validated.1 == reference.1 && validated.2 == reference.2, "chunk \(chunk)")
        }
    }

    /// The batch in hand is NDJSON as read; cutting hands it over and the next batch is written
    /// into the buffer shipping returned, without a new allocation.
    @Test func batchInHandReusesTheReturnedBuffer() {
        var batch = BatchInHand()
        batch.append(Array("{\"a\":1}".utf8), from: EventOrigin(fileIndex: 1, line: 1))
        batch.append(Array("{\"b\":2}".utf8), from: EventOrigin(fileIndex: 2, line: 7))
        #expect(batch.count == 2 && batch.byteCount == 16)
        var (ndjson, origins) = batch.take(nextBuffer: nil)
        #expect(String(decoding: ndjson, as: UTF8.self) == "{\"a\":1}\n{\"b\":2}\n")
        #expect(origins == [EventOrigin(fileIndex: 1, line: 1), EventOrigin(fileIndex: 2, line: 7)])
        #expect(batch.isEmpty && batch.byteCount == 0)
        ndjson.reserveCapacity(4096)
        ndjson.removeAll(keepingCapacity: true)
        let storage = ndjson.withUnsafeBufferPointer { $0.baseAddress }
        (_, origins) = batch.take(nextBuffer: consume ndjson)
        batch.append(Array("{\"c\":3}".utf8), from: EventOrigin(fileIndex: 1, line: 2))
        #expect(batch.ndjson.withUnsafeBufferPointer { $0.baseAddress } == storage)
        #expect(String(decoding: batch.ndjson, as: UTF8.self) == "{\"c\":3}\n")
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
