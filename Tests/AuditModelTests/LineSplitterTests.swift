import AuditModel
import Testing

@Suite struct LineSplitterTests {
    let text = Array("first line\nsecond\r\n\npartial-then-done\n{\"a\":\"x\"}\nno newline yet".utf8)

    func split(_ input: [UInt8], chunk: Int, max: Int = 1 << 20) -> ([LineSplitter.Piece], LineSplitter) {
        var s = LineSplitter(maxLineBytes: max)
        var out: [LineSplitter.Piece] = []
        var i = 0
        while i < input.count {
            let end = Swift.min(input.count, i + chunk)
            s.feed(Array(input[i..<end])) { out.append($0) }
            i = end
        }
        return (out, s)
    }

    /// Every chunk size from 1 byte to the whole input gives the same pieces.
    @Test func sameLinesAtEveryChunkSize() {
        let (reference, _) = split(text, chunk: text.count)
        #expect(reference.count == 5)
        for chunk in 1...text.count {
            let (pieces, s) = split(text, chunk: chunk)
            #expect(pieces == reference, "chunk size \(chunk)")
            #expect(s.consumedOffset == 48, "chunk size \(chunk)")
            #expect(s.partialLength == "no newline yet".utf8.count)
        }
        guard case .line(let b, let start, let end) = reference[1] else { Issue.record("expected a line"); return }
        #expect(String(decoding: b, as: UTF8.self) == "second")  // \r removed
        #expect(start == 11)
        #expect(end == 19)
    }

    @Test func oversizeLinesAreReportedAndTheNextLineSurvives() {
        let long = String(repeating: "x", count: 100)
        let input = Array("ok\n\(long)\nafter\n".utf8)
        for chunk in 1...input.count {
            let (pieces, s) = split(input, chunk: chunk, max: 10)
            #expect(pieces == [
                .line(bytes: Array("ok".utf8), start: 0, end: 3),
                .oversize(start: 3, end: 104),
                .line(bytes: Array("after".utf8), start: 104, end: 110),
            ], "chunk size \(chunk)")
            #expect(s.consumedOffset == 110)
        }
    }

    @Test func startsAtAGivenOffset() {
        var s = LineSplitter(maxLineBytes: 100, offset: 1000)
        var out: [LineSplitter.Piece] = []
        s.feed(Array("a\nb\n".utf8)) { out.append($0) }
        #expect(out == [.line(bytes: [97], start: 1000, end: 1002), .line(bytes: [98], start: 1002, end: 1004)])
    }
}
