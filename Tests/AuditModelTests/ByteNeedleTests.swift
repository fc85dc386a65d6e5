import AuditModel
import Testing

@Suite struct ByteNeedleTests {
    func naive(_ h: [UInt8], _ n: [UInt8], from: Int) -> Int? {
        guard !n.isEmpty else { return from <= h.count ? from : nil }
        guard from >= 0, h.count >= n.count, from <= h.count - n.count else { return nil }
        for i in from...(h.count - n.count) where Array(h[i..<(i + n.count)]) == n { return i }
        return nil
    }

    /// Every haystack length around the sixteen-byte steps, needles of one to forty bytes, matches
    /// at the edges and near misses: the same first offset as a byte-by-byte search.
    @Test func agreesWithANaiveSearch() {
        var rng = SplitMix(seed: 11)
        let alphabet = Array(#"ab"{}:,x"#.utf8)
        var checked = 0
        for length in 0..<90 {
            for _ in 0..<40 {
                let h = (0..<length).map { _ in alphabet[rng.next(alphabet.count)] }
                var n = (0..<(1 + rng.next(6))).map { _ in alphabet[rng.next(alphabet.count)] }
                if rng.next(3) == 0, length > 0 {
                    // A needle taken from the haystack (often at its very end or start).
                    let start = [0, length - 1, rng.next(length)][rng.next(3)]
                    n = Array(h[start..<min(length, start + 1 + rng.next(40))])
                }
                let from = rng.next(4) == 0 ? rng.next(length + 2) : 0
                let got = h.withUnsafeBufferPointer { ByteNeedle(n).firstOffset(in: $0, from: from) }
                #expect(got == naive(h, n, from: from), "\(h) \(n) from \(from)")
                checked += 1
            }
        }
        #expect(checked == 3_600)
    }

    /// Folding ASCII case: the same first offset as a byte-by-byte search of the lowercased text,
    /// short and long, with letters and other bytes at the anchors.
    @Test func foldingCaseAgreesWithANaiveSearch() {
        var rng = SplitMix(seed: 13)
        let alphabet = Array(#"aAbB{"%/_zZ"#.utf8)
        func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b + 32 : b }
        for length in Array(0..<80) + [4_200, 4_500] {
            for _ in 0..<30 {
                let h = (0..<length).map { _ in alphabet[rng.next(alphabet.count)] }
                var n = (0..<(1 + rng.next(6))).map { _ in alphabet[rng.next(alphabet.count)] }
                if rng.next(2) == 0, length > 0 {
                    let start = rng.next(length)
                    n = Array(h[start..<min(length, start + 1 + rng.next(12))])
                }
                let got = h.withUnsafeBufferPointer { ByteNeedle(n, caseInsensitive: true).firstOffset(in: $0, from: 0) }
                #expect(got == naive(h.map(lower), n.map(lower), from: 0), "\(h) \(n)")
            }
        }
    }

    /// Long text (over `longHaystack`) takes the memchr path: the same answers there.
    @Test func agreesOnLongText() {
        var rng = SplitMix(seed: 12)
        let alphabet = Array(#"ab"{}:,x"#.utf8)
        for _ in 0..<200 {
            let h = (0..<(4_100 + rng.next(300))).map { _ in alphabet[rng.next(alphabet.count)] }
            let start = rng.next(h.count)
            let n = rng.next(2) == 0 ? Array(h[start..<min(h.count, start + 1 + rng.next(12))]) : (0..<(1 + rng.next(9))).map { _ in alphabet[rng.next(alphabet.count)] }
            let from = rng.next(3) == 0 ? rng.next(h.count) : 0
            let got = h.withUnsafeBufferPointer { ByteNeedle(n).firstOffset(in: $0, from: from) }
            #expect(got == naive(h, n, from: from))
        }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return bound <= 0 ? 0 : Int(z % UInt64(bound))
    }
}
