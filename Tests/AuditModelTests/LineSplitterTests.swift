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

    /// A line of exactly the limit is kept and one byte longer is not, whether it arrives whole
    /// in a chunk (lent from the chunk) or in pieces (gathered in the splitter).
    @Test func theLimitIsTheSameForWholeAndGatheredLines() {
        let input = Array("\(String(repeating: "a", count: 10))\n\(String(repeating: "b", count: 11))\nc\n".utf8)
        for chunk in 1...input.count {
            let (pieces, _) = split(input, chunk: chunk, max: 10)
            #expect(pieces == [
                .line(bytes: Array(String(repeating: "a", count: 10).utf8), start: 0, end: 11),
                .oversize(start: 11, end: 23),
                .line(bytes: [99], start: 23, end: 25),
            ], "chunk size \(chunk)")
        }
    }

    /// A line wholly inside a chunk is lent from the chunk's own bytes (no copy); one that spans
    /// chunks is gathered first.
    @Test func wholeLinesAreLentFromTheChunk() {
        var s = LineSplitter(maxLineBytes: 100)
        let chunk = Array("ab\r\ncd\nef".utf8)
        var lent: [[Int]] = []
        chunk.withUnsafeBufferPointer { buf in
            s.feedBorrowing(buf) { piece in
                guard case .line(let line, _, _) = piece, let base = buf.baseAddress, let at = line.baseAddress else { return }
                lent.append([base.distance(to: at), line.count])
            }
        }
        #expect(lent == [[0, 2], [4, 2]])  // "ab" without its \r, then "cd"
        var gathered: [[UInt8]] = []
        Array("gh\n".utf8).withUnsafeBufferPointer { buf in
            s.feedBorrowing(buf) { piece in if case .line(let line, _, _) = piece { gathered.append(Array(line)) } }
        }
        #expect(gathered == [Array("efgh".utf8)])
    }

    @Test func startsAtAGivenOffset() {
        var s = LineSplitter(maxLineBytes: 100, offset: 1000)
        var out: [LineSplitter.Piece] = []
        s.feed(Array("a\nb\n".utf8)) { out.append($0) }
        #expect(out == [.line(bytes: [97], start: 1000, end: 1002), .line(bytes: [98], start: 1002, end: 1004)])
    }
}

@Suite struct LineSplitterThrowingTests {
    struct Stop: Error {}

    /// An error thrown by the consumer leaves through the splitter (lent or gathered line), and
    /// the splitter and its caller go on working afterwards.
    @Test func anErrorFromTheConsumerLeavesCleanly() throws {
        for chunk in [1, 3, 100] {
            let input = Array("first\nsecond\nthird\n".utf8)
            var s = LineSplitter(maxLineBytes: 100)
            var seen = 0
            var i = 0
            #expect(throws: Stop.self) {
                while i < input.count {
                    let end = Swift.min(input.count, i + chunk)
                    try s.feed(Array(input[i..<end])) { _ in
                        seen += 1
                        throw Stop()
                    }
                    i = end
                }
            }
            #expect(seen == 1)
            var after: [LineSplitter.Piece] = []
            s.feed(Array("x\n".utf8)) { after.append($0) }
            #expect(after.count >= 1, "chunk \(chunk)")
        }
    }
}
