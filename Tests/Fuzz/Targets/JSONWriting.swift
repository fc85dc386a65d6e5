/// Writes JSON text with the variations a fuzz target wants to vary: each
/// character raw or escaped (short escapes, `\u` with surrogate pairs).
struct JSONWriter {
    var out: [UInt8] = []

    mutating func raw(_ s: String) { out.append(contentsOf: Array(s.utf8)) }

    /// `value` as a JSON string; `input` chooses how each scalar is written.
    mutating func string(_ value: String, _ input: inout FuzzInput) {
        out.append(UInt8(ascii: "\""))
        for scalar in value.unicodeScalars {
            let mustEscape = scalar.value < 0x20 || scalar == "\"" || scalar == "\\"
            let choice = input.byte() % 4
            if !mustEscape && choice < 2 {
                out.append(contentsOf: Array(String(scalar).utf8))
            } else if choice == 2, let short = JSONWriter.shortEscape(scalar) {
                out.append(contentsOf: Array(short.utf8))
            } else {
                JSONWriter.unicodeEscape(scalar, into: &out, upper: input.bool())
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func shortEscape(_ s: Unicode.Scalar) -> String? {
        switch s {
        case "\"": return "\\\""
        case "\\": return "\\\\"
        case "/": return "\\/"
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        case "\u{08}": return "\\b"
        case "\u{0C}": return "\\f"
        default: return nil
        }
    }

    static func unicodeEscape(_ s: Unicode.Scalar, into out: inout [UInt8], upper: Bool) {
        func unit(_ u: UInt32) {
            let hex = Array((upper ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
            out.append(contentsOf: Array("\\u".utf8))
            for shift in stride(from: 12, through: 0, by: -4) { out.append(hex[Int((u >> UInt32(shift)) & 0xF)]) }
        }
        if s.value > 0xFFFF {
            let v = s.value - 0x10000
            unit(0xD800 + (v >> 10))
            unit(0xDC00 + (v & 0x3FF))
        } else {
            unit(s.value)
        }
    }

    /// Whitespace JSON allows between tokens, sometimes none.
    mutating func space(_ input: inout FuzzInput) {
        for _ in 0..<Int(input.byte() % 4 == 0 ? input.byte() % 3 : 0) {
            out.append([0x20, 0x09, 0x0A, 0x0D][Int(input.byte() % 4)])
        }
    }
}

/// A JSON value built by a target, written member by member in an order the input chooses.
indirect enum JSONValue {
    case string(String)
    case number(String)
    case literal(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    func write(_ w: inout JSONWriter, _ input: inout FuzzInput, reorder: Bool) {
        switch self {
        case .string(let s): w.string(s, &input)
        case .number(let n), .literal(let n): w.raw(n)
        case .array(let items):
            w.raw("[")
            for (i, item) in items.enumerated() {
                if i > 0 { w.raw(",") }
                w.space(&input)
                item.write(&w, &input, reorder: reorder)
                w.space(&input)
            }
            w.raw("]")
        case .object(let members):
            w.raw("{")
            let ordered = reorder ? members.reversed() : members
            for (i, (key, value)) in ordered.enumerated() {
                if i > 0 { w.raw(",") }
                w.space(&input)
                w.string(key, &input)
                w.space(&input)
                w.raw(":")
                w.space(&input)
                value.write(&w, &input, reorder: reorder)
                w.space(&input)
            }
            w.raw("}")
        }
    }
}
