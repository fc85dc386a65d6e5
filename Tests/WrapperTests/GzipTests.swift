import Gzip
import Testing

@Suite struct GzipTests {
    @Test func roundTrips() throws {
        let input = Array((0..<200_000).map { UInt8(truncatingIfNeeded: $0 * 7 % 251) })
        for level: Int32 in [1, 6, 9] {
            let packed = try Gzip.compress(input, level: level)
            #expect(Gzip.isGzip(packed))
            #expect(try Gzip.decompress(packed, limit: input.count) == input)
        }
    }

    @Test func concatenatedMembersAreOneStream() throws {
        let a = try Gzip.compress(Array("first\n".utf8))
        let b = try Gzip.compress(Array("second\n".utf8))
        #expect(try Gzip.decompress(a + b, limit: 100) == Array("first\nsecond\n".utf8))
    }

    @Test func aBombStopsAtTheLimit() throws {
        let zeros = [UInt8](repeating: 0, count: 50 << 20)
        let bomb = try Gzip.compress(zeros, level: 9)
        #expect(bomb.count < 100_000)
        #expect { try Gzip.decompress(bomb, limit: 1 << 20) } throws: { ($0 as? GzipError)?.code == .tooLarge }
        // Exactly at the limit is fine.
        #expect(try Gzip.decompress(bomb, limit: zeros.count).count == zeros.count)
    }

    @Test func corruptAndTruncatedInputAreRefused() throws {
        let packed = try Gzip.compress(Array(repeating: UInt8(65), count: 10_000))
        #expect { try Gzip.decompress(Array(packed.prefix(packed.count / 2)), limit: 1 << 20) } throws: { ($0 as? GzipError)?.code == .truncated }
        var broken = packed
        broken[12] ^= 0xFF
        broken[13] ^= 0xFF
        #expect(throws: GzipError.self) { try Gzip.decompress(broken, limit: 1 << 20) }
        #expect(throws: GzipError.self) { try Gzip.decompress(Array("not gzip at all".utf8), limit: 1 << 20) }
    }

    /// Whole members (libdeflate) and the zlib stream read each other's output.
    @Test func wholeMembersAndTheStreamAgree() throws {
        let input = Array((0..<300_000).map { UInt8(truncatingIfNeeded: ($0 * 31) % 97 + ($0 / 1000)) })
        let whole = try Gzip.compress(input, level: 1)
        // The zlib stream reads libdeflate's member.
        let inflater = try Inflater()
        var streamed: [UInt8] = []
        _ = try whole.withUnsafeBytes { try inflater.inflate($0, limit: input.count, into: &streamed) }
        #expect(streamed == input && inflater.finishedMember)
        // A member zlib's stream made reads whole.
        let deflater = try Deflater(level: 1)
        var zlibMember: [UInt8] = []
        try input.withUnsafeBytes { try deflater.compress($0, finish: true, into: &zlibMember) }
        #expect(try Gzip.decompress(zlibMember, limit: input.count) == input)
        // A trailer that lies about the size: refused, never a short or padded answer.
        var lying = whole
        lying[lying.count - 4] ^= 0x01
        #expect(throws: GzipError.self) { try Gzip.decompress(lying, limit: 1 << 20) }
        // A trailer claiming a size over the limit on a small member: the limit still holds.
        #expect { try Gzip.decompress(whole, limit: input.count - 1) } throws: { ($0 as? GzipError)?.code == .tooLarge }
        #expect(try Gzip.decompress(try Gzip.compress([UInt8]()), limit: 0) == [])
    }
}
