/// A read-only hash table keyed by strings, built once and probed on the hot path.
///
/// Uses FNV-1a over the UTF-8 bytes and linear probing, which is several times cheaper per
/// lookup than `Dictionary<String, _>` (SipHash) for the short keys of audit policies.
final class StringTable<Value: Sendable>: Sendable {
    private let keys: [String]
    private let values: [Value]
    private let slotHash: [UInt64]  // 0 = empty
    private let slotEntry: [Int32]
    private let mask: Int

    init(_ dictionary: [String: Value]) {
        let pairs = dictionary.sorted { $0.key < $1.key }
        keys = pairs.map(\.key)
        values = pairs.map(\.value)
        var capacity = 4
        while capacity < pairs.count * 2 { capacity <<= 1 }
        var hashes = [UInt64](repeating: 0, count: capacity)
        var entries = [Int32](repeating: -1, count: capacity)
        for (index, key) in keys.enumerated() {
            let h = Self.hash(key)
            var slot = Int(truncatingIfNeeded: h) & (capacity - 1)
            while hashes[slot] != 0 { slot = (slot + 1) & (capacity - 1) }
            hashes[slot] = h
            entries[slot] = Int32(index)
        }
        slotHash = hashes
        slotEntry = entries
        mask = capacity - 1
    }

    var isEmpty: Bool { keys.isEmpty }

    @inline(__always)
    static func hash(_ key: String) -> UInt64 {
        @inline(__always) func fnv<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
            return h
        }
        var key = key
        return key.withUTF8 { fnv($0) } | 1
    }

    @inline(__always)
    subscript(key: String) -> Value? {
        if keys.isEmpty { return nil }
        let h = Self.hash(key)
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let sh = slotHash[slot]
            if sh == 0 { return nil }
            if sh == h {
                let entry = Int(slotEntry[slot])
                if keys[entry] == key { return values[entry] }
            }
            slot = (slot + 1) & mask
        }
    }
}
