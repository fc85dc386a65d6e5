/// Glob matching over UTF-8 bytes, for alert rules and the search box.
public enum Glob {
    /// `*` matches any run of bytes (including `/`); with `questionMark`, `?` matches one
    /// character (a UTF-8 sequence), else it matches itself; every other byte matches itself.
    public static func matches(_ pattern: [UInt8], _ text: [UInt8], questionMark: Bool) -> Bool {
        var p = 0
        var t = 0
        var star = -1
        var mark = 0
        while t < text.count {
            if questionMark, p < pattern.count, pattern[p] == 0x3F {  // ?
                p += 1
                t += 1
                // Skip UTF-8 continuation bytes so '?' is one character.
                while t < text.count, text[t] & 0xC0 == 0x80 { t += 1 }
            } else if p < pattern.count, pattern[p] == 0x2A {  // *
                star = p
                mark = t
                p += 1
            } else if p < pattern.count, pattern[p] == text[t] {
                p += 1
                t += 1
            } else if star >= 0 {
                p = star + 1
                mark += 1
                t = mark
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == 0x2A { p += 1 }
        return p == pattern.count
    }
}
