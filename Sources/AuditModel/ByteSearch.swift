#if canImport(Glibc)
import Glibc
#endif

/// Substring search over bytes (by the needle's rarest byte: `ByteNeedle`).
public enum ByteSearch {
    /// True when `needle` occurs in `haystack` (an empty needle always does).
    public static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        haystack.withUnsafeBufferPointer { ByteNeedle(needle).occurs(in: $0) }
    }
}

/// A needle searched for by its rarest byte in JSON text: `memchr` jumps between occurrences of
/// that byte and `memcmp` checks the needle around each. Searching by the first byte is slow when
/// it is common (`"` of a JSON key starts a candidate at every string).
public struct ByteNeedle: Sendable, Hashable {
    public let bytes: [UInt8]
    /// Where in `bytes` the rarest byte is.
    public let anchor: Int
    /// Where the rarest byte at another position is (`anchor` for a one-byte needle).
    let second: Int
    /// ASCII letters match in either case (`bytes` is then lowercase).
    public let caseInsensitive: Bool

    public init(_ bytes: [UInt8], caseInsensitive: Bool = false) {
        self.caseInsensitive = caseInsensitive
        self.bytes = caseInsensitive ? bytes.map(Self.lower) : bytes
        var best = 0
        // Folding case, a letter's byte is searched in both cases: prefer any other byte.
        func cost(_ b: UInt8) -> Int { Int(Self.commonness[Int(b)]) + (caseInsensitive && Self.lower(b) != Self.upper(b) ? 1000 : 0) }
        for (i, b) in bytes.enumerated() where cost(b) < cost(bytes[best]) { best = i }
        anchor = best
        var other = best
        for (i, b) in bytes.enumerated() where i != best && (other == best || cost(b) < cost(bytes[other])) { other = i }
        second = other
    }

    static func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b + 32 : b }
    static func upper(_ b: UInt8) -> UInt8 { b >= 0x61 && b <= 0x7A ? b - 32 : b }

    /// How often a byte turns up in audit events' JSON, roughly (lower is rarer).
    static let commonness: [UInt8] = {
        var t = [UInt8](repeating: 10, count: 256)
        for c in "\":,{}[] ".utf8 { t[Int(c)] = 100 }
        for c in "etaoinsr".utf8 { t[Int(c)] = 60 }
        for c in "lcdumhpgfbyvkw".utf8 { t[Int(c)] = 30 }
        for c in "0123456789-./".utf8 { t[Int(c)] = 40 }
        for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8 { t[Int(c)] = 15 }
        return t
    }()

    /// True when the needle occurs in the bytes (an empty needle always does).
    public func occurs(in h: UnsafeBufferPointer<UInt8>) -> Bool {
        firstOffset(in: h, from: 0) != nil
    }

    /// Text longer than this is searched with memchr on the rarest byte, shorter text (an event)
    /// sixteen candidate starts at a time.
    static let longHaystack = 4096

    /// Where the needle first starts in the bytes at or after `from`, or nil.
    public func firstOffset(in h: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard !bytes.isEmpty else { return from <= h.count ? from : nil }
        guard from >= 0, h.count - from >= bytes.count, let hb = h.baseAddress else { return nil }
        if caseInsensitive { return foldedOffset(in: h, from: from) }
        return bytes.withUnsafeBufferPointer { n -> Int? in
            guard let nb = n.baseAddress else { return nil }
            let a = n[anchor], b = n[second]
            let lastStart = h.count - n.count
            var start = from
            // Sixteen candidate starts at a time: those whose bytes at both anchors match are checked
            // whole (Muła's SIMD-friendly search), so common bytes cost no call each.
            let reach = max(anchor, second)
            if lastStart - from >= Self.longHaystack {
                // Long text (a block's raw part): libc's memchr on the rarest byte strides further.
                let key = Int32(a)
                var at = from + anchor
                let last = lastStart + anchor
                while at <= last {
                    guard let p = memchr(hb + at, key, last - at + 1) else { return nil }
                    let i = hb.distance(to: p.assumingMemoryBound(to: UInt8.self))
                    let s = hb + i - anchor
                    if s[second] == b, memcmp(s, nb, n.count) == 0 { return i - anchor }
                    at = i + 1
                }
                return nil
            }
            if lastStart - from >= 16 {
                let va = SIMD16<UInt8>(repeating: a), vb = SIMD16<UInt8>(repeating: b)
                let raw = UnsafeRawPointer(hb)
                while start + 15 <= lastStart, start + reach + 16 <= h.count {
                    let ba = raw.loadUnaligned(fromByteOffset: start + anchor, as: SIMD16<UInt8>.self)
                    let bb = raw.loadUnaligned(fromByteOffset: start + second, as: SIMD16<UInt8>.self)
                    let hit = Self.lanes((ba .== va) .& (bb .== vb))
                    if Self.anyLane(hit) {
                        for k in 0..<16 where hit[k] != 0 {
                            if memcmp(hb + start + k, nb, n.count) == 0 { return start + k }
                        }
                    }
                    start += 16
                }
            }
            while start <= lastStart {
                if hb[start + anchor] == a, hb[start + second] == b, memcmp(hb + start, nb, n.count) == 0 { return start }
                start += 1
            }
            return nil
        }
    }

    /// `firstOffset` with ASCII letters in either case.
    private func foldedOffset(in h: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard let hb = h.baseAddress else { return nil }
        let a = bytes[anchor], b = Self.upper(bytes[anchor])
        var at = from + anchor
        let last = h.count - bytes.count + anchor
        while at <= last {
            // The next anchor byte in either case.
            var i = Int.max
            if let p = memchr(hb + at, Int32(a), last - at + 1) { i = hb.distance(to: p.assumingMemoryBound(to: UInt8.self)) }
            if a != b, let p = memchr(hb + at, Int32(b), min(i, last) - at + 1) { i = min(i, hb.distance(to: p.assumingMemoryBound(to: UInt8.self))) }
            guard i != Int.max else { return nil }
            let start = i - anchor
            var k = 0
            while k < bytes.count, Self.lower(h[start + k]) == bytes[k] { k += 1 }
            if k == bytes.count { return start }
            at = i + 1
        }
        return nil
    }

    /// A lane mask as bytes (0xFF where set), and whether any is set: two 64-bit words or'd, where
    /// the generic `any(_:)` is a reduction the compiler leaves as a call.
    @inline(__always)
    static func lanes(_ m: SIMDMask<SIMD16<Int8>>) -> SIMD16<UInt8> {
        SIMD16<UInt8>(repeating: 0).replacing(with: 0xFF, where: m)
    }

    @inline(__always)
    static func anyLane(_ v: SIMD16<UInt8>) -> Bool {
        let w = unsafeBitCast(v, to: SIMD2<UInt64>.self)
        return w[0] | w[1] != 0
    }
}
