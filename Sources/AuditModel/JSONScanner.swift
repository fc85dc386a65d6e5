/// A validating, allocation-free JSON scanner over raw bytes.
///
/// The scanner walks one JSON text in a buffer, validating the grammar
/// (RFC 8259: strings with escapes and UTF-8, numbers, literals, nesting)
/// and reporting where values start and end, so that callers can read the
/// few fields they need without decoding the whole document. It never reads
/// outside `[start, end)` of the buffer it was given.
///
/// All positions are offsets into that buffer.
@usableFromInline
struct JSONScanner {
    @usableFromInline let base: UnsafePointer<UInt8>
    @usableFromInline let end: Int
    @usableFromInline var index: Int
    @usableFromInline let maxDepth: Int

    @inlinable
    init(base: UnsafePointer<UInt8>, start: Int, end: Int, maxDepth: Int) {
        self.base = base
        self.index = start
        self.end = end
        self.maxDepth = maxDepth
    }

    @inlinable
    func error(_ code: ScanError.Code, _ message: String, at offset: Int? = nil) -> ScanError {
        ScanError(code: code, offset: offset ?? index, message: message)
    }

    @inlinable
    var atEnd: Bool { index >= end }

    @inlinable
    func peek() -> UInt8? { index < end ? base[index] : nil }

    @inlinable
    mutating func skipWhitespace() {
        while index < end {
            switch base[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    @inlinable
    mutating func expect(_ byte: UInt8, _ what: StaticString) throws(ScanError) {
        skipWhitespace()
        guard index < end else { throw error(.invalidJSON, "unexpected end of input, expected \(what)") }
        guard base[index] == byte else {
            throw error(.invalidJSON, "unexpected \(describe(base[index])), expected \(what)")
        }
        index += 1
    }

    @usableFromInline
    func describe(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x" + String(byte, radix: 16)
    }

    /// A scanned string: the range of its content between the quotes.
    @usableFromInline
    struct StringToken {
        @usableFromInline var start: Int
        @usableFromInline var end: Int
        @usableFromInline var hasEscapes: Bool
        @inlinable init(start: Int, end: Int, hasEscapes: Bool) {
            self.start = start; self.end = end; self.hasEscapes = hasEscapes
        }
    }

    /// Scans a string starting at the opening quote; validates escapes and UTF-8.
    @inlinable
    mutating func scanString() throws(ScanError) -> StringToken {
        guard index < end, base[index] == UInt8(ascii: "\"") else {
            throw error(.invalidJSON, "expected a string")
        }
        index += 1
        let start = index
        var escapes = false
        while index < end {
            // Eight bytes at a time while none of them needs a look: no quote, backslash,
            // control character or non-ASCII byte (SWAR; the lowest flagged byte is exact).
            while index + 8 <= end {
                let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
                let flags = JSONScanner.specialStringBytes(word)
                if flags == 0 {
                    index += 8
                } else {
                    index += flags.trailingZeroBitCount >> 3
                    break
                }
            }
            guard index < end else { break }
            let byte = base[index]
            if byte == UInt8(ascii: "\"") {
                let token = StringToken(start: start, end: index, hasEscapes: escapes)
                index += 1
                return token
            } else if byte == UInt8(ascii: "\\") {
                escapes = true
                try scanEscape()
            } else if byte < 0x20 {
                throw error(.invalidJSON, "unescaped control character \(describe(byte)) in string")
            } else if byte < 0x80 {
                index += 1
            } else {
                try scanUTF8Sequence()
            }
        }
        throw error(.invalidJSON, "unterminated string", at: start - 1)
    }

    /// High bit set in each byte of `word` (little-endian) that is a quote, a backslash, below
    /// 0x20 or at least 0x80; bytes above the first flagged one may be flagged falsely.
    @inlinable @inline(__always)
    static func specialStringBytes(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func zeroBytes(_ x: UInt64) -> UInt64 { (x &- ones) & ~x & highs }
        let quote = zeroBytes(word ^ (ones &* 0x22))
        let backslash = zeroBytes(word ^ (ones &* 0x5C))
        let control = (word &- ones &* 0x20) & ~word & highs
        return quote | backslash | control | (word & highs)
    }

    @inlinable
    mutating func scanEscape() throws(ScanError) {
        // at backslash
        index += 1
        guard index < end else { throw error(.invalidJSON, "unterminated escape") }
        switch base[index] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
             UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 1
        case UInt8(ascii: "u"):
            index += 1
            let unit = try scanHex4()
            if unit >= 0xD800 && unit < 0xDC00 {
                // A high surrogate must be followed by an escaped low surrogate.
                guard index + 1 < end, base[index] == UInt8(ascii: "\\"), base[index + 1] == UInt8(ascii: "u") else {
                    throw error(.invalidJSON, "lone high surrogate in \\u escape")
                }
                index += 2
                let low = try scanHex4()
                guard low >= 0xDC00 && low < 0xE000 else {
                    throw error(.invalidJSON, "high surrogate not followed by a low surrogate")
                }
            } else if unit >= 0xDC00 && unit < 0xE000 {
                throw error(.invalidJSON, "lone low surrogate in \\u escape")
            }
        default:
            throw error(.invalidJSON, "invalid escape \\\(describe(base[index]))")
        }
    }

    @inlinable
    mutating func scanHex4() throws(ScanError) -> UInt32 {
        guard index + 4 <= end else { throw error(.invalidJSON, "truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = base[index]
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c &- UInt8(ascii: "A") &+ 10
            default: throw error(.invalidJSON, "invalid hex digit \(describe(c)) in \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// Validates one multi-byte UTF-8 sequence (no overlongs, no surrogates, at most U+10FFFF).
    @inlinable
    mutating func scanUTF8Sequence() throws(ScanError) {
        let b0 = base[index]
        var need: Int
        var minScalar: UInt32
        var scalar: UInt32
        switch b0 {
        case 0xC2...0xDF: need = 1; minScalar = 0x80; scalar = UInt32(b0 & 0x1F)
        case 0xE0...0xEF: need = 2; minScalar = 0x800; scalar = UInt32(b0 & 0x0F)
        case 0xF0...0xF4: need = 3; minScalar = 0x10000; scalar = UInt32(b0 & 0x07)
        default: throw error(.invalidJSON, "invalid UTF-8 lead byte \(describe(b0))")
        }
        guard index + need < end else { throw error(.invalidJSON, "truncated UTF-8 sequence") }
        var i = 1
        while i <= need {
            let b = base[index + i]
            guard b & 0xC0 == 0x80 else { throw error(.invalidJSON, "invalid UTF-8 continuation byte \(describe(b))", at: index + i) }
            scalar = scalar << 6 | UInt32(b & 0x3F)
            i += 1
        }
        guard scalar >= minScalar, scalar <= 0x10FFFF, !(scalar >= 0xD800 && scalar < 0xE000) else {
            throw error(.invalidJSON, "invalid UTF-8 sequence (overlong, surrogate or out of range)")
        }
        index += need + 1
        _ = need
    }

    /// Skips any JSON value, validating it. `depth` is the nesting depth of the value's container.
    @inlinable
    mutating func skipValue(depth: Int) throws(ScanError) {
        skipWhitespace()
        guard index < end else { throw error(.invalidJSON, "unexpected end of input, expected a value") }
        switch base[index] {
        case UInt8(ascii: "\""):
            _ = try scanString()
        case UInt8(ascii: "{"):
            try skipObject(depth: depth + 1)
        case UInt8(ascii: "["):
            try skipArray(depth: depth + 1)
        case UInt8(ascii: "t"): try scanLiteral("true")
        case UInt8(ascii: "f"): try scanLiteral("false")
        case UInt8(ascii: "n"): try scanLiteral("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            _ = try scanNumber()
        default:
            throw error(.invalidJSON, "unexpected \(describe(base[index])), expected a value")
        }
    }

    @inlinable
    mutating func scanLiteral(_ word: StaticString) throws(ScanError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= end else { throw error(.invalidJSON, "truncated literal") }
        let p = word.utf8Start
        for i in 0..<count where base[index + i] != p[i] {
            throw error(.invalidJSON, "invalid literal, expected \(word)")
        }
        index += count
    }

    /// Scans a number; returns its range.
    @inlinable
    mutating func scanNumber() throws(ScanError) -> Range<Int> {
        let start = index
        if base[index] == UInt8(ascii: "-") { index += 1 }
        guard index < end else { throw error(.invalidJSON, "truncated number") }
        if base[index] == UInt8(ascii: "0") {
            index += 1
        } else if base[index] >= UInt8(ascii: "1") && base[index] <= UInt8(ascii: "9") {
            while index < end, base[index] >= UInt8(ascii: "0"), base[index] <= UInt8(ascii: "9") { index += 1 }
        } else {
            throw error(.invalidJSON, "invalid number")
        }
        if index < end, base[index] == UInt8(ascii: ".") {
            index += 1
            let digits = index
            while index < end, base[index] >= UInt8(ascii: "0"), base[index] <= UInt8(ascii: "9") { index += 1 }
            guard index > digits else { throw error(.invalidJSON, "invalid number: no digits after '.'") }
        }
        if index < end, base[index] == UInt8(ascii: "e") || base[index] == UInt8(ascii: "E") {
            index += 1
            if index < end, base[index] == UInt8(ascii: "+") || base[index] == UInt8(ascii: "-") { index += 1 }
            let digits = index
            while index < end, base[index] >= UInt8(ascii: "0"), base[index] <= UInt8(ascii: "9") { index += 1 }
            guard index > digits else { throw error(.invalidJSON, "invalid number: no digits in exponent") }
        }
        return start..<index
    }

    @inlinable
    mutating func checkDepth(_ depth: Int) throws(ScanError) {
        if depth > maxDepth {
            throw error(.tooDeep, "JSON nested deeper than \(maxDepth) levels")
        }
    }

    @inlinable
    mutating func skipObject(depth: Int) throws(ScanError) {
        try checkDepth(depth)
        index += 1 // '{'
        skipWhitespace()
        if index < end, base[index] == UInt8(ascii: "}") { index += 1; return }
        while true {
            skipWhitespace()
            _ = try scanString()
            try expect(UInt8(ascii: ":"), "':'")
            try skipValue(depth: depth)
            skipWhitespace()
            guard index < end else { throw error(.invalidJSON, "unterminated object") }
            if base[index] == UInt8(ascii: ",") { index += 1; continue }
            if base[index] == UInt8(ascii: "}") { index += 1; return }
            throw error(.invalidJSON, "unexpected \(describe(base[index])), expected ',' or '}'")
        }
    }

    @inlinable
    mutating func skipArray(depth: Int) throws(ScanError) {
        try checkDepth(depth)
        index += 1 // '['
        skipWhitespace()
        if index < end, base[index] == UInt8(ascii: "]") { index += 1; return }
        while true {
            try skipValue(depth: depth)
            skipWhitespace()
            guard index < end else { throw error(.invalidJSON, "unterminated array") }
            if base[index] == UInt8(ascii: ",") { index += 1; continue }
            if base[index] == UInt8(ascii: "]") { index += 1; return }
            throw error(.invalidJSON, "unexpected \(describe(base[index])), expected ',' or ']'")
        }
    }

    /// Iterates the members of an object starting at '{'. For each key, `body`
    /// is called with the key token while `index` points at the value (after
    /// whitespace); `body` must consume the value, or return false to have it skipped.
    @inlinable
    mutating func forEachMember(depth: Int, _ body: (inout JSONScanner, StringToken) throws(ScanError) -> Bool) throws(ScanError) {
        try checkDepth(depth)
        skipWhitespace()
        guard index < end, base[index] == UInt8(ascii: "{") else { throw error(.invalidJSON, "expected an object") }
        index += 1
        skipWhitespace()
        if index < end, base[index] == UInt8(ascii: "}") { index += 1; return }
        while true {
            skipWhitespace()
            let key = try scanString()
            try expect(UInt8(ascii: ":"), "':'")
            skipWhitespace()
            if try !body(&self, key) {
                try skipValue(depth: depth)
            }
            skipWhitespace()
            guard index < end else { throw error(.invalidJSON, "unterminated object") }
            if base[index] == UInt8(ascii: ",") { index += 1; continue }
            if base[index] == UInt8(ascii: "}") { index += 1; return }
            throw error(.invalidJSON, "unexpected \(describe(base[index])), expected ',' or '}'")
        }
    }

    /// Iterates the elements of an array starting at '['; `body` must consume each element.
    @inlinable
    mutating func forEachElement(depth: Int, _ body: (inout JSONScanner) throws(ScanError) -> Void) throws(ScanError) {
        try checkDepth(depth)
        skipWhitespace()
        guard index < end, base[index] == UInt8(ascii: "[") else { throw error(.invalidJSON, "expected an array") }
        index += 1
        skipWhitespace()
        if index < end, base[index] == UInt8(ascii: "]") { index += 1; return }
        while true {
            skipWhitespace()
            try body(&self)
            skipWhitespace()
            guard index < end else { throw error(.invalidJSON, "unterminated array") }
            if base[index] == UInt8(ascii: ",") { index += 1; continue }
            if base[index] == UInt8(ascii: "]") { index += 1; return }
            throw error(.invalidJSON, "unexpected \(describe(base[index])), expected ',' or ']'")
        }
    }

    /// True when the key equals `name` (ASCII), decoding escapes when the key has them.
    /// Always inlined: the field scanners compare each key with a list of names, most of
    /// which differ in length, so the common case is one comparison of two integers.
    @inlinable @inline(__always)
    func keyEquals(_ key: StringToken, _ name: StaticString) -> Bool {
        let count = name.utf8CodeUnitCount
        if !key.hasEscapes {
            guard key.end - key.start == count else { return false }
            let p = name.utf8Start
            for i in 0..<count where base[key.start + i] != p[i] { return false }
            return true
        }
        return keyEqualsDecoding(key, name)
    }

    @inlinable @inline(never)
    func keyEqualsDecoding(_ key: StringToken, _ name: StaticString) -> Bool {
        decode(key) == name.description
    }

    /// Reads a string value (or null → nil) at the current position.
    @inlinable
    mutating func readStringOrNull() throws(ScanError) -> String? {
        guard index < end else { throw error(.invalidJSON, "unexpected end of input") }
        if base[index] == UInt8(ascii: "n") { try scanLiteral("null"); return nil }
        guard base[index] == UInt8(ascii: "\"") else { try skipValue(depth: 0); return nil }
        let token = try scanString()
        return decode(token)
    }

    /// Checks a string or null like ``readStringOrNull()`` (anything else is skipped) without
    /// decoding it: the string's length in the JSON text, 0 for null or another value.
    mutating func skipStringOrNull() throws(ScanError) -> Int {
        guard index < end else { throw error(.invalidJSON, "unexpected end of input") }
        if base[index] == UInt8(ascii: "n") { try scanLiteral("null"); return 0 }
        guard base[index] == UInt8(ascii: "\"") else { try skipValue(depth: 0); return 0 }
        let token = try scanString()
        return token.end - token.start
    }

    /// Decodes a validated string token into a Swift String.
    @usableFromInline
    func decode(_ token: StringToken) -> String {
        let raw = UnsafeBufferPointer(start: base + token.start, count: token.end - token.start)
        if !token.hasEscapes {
            return String(decoding: raw, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        while i < raw.count {
            let c = raw[i]
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < raw.count else { break }
            let e = raw[i]
            i += 1
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var unit = JSONScanner.hex4(raw, i)
                i += 4
                if unit >= 0xD800 && unit < 0xDC00, i + 6 <= raw.count {
                    let low = JSONScanner.hex4(raw, i + 2)
                    unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                let scalar = Unicode.Scalar(unit) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default: out.append(e)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    @usableFromInline
    static func hex4(_ raw: UnsafeBufferPointer<UInt8>, _ at: Int) -> UInt32 {
        var v: UInt32 = 0
        var i = at
        while i < at + 4 && i < raw.count {
            let c = raw[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            default: d = UInt32(c &- UInt8(ascii: "A") &+ 10)
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}
