/// One JSON text parsed into a flat list of nodes over its bytes (a "tape"): validated once
/// (`JSONScanner`'s grammar, UTF-8 and depth checks), then read by node index without building
/// dictionaries or strings. A string is decoded only when asked for; a key is compared as bytes.
///
/// Node 0 is the root. A container's children follow it: an object's as key, value, key, value …,
/// an array's as its elements; `next(i)` is the index after a node's whole subtree, so siblings are
/// reached by jumping. Duplicate keys: the last one wins, as in Foundation's and Go's decoders.
public struct JSONDocument: Sendable {
    public enum Kind: UInt8, Sendable {
        case object, array, string, number, `true`, `false`, null
    }

    @usableFromInline
    struct Node: Sendable {
        @usableFromInline var kind: Kind
        /// A string with escapes (decoded on reading).
        @usableFromInline var escaped: Bool
        /// Strings: the content between the quotes; other kinds: the value's text.
        @usableFromInline var start: Int32
        @usableFromInline var end: Int32
        /// The index after this node's subtree.
        @usableFromInline var next: Int32
    }

    public let bytes: [UInt8]
    @usableFromInline var nodes: [Node]

    /// The root's index.
    public var root: Int { 0 }

    /// Parses `bytes` (one JSON value, whitespace around it allowed).
    public init(bytes: [UInt8], maxDepth: Int = 512) throws(ScanError) {
        guard bytes.count < Int(Int32.max) else {
            throw ScanError(code: .invalidJSON, offset: 0, message: "JSON text over 2 GiB")
        }
        self.bytes = bytes
        var nodes: [Node] = []
        nodes.reserveCapacity(min(bytes.count / 12, 1 << 16) + 8)
        let result: Result<Void, ScanError> = bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else {
                return .failure(ScanError(code: .invalidJSON, offset: 0, message: "empty input"))
            }
            var builder = Builder(scanner: JSONScanner(base: base, start: 0, end: buffer.count, maxDepth: maxDepth))
            do throws(ScanError) {
                try builder.value(depth: 0, into: &nodes)
                builder.scanner.skipWhitespace()
                if !builder.scanner.atEnd {
                    throw builder.scanner.error(.invalidJSON, "unexpected data after the JSON value")
                }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
        self.nodes = nodes
    }

    /// `{}`.
    public static var emptyObject: JSONDocument { JSONDocument() }

    private init() {
        bytes = Array("{}".utf8)
        nodes = [Node(kind: .object, escaped: false, start: 0, end: 2, next: 1)]
    }

    struct Builder {
        var scanner: JSONScanner

        mutating func value(depth: Int, into nodes: inout [Node]) throws(ScanError) {
            scanner.skipWhitespace()
            guard let b = scanner.peek() else { throw scanner.error(.invalidJSON, "unexpected end of input, expected a value") }
            switch b {
            case UInt8(ascii: "\""):
                let t = try scanner.scanString()
                nodes.append(Node(kind: .string, escaped: t.hasEscapes, start: Int32(t.start), end: Int32(t.end), next: Int32(nodes.count + 1)))
            case UInt8(ascii: "{"):
                try container(.object, close: UInt8(ascii: "}"), depth: depth, into: &nodes) { builder, nodes throws(ScanError) in
                    builder.scanner.skipWhitespace()
                    let k = try builder.scanner.scanString()
                    nodes.append(Node(kind: .string, escaped: k.hasEscapes, start: Int32(k.start), end: Int32(k.end), next: Int32(nodes.count + 1)))
                    try builder.scanner.expect(UInt8(ascii: ":"), "':'")
                    try builder.value(depth: depth + 1, into: &nodes)
                }
            case UInt8(ascii: "["):
                try container(.array, close: UInt8(ascii: "]"), depth: depth, into: &nodes) { builder, nodes throws(ScanError) in
                    try builder.value(depth: depth + 1, into: &nodes)
                }
            case UInt8(ascii: "t"):
                let at = scanner.index
                try scanner.scanLiteral("true")
                nodes.append(Node(kind: .true, escaped: false, start: Int32(at), end: Int32(scanner.index), next: Int32(nodes.count + 1)))
            case UInt8(ascii: "f"):
                let at = scanner.index
                try scanner.scanLiteral("false")
                nodes.append(Node(kind: .false, escaped: false, start: Int32(at), end: Int32(scanner.index), next: Int32(nodes.count + 1)))
            case UInt8(ascii: "n"):
                let at = scanner.index
                try scanner.scanLiteral("null")
                nodes.append(Node(kind: .null, escaped: false, start: Int32(at), end: Int32(scanner.index), next: Int32(nodes.count + 1)))
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let r = try scanner.scanNumber()
                nodes.append(Node(kind: .number, escaped: false, start: Int32(r.lowerBound), end: Int32(r.upperBound), next: Int32(nodes.count + 1)))
            default:
                throw scanner.error(.invalidJSON, "unexpected \(scanner.describe(b)), expected a value")
            }
        }

        /// An object or array at `{`/`[`: its node, then `member` for each member or element until
        /// `close`, the separators checked between them.
        mutating func container(_ kind: Kind, close: UInt8, depth: Int, into nodes: inout [Node],
                                _ member: (inout Builder, inout [Node]) throws(ScanError) -> Void) throws(ScanError) {
            try scanner.checkDepth(depth + 1)
            let me = nodes.count
            nodes.append(Node(kind: kind, escaped: false, start: Int32(scanner.index), end: 0, next: 0))
            scanner.index += 1
            scanner.skipWhitespace()
            if scanner.peek() == close {
                scanner.index += 1
            } else {
                let what = kind == .object ? "object" : "array"
                while true {
                    try member(&self, &nodes)
                    scanner.skipWhitespace()
                    guard let c = scanner.peek() else { throw scanner.error(.invalidJSON, "unterminated \(what)") }
                    scanner.index += 1
                    if c == UInt8(ascii: ",") { continue }
                    if c == close { break }
                    scanner.index -= 1
                    throw scanner.error(.invalidJSON, "unexpected \(scanner.describe(c)), expected ',' or '\(Character(Unicode.Scalar(close)))'")
                }
            }
            nodes[me].end = Int32(scanner.index)
            nodes[me].next = Int32(nodes.count)
        }
    }

    // MARK: reading

    @inlinable
    public func kind(_ i: Int) -> Kind { nodes[i].kind }

    /// The index after node `i`'s subtree (its next sibling, if any).
    @inlinable
    public func next(_ i: Int) -> Int { Int(nodes[i].next) }

    /// The value of `key` in object `object` (the last one when repeated); nil when absent or not an object.
    @inlinable
    public func member(_ object: Int, _ key: String) -> Int? {
        guard nodes[object].kind == .object else { return nil }
        var key = key
        return key.withUTF8 { k in
            var found: Int?
            var i = object + 1
            let end = Int(nodes[object].next)
            while i < end {
                let value = i + 1
                if keyEquals(i, k) { found = value }
                i = Int(nodes[value].next)
            }
            return found
        }
    }

    @inlinable
    func keyEquals(_ i: Int, _ k: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = nodes[i]
        if n.escaped { return Array(string(i).utf8).elementsEqual(k) }
        let count = Int(n.end - n.start)
        guard count == k.count else { return false }
        return bytes.withUnsafeBufferPointer { b in
            guard count > 0, let base = b.baseAddress, let kb = k.baseAddress else { return true }
            return memcmpEqual(base + Int(n.start), kb, count)
        }
    }

    /// The members of object `object` as (key node, value node), in document order.
    public func members(_ object: Int) -> [(key: Int, value: Int)] {
        guard nodes[object].kind == .object else { return [] }
        var out: [(key: Int, value: Int)] = []
        var i = object + 1
        let end = Int(nodes[object].next)
        while i < end {
            out.append((i, i + 1))
            i = Int(nodes[i + 1].next)
        }
        return out
    }

    /// Calls `body` with each member's key and value node until it returns true; returns whether it did.
    @inlinable
    public func anyMember(_ object: Int, _ body: (_ key: Int, _ value: Int) -> Bool) -> Bool {
        guard nodes[object].kind == .object else { return false }
        var i = object + 1
        let end = Int(nodes[object].next)
        while i < end {
            if body(i, i + 1) { return true }
            i = Int(nodes[i + 1].next)
        }
        return false
    }

    /// Calls `body` with each element of array `array` until it returns true; returns whether it did.
    @inlinable
    public func anyElement(_ array: Int, _ body: (Int) -> Bool) -> Bool {
        guard nodes[array].kind == .array else { return false }
        var i = array + 1
        let end = Int(nodes[array].next)
        while i < end {
            if body(i) { return true }
            i = Int(nodes[i].next)
        }
        return false
    }

    /// Element `n` of array `array`, if it has one.
    public func element(_ array: Int, _ n: Int) -> Int? {
        guard nodes[array].kind == .array, n >= 0 else { return nil }
        var i = array + 1, k = 0
        let end = Int(nodes[array].next)
        while i < end {
            if k == n { return i }
            k += 1
            i = Int(nodes[i].next)
        }
        return nil
    }

    /// The JSON text of node `i` as it stands in the document (a string with its quotes).
    public func text(_ i: Int) -> ArraySlice<UInt8> {
        let n = nodes[i]
        if n.kind == .string { return bytes[Int(n.start - 1)..<Int(n.end + 1)] }
        return bytes[Int(n.start)..<Int(n.end)]
    }

    /// The decoded text of string node `i` ("" for other kinds).
    public func string(_ i: Int) -> String {
        let n = nodes[i]
        guard n.kind == .string else { return "" }
        return bytes.withUnsafeBufferPointer { b in
            guard let base = b.baseAddress else { return "" }
            let s = JSONScanner(base: base, start: 0, end: b.count, maxDepth: 0)
            return s.decode(.init(start: Int(n.start), end: Int(n.end), hasEscapes: n.escaped))
        }
    }

    /// The text of string node `i`; nil for other kinds.
    @inlinable
    public func stringValue(_ i: Int?) -> String? {
        guard let i, nodes[i].kind == .string else { return nil }
        return string(i)
    }

    /// The value of number node `i`; nil for other kinds.
    public func number(_ i: Int) -> Double? {
        let n = nodes[i]
        guard n.kind == .number else { return nil }
        let raw = bytes[Int(n.start)..<Int(n.end)]
        // Plain integers (codes, counts) without going through text.
        if raw.count <= 15, raw.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            return Double(raw.reduce(0) { $0 * 10 + Int($1 - 0x30) })
        }
        return Double(String(decoding: raw, as: UTF8.self))
    }

    /// The JSON text of node `i`, compact, keys sorted (repeated keys: the last), for showing a
    /// mapping or list as one value.
    public func canonicalJSON(_ i: Int) -> String {
        var out: [UInt8] = []
        appendCanonical(i, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func appendCanonical(_ i: Int, to out: inout [UInt8]) {
        switch nodes[i].kind {
        case .object:
            var latest: [String: Int] = [:]
            for (k, v) in members(i) { latest[string(k)] = v }
            out.append(UInt8(ascii: "{"))
            for (n, key) in latest.keys.sorted().enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: Array(JSONText.quote(key).utf8))
                out.append(UInt8(ascii: ":"))
                if let v = latest[key] { appendCanonical(v, to: &out) }
            }
            out.append(UInt8(ascii: "}"))
        case .array:
            out.append(UInt8(ascii: "["))
            var first = true
            _ = anyElement(i) { e in
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                appendCanonical(e, to: &out)
                return false
            }
            out.append(UInt8(ascii: "]"))
        case .string: out.append(contentsOf: Array(JSONText.quote(string(i)).utf8))
        case .number: out.append(contentsOf: bytes[Int(nodes[i].start)..<Int(nodes[i].end)])
        case .true: out.append(contentsOf: Array("true".utf8))
        case .false: out.append(contentsOf: Array("false".utf8))
        case .null: out.append(contentsOf: Array("null".utf8))
        }
    }
}

@inlinable
func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
    var i = 0
    while i < count {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}
