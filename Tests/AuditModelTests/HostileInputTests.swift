import AuditModel
import Foundation
import Testing

/// Input built to exhaust the stack or memory: refused with its reason, in bounded resources.
@Suite struct HostileInputTests {
    static let depth = 100_000

    @Test("JSON nested 100,000 deep is refused as too deep, not a stack overflow")
    func deepNesting() throws {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let deep = "{\"auditID\":\"x\",\"requestObject\":" + String(repeating: open, count: Self.depth) + "1"
                + String(repeating: close, count: Self.depth) + "}"
            let bytes = Array(deep.utf8)
            #expect { try EventScanner.scan(bytes) } throws: { ($0 as? ScanError)?.code == .tooDeep }
            #expect { try bytes.withUnsafeBufferPointer { try EventScanner.validateJSON($0) } } throws: { ($0 as? ScanError)?.code == .tooDeep }
            let list = Array(("{\"kind\":\"EventList\",\"items\":[" + deep + "]}").utf8)
            #expect { try EventListScanner.items(list) } throws: { ($0 as? ScanError)?.code == .tooDeep }
            #expect { try EventListScanner.documentItems(list) } throws: { ($0 as? ScanError)?.code == .tooDeep }
            // Unclosed: the same, not a read past the end.
            let unclosed = Array(("{\"auditID\":\"x\",\"a\":" + String(repeating: open, count: Self.depth)).utf8)
            #expect { try EventScanner.scan(unclosed) } throws: { ($0 as? ScanError)?.code == .tooDeep }
        }
    }

    @Test("a 100 MB line is split off as one oversize piece; the splitter holds at most the limit")
    func hundredMegabyteLine() {
        var splitter = LineSplitter(maxLineBytes: 4 << 20)
        var pieces: [LineSplitter.Piece] = []
        splitter.feed(Array("{\"auditID\":\"before\"}\n".utf8)) { pieces.append($0) }
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20)
        for _ in 0..<100 {
            splitter.feed(chunk) { pieces.append($0) }
            #expect(splitter.partialLength > 0)
        }
        splitter.feed(Array("\n{\"auditID\":\"after\"}\n".utf8)) { pieces.append($0) }
        #expect(pieces.count == 3)
        #expect(pieces[1] == .oversize(start: 21, end: 21 + (100 << 20) + 1))
        if case .line(let bytes, _, _) = pieces[2] { #expect(bytes == Array("{\"auditID\":\"after\"}".utf8)) }
    }
}
