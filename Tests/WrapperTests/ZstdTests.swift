import Testing
import Zstd

@Suite("zstd wrapper")
struct ZstdTests {
    let text: [UInt8] = Array(String(repeating: #"{"kind":"Event","verb":"get","user":{"username":"alice"}}"# + "\n", count: 2_000).utf8)

    @Test func roundTripsAndCompresses() throws {
        for level: Int32 in [1, 3, 9] {
            let compressed = try Zstd.compress(text, level: level)
            #expect(Zstd.hasMagic(compressed))
            #expect(compressed.count < text.count / 20)
            #expect(try Zstd.decompress(compressed, limit: text.count) == text)
        }
        #expect(try Zstd.decompress(try Zstd.compress([]), limit: 0) == [])
    }

    @Test func concatenatedFramesReadAsOne() throws {
        let a = try Zstd.compress(Array(text.prefix(1_000))), b = try Zstd.compress(Array(text.dropFirst(1_000)))
        #expect(try Zstd.decompress(a + b, limit: text.count) == text)
    }

    @Test func aBombStopsAtTheLimit() throws {
        let zeros = [UInt8](repeating: 0, count: 64 << 20)
        let bomb = try Zstd.compress(zeros, level: 1)
        #expect(bomb.count < 64 << 10)
        #expect(throws: ZstdError(code: .tooLarge, message: "decompressed data exceeds 1048576 bytes")) {
            try Zstd.decompress(bomb, limit: 1 << 20)
        }
        #expect(try Zstd.decompress(bomb, limit: zeros.count).count == zeros.count)
    }

    @Test func damagedInputIsRefusedWithTheReason() throws {
        let compressed = try Zstd.compress(text)
        let truncated = #expect(throws: ZstdError.self) { try Zstd.decompress(Array(compressed.dropLast(7)), limit: text.count) }
        #expect(truncated?.code == .truncated || truncated?.code == .corrupt)
        #expect(throws: ZstdError.self) { try Zstd.decompress(Array("not zstd at all".utf8), limit: 100) }
        #expect(throws: ZstdError.self) { try Zstd.decompress([], limit: 100) }
        var flipped = compressed
        flipped[flipped.count / 2] ^= 0xFF
        if let out = try? Zstd.decompress(flipped, limit: text.count) {
            #expect(out != text)  // the checksum-free frame may decode to other bytes, never past the limit
        }
    }
}
