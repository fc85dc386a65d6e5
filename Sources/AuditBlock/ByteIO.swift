/// Why a block could not be read: a bounded code and the byte offset in the part being read.
public struct BlockFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The bytes end before what they announce.
        case truncated
        /// A value is out of its range (a count, an id, a length, a version).
        case invalid
        /// A compressed part does not decompress, or would be larger than allowed.
        case compression
    }
    public var code: Code
    /// Which part: "header", "raw", "columns", "postings", "rollups".
    public var part: String
    public var offset: Int
    public var message: String
    public init(_ code: Code, part: String, offset: Int, _ message: String) {
        self.code = code
        self.part = part
        self.offset = offset
        self.message = message
    }
    public var description: String { "block \(part) \(code.rawValue) at byte \(offset): \(message)" }
}

/// Appends the block format's primitives: LEB128 varints, zigzag, length-prefixed strings.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    mutating func byte(_ b: UInt8) { bytes.append(b) }

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func varint(_ value: Int) { varint(UInt64(max(0, value))) }

    mutating func signed(_ value: Int64) { varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            varint(utf8.count)
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func raw(_ b: some Collection<UInt8>) { bytes.append(contentsOf: b) }
}

/// Reads what `ByteWriter` wrote, never past the end, with errors that say where.
struct ByteReader {
    let bytes: [UInt8]
    let part: String
    private(set) var offset: Int

    init(_ bytes: [UInt8], part: String, offset: Int = 0) {
        self.bytes = bytes
        self.part = part
        self.offset = offset
    }

    var atEnd: Bool { offset >= bytes.count }

    func error(_ code: BlockFormatError.Code, _ message: String) -> BlockFormatError {
        BlockFormatError(code, part: part, offset: offset, message)
    }

    mutating func byte() throws(BlockFormatError) -> UInt8 {
        guard offset < bytes.count else { throw error(.truncated, "expected a byte") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func varint() throws(BlockFormatError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.count else { throw error(.truncated, "a number runs past the end") }
            let b = bytes[offset]
            offset += 1
            if shift == 63 && b > 1 { throw error(.invalid, "a number is larger than 64 bits") }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
            if shift > 63 { throw error(.invalid, "a number is larger than 64 bits") }
        }
    }

    /// A varint that must be at most `limit` (counts, lengths, ids).
    mutating func count(atMost limit: Int, _ what: @autoclosure () -> String) throws(BlockFormatError) -> Int {
        let start = offset
        let v = try varint()
        guard v <= UInt64(max(0, limit)) else {
            throw BlockFormatError(.invalid, part: part, offset: start, "\(what()) \(v) is above \(limit)")
        }
        return Int(v)
    }

    mutating func signed() throws(BlockFormatError) -> Int64 {
        let v = try varint()
        return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
    }

    mutating func take(_ n: Int) throws(BlockFormatError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - offset else { throw error(.truncated, "\(n) bytes announced, \(bytes.count - offset) left") }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }

    mutating func string(maxBytes: Int = 1 << 20) throws(BlockFormatError) -> String {
        let n = try count(atMost: maxBytes, "a string's length")
        let slice = try take(n)
        guard let s = String(validating: slice, as: UTF8.self) else {
            throw BlockFormatError(.invalid, part: part, offset: offset - n, "a string is not UTF-8")
        }
        return s
    }
}
