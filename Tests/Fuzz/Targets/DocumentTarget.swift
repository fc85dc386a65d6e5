import AuditModel
import Foundation

/// The parsed JSON document (`JSONDocument`) the alert engine reads events through.
///
/// Properties, for any input:
/// - it accepts exactly what Foundation's `JSONSerialization` accepts (apart from what RFC 8259
///   refuses and Foundation allows: a trailing comma; and numbers too large for a Double, which
///   Foundation refuses);
/// - what it accepts reads as the same tree: kinds, strings, numbers, members (the last of a
///   repeated key), elements in order;
/// - its canonical text of the root parses again into the same tree.
enum DocumentTarget {
    static let name = "document"
    static var target: FuzzTarget {
        var t = FuzzTarget(name: name, summary: "JSON document the alert engine reads (JSONDocument)", maxLength: 8192) { data throws(PropertyViolation) in
            try check(data)
        }
        t.generatedSeeds = {
            [#"{"a":[1,-2.5e3,true,false,null,"x\u00e9\ud83d\ude00"],"b":{"c":"\"\\\/"},"a":0}"#,
             #"[[],{},"",0,{"k.with.dots":{"x":["y"]}}]"#, " 17 ", #""s""#].map { Array($0.utf8) }
        }
        return t
    }

    static func check(_ data: [UInt8]) throws(PropertyViolation) {
        // Foundation guesses UTF-16/32 from NUL bytes and byte-order marks; the document reads UTF-8 only.
        if data.contains(0) || data.starts(with: [0xEF, 0xBB, 0xBF]) || data.starts(with: [0xFE, 0xFF]) || data.starts(with: [0xFF, 0xFE]) { return }
        let ours = attempt { () throws(ScanError) in try JSONDocument(bytes: data) }
        let theirs = try? JSONSerialization.jsonObject(with: Data(data), options: [.fragmentsAllowed])
        switch ours {
        case .failure(let e):
            if e.code == .tooDeep { return }
            try require(theirs == nil || ScannerTarget.hasTrailingComma(data), name,
                        "refused what JSONSerialization reads: \(e)")
        case .success(let doc):
            guard let theirs else {
                try require(hasNonFinite(doc, doc.root), name, "accepted what JSONSerialization refuses")
                return
            }
            try require(same(doc, doc.root, theirs), name, "read another tree than JSONSerialization")
            let again = attempt { () throws(ScanError) in try JSONDocument(bytes: Array(doc.canonicalJSON(doc.root).utf8)) }
            guard case .success(let reread) = again else {
                try require(false, name, "its canonical text does not parse")
                return
            }
            try require(same(reread, reread.root, theirs), name, "its canonical text reads as another tree")
        }
    }

    static func hasNonFinite(_ doc: JSONDocument, _ i: Int) -> Bool {
        switch doc.kind(i) {
        case .number: return !(doc.number(i)?.isFinite ?? false)
        case .array: return doc.anyElement(i) { hasNonFinite(doc, $0) }
        case .object: return doc.anyMember(i) { _, v in hasNonFinite(doc, v) }
        default: return false
        }
    }

    static func same(_ doc: JSONDocument, _ i: Int, _ value: Any) -> Bool {
        switch doc.kind(i) {
        case .string: return (value as? String) == doc.string(i)
        case .null: return value is NSNull
        case .true, .false:
            guard let n = value as? NSNumber, n.objCType.pointee == 0x63 else { return false }
            return n.boolValue == (doc.kind(i) == .true)
        case .number:
            guard let n = value as? NSNumber, n.objCType.pointee != 0x63, let d = doc.number(i) else { return false }
            let e = n.doubleValue
            return d == e || abs(d - e) <= 1e-12 * max(abs(d), abs(e))
        case .array:
            guard let a = value as? [Any] else { return false }
            var k = 0, ok = true
            _ = doc.anyElement(i) { e in
                ok = k < a.count && same(doc, e, a[k])
                k += 1
                return !ok
            }
            return ok && k == a.count
        case .object:
            guard let d = value as? [String: Any] else { return false }
            var keys = Set<String>(), ok = true
            _ = doc.anyMember(i) { k, _ in
                let key = doc.string(k)
                keys.insert(key)
                guard let mine = doc.member(i, key), let theirs = d[key] else { ok = false; return true }
                ok = same(doc, mine, theirs)
                return !ok
            }
            return ok && keys.count == d.count
        }
    }
}
