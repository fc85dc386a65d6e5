import Gzip
import Testing

@Suite struct GzipBombTests {
    /// 1 GB of zeros, gzip-compressed (about 1 MB), is refused once the output reaches the limit:
    /// inflating stops there instead of producing the gigabyte first.
    @Test func aGigabyteBombIsStoppedAtTheLimit() throws {
        let deflater = try Deflater(level: 9)
        var bomb: [UInt8] = []
        let zeros = [UInt8](repeating: 0, count: 16 << 20)
        for i in 0..<64 {
            try zeros.withUnsafeBytes { try deflater.compress($0, finish: i == 63, into: &bomb) }
        }
        #expect(bomb.count < 2 << 20, "1 GiB of zeros compressed to \(bomb.count) bytes")  // about 1 MB at level 9
        let limit = 64 << 20
        // One-shot decompression refuses it as too large.
        #expect(throws: GzipError.self) { _ = try Gzip.decompress(bomb, limit: limit) }
        do {
            _ = try Gzip.decompress(bomb, limit: limit)
        } catch {
            #expect(error.code == .tooLarge)
        }
        // Streaming: the output never exceeds the limit, and the refusal comes when it is reached.
        let inflater = try Inflater()
        var out: [UInt8] = []
        var refused = false
        do {
            try bomb.withUnsafeBytes { _ = try inflater.inflate($0, limit: limit, into: &out) }
        } catch {
            refused = (error as? GzipError)?.code == .tooLarge
        }
        #expect(refused)
        #expect(out.count <= limit)
        // Stopping at the limit instead consumes only part of the input.
        let stopping = try Inflater()
        var partial: [UInt8] = []
        let consumed = try bomb.withUnsafeBytes { try stopping.inflate($0, limit: limit, stopAtLimit: true, into: &partial) }
        #expect(partial.count == limit)
        #expect(consumed < bomb.count)
    }
}
