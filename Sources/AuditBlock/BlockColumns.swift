/// The column part of a block: every row's search fields, each field as its own column so that it
/// compresses well (deltas for times, a dictionary of distinct values and small ids for strings).
///
/// Layout, before compression (all numbers LEB128 varints, signed ones zigzag):
/// count; times (first, then deltas); requestReceived (0 absent, else zigzag(value − time) + 1);
/// code (0 absent, else zigzag(code) + 1); then each string column in `BlockColumns.singleFields`
/// order: dictionary size, the values (length, UTF-8), one id a row (0 absent or empty, k the k-th
/// value); then groups and source IPs: dictionary, and per row a count and that many ids.
public enum BlockColumns {
    /// The one-value string columns, in the order the format writes them.
    static let singleFields: [BlockField] = [.node, .auditID, .stage, .verb, .user, .resource, .subresource, .apiGroup, .namespace, .name, .userAgent]
    /// The list columns, in the order the format writes them.
    static let listFields: [BlockField] = [.groups, .sourceIP]
    /// Most values a list field holds in one row.
    public static let maxListValues = 4096

    @inline(__always)
    static func single(_ field: BlockField, _ row: borrowing BlockRow) -> String? {
        switch field {
        case .node: row.node
        case .auditID: row.auditID
        case .stage: row.stage
        case .verb: row.verb
        case .user: row.user
        case .resource: row.resource
        case .subresource: row.subresource
        case .apiGroup: row.apiGroup
        case .namespace: row.namespace
        case .name: row.name
        case .userAgent: row.userAgent
        default: nil
        }
    }

    static func set(_ field: BlockField, _ value: String?, _ row: inout BlockRow) {
        switch field {
        case .node: row.node = value ?? ""
        case .auditID: row.auditID = value ?? ""
        case .stage: row.stage = value ?? ""
        case .verb: row.verb = value ?? ""
        case .user: row.user = value
        case .resource: row.resource = value ?? ""
        case .subresource: row.subresource = value ?? ""
        case .apiGroup: row.apiGroup = value ?? ""
        case .namespace: row.namespace = value ?? ""
        case .name: row.name = value ?? ""
        case .userAgent: row.userAgent = value ?? ""
        default: break
        }
    }

    /// Builds a dictionary in order of first appearance.
    struct Dictionary {
        var ids: [String: UInt64] = [:]
        var values: [String] = []
        mutating func id(_ s: String) -> UInt64 {
            if let id = ids[s] { return id }
            values.append(s)
            let id = UInt64(values.count)
            ids[s] = id
            return id
        }
    }

    /// The columns of `rows`, uncompressed.
    public static func encode(_ rows: [BlockRow]) -> [UInt8] {
        var w = ByteWriter(capacity: rows.count * 24 + 64)
        w.varint(rows.count)
        var previous: Int64 = 0
        for i in rows.indices {
            let time = rows[i].time
            w.signed(i == 0 ? time : time &- previous)
            previous = time
        }
        for i in rows.indices {
            if let rr = rows[i].requestReceived {
                let delta = rr &- rows[i].time
                w.varint(UInt64(bitPattern: (delta << 1) ^ (delta >> 63)) &+ 1)
            } else { w.varint(0) }
        }
        for i in rows.indices {
            // A code outside what the decoder takes (Int32) is written as absent, so a block always reads back.
            if let code = rows[i].code, code >= Int(Int32.min), code <= Int(Int32.max) {
                let c = Int64(code)
                w.varint(UInt64(bitPattern: (c << 1) ^ (c >> 63)) &+ 1)
            } else { w.varint(0) }
        }
        // Rows are read in place (`rows[i].field`): a copy of a whole row per field would retain
        // and release every string it holds.
        for field in singleFields {
            var dict = Dictionary()
            var ids: [UInt64] = []
            ids.reserveCapacity(rows.count)
            for i in rows.indices {
                let value = single(field, rows[i])
                if let value, !value.isEmpty || field == .user { ids.append(dict.id(value)) } else { ids.append(0) }
            }
            w.varint(dict.values.count)
            for v in dict.values { w.string(v) }
            for id in ids { w.varint(id) }
        }
        for field in listFields {
            var dict = Dictionary()
            var lists: [[UInt64]] = []
            lists.reserveCapacity(rows.count)
            for i in rows.indices {
                let values = field == .groups ? rows[i].groups : rows[i].sourceIPs
                lists.append(values.prefix(maxListValues).map { dict.id($0) })
            }
            w.varint(dict.values.count)
            for v in dict.values { w.string(v) }
            for list in lists {
                w.varint(list.count)
                for id in list { w.varint(id) }
            }
        }
        return w.bytes
    }

    /// Only the order timestamps of an uncompressed column part (the first column), for counts
    /// over time that need nothing else.
    public static func decodeTimes(_ bytes: [UInt8], maxRows: Int) throws(BlockFormatError) -> [Int64] {
        var r = ByteReader(bytes, part: "columns")
        let n = try r.count(atMost: maxRows, "the row count")
        guard n <= bytes.count else { throw r.error(.truncated, "\(n) rows announced in \(bytes.count) bytes") }
        var times: [Int64] = []
        times.reserveCapacity(n)
        var previous: Int64 = 0
        for i in 0..<n {
            let v = try r.signed()
            previous = i == 0 ? v : previous &+ v
            times.append(previous)
        }
        return times
    }

    /// The rows of an uncompressed column part; at most `maxRows` rows.
    public static func decode(_ bytes: [UInt8], maxRows: Int) throws(BlockFormatError) -> [BlockRow] {
        var r = ByteReader(bytes, part: "columns")
        let n = try r.count(atMost: maxRows, "the row count")
        // Every row takes at least one byte in each column: a count the bytes cannot hold is refused
        // before anything is allocated for it.
        guard n <= bytes.count else { throw r.error(.truncated, "\(n) rows announced in \(bytes.count) bytes") }
        var rows = [BlockRow](repeating: BlockRow(node: "", time: 0, auditID: "", stage: "", verb: "", user: nil), count: n)
        var previous: Int64 = 0
        for i in 0..<n {
            let v = try r.signed()
            previous = i == 0 ? v : previous &+ v
            rows[i].time = previous
        }
        for i in 0..<n {
            let v = try r.varint()
            if v > 0 {
                let z = v &- 1
                rows[i].requestReceived = rows[i].time &+ (Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1))
            }
        }
        for i in 0..<n { rows[i].code = try code(&r) }
        for field in singleFields {
            let values = try dictionary(&r, limit: n)
            for i in 0..<n {
                let id = try r.count(atMost: values.count, "a \(field) id")
                set(field, id == 0 ? nil : values[id - 1], &rows[i])
            }
        }
        for field in listFields {
            let values = try dictionary(&r, limit: min(bytes.count, n * maxListValues))
            for i in 0..<n {
                let k = try r.count(atMost: maxListValues, "a \(field) count")
                var list: [String] = []
                list.reserveCapacity(k)
                for _ in 0..<k {
                    let id = try r.count(atMost: values.count, "a \(field) id")
                    guard id > 0 else { throw r.error(.invalid, "a \(field) id is 0") }
                    list.append(values[id - 1])
                }
                if field == .groups { rows[i].groups = list } else { rows[i].sourceIPs = list }
            }
        }
        guard r.atEnd else { throw r.error(.invalid, "\(bytes.count - r.offset) bytes after the last column") }
        return rows
    }

    /// Only the rows at `positions` (in that order) of an uncompressed column part. The other rows
    /// are stepped over, and a dictionary's strings are made only for the ids those rows use: a
    /// block of thousands of rows costs little when a query wants a few of them.
    public static func decode(_ bytes: [UInt8], maxRows: Int, only positions: [Int]) throws(BlockFormatError) -> [BlockRow] {
        var r = ByteReader(bytes, part: "columns")
        let n = try r.count(atMost: maxRows, "the row count")
        guard n <= bytes.count else { throw r.error(.truncated, "\(n) rows announced in \(bytes.count) bytes") }
        guard positions.allSatisfy({ $0 >= 0 && $0 < n }) else { throw r.error(.invalid, "a position asked for is not below the row count \(n)") }
        var slot = [Int](repeating: -1, count: n)  // row → index in `positions`
        for (k, p) in positions.enumerated() { slot[p] = k }
        var rows = [BlockRow](repeating: BlockRow(node: "", time: 0, auditID: "", stage: "", verb: "", user: nil), count: positions.count)
        var times = [Int64](repeating: 0, count: positions.count)
        var previous: Int64 = 0
        for i in 0..<n {
            let v = try r.signed()
            previous = i == 0 ? v : previous &+ v
            if slot[i] >= 0 { times[slot[i]] = previous }
        }
        for k in rows.indices { rows[k].time = times[k] }
        for i in 0..<n {
            let v = try r.varint()
            if v > 0, slot[i] >= 0 {
                let z = v &- 1
                let k = slot[i]
                rows[k].requestReceived = rows[k].time &+ (Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1))
            }
        }
        for i in 0..<n {
            let c = try code(&r)
            if slot[i] >= 0 { rows[slot[i]].code = c }
        }
        for field in singleFields {
            var values = try LazyDictionary(&r, limit: n)
            for i in 0..<n {
                let id = try r.count(atMost: values.count, "a \(field) id")
                if slot[i] >= 0 { set(field, id == 0 ? nil : try values.value(id, in: r), &rows[slot[i]]) }
            }
        }
        for field in listFields {
            var values = try LazyDictionary(&r, limit: min(bytes.count, n * maxListValues))
            for i in 0..<n {
                let k = try r.count(atMost: maxListValues, "a \(field) count")
                var list: [String] = []
                for _ in 0..<k {
                    let id = try r.count(atMost: values.count, "a \(field) id")
                    guard id > 0 else { throw r.error(.invalid, "a \(field) id is 0") }
                    if slot[i] >= 0 { list.append(try values.value(id, in: r)) }
                }
                if slot[i] >= 0 { if field == .groups { rows[slot[i]].groups = list } else { rows[slot[i]].sourceIPs = list } }
            }
        }
        guard r.atEnd else { throw r.error(.invalid, "\(bytes.count - r.offset) bytes after the last column") }
        return rows
    }

    /// A dictionary whose strings are read where they lie, made into `String`s only when used.
    struct LazyDictionary {
        var ranges: [Range<Int>] = []
        var made: [Int: String] = [:]
        var count: Int { ranges.count }

        init(_ r: inout ByteReader, limit: Int) throws(BlockFormatError) {
            let count = try r.count(atMost: limit, "a dictionary's size")
            ranges.reserveCapacity(min(count, 4096))
            for _ in 0..<count {
                let length = try r.count(atMost: 1 << 20, "a string's length")
                let start = r.offset
                _ = try r.take(length)
                ranges.append(start..<(start + length))
            }
        }

        /// The value of id `id` (1-based), checked to be UTF-8 when first made.
        mutating func value(_ id: Int, in r: ByteReader) throws(BlockFormatError) -> String {
            if let s = made[id] { return s }
            let range = ranges[id - 1]
            guard let s = String(validating: r.bytes[range], as: UTF8.self) else {
                throw BlockFormatError(.invalid, part: "columns", offset: range.lowerBound, "a string is not UTF-8")
            }
            made[id] = s
            return s
        }
    }

    /// One row's response code of the code column (0 absent, else zigzag(code) + 1).
    static func code(_ r: inout ByteReader) throws(BlockFormatError) -> Int? {
        let v = try r.varint()
        guard v > 0 else { return nil }
        let z = v &- 1
        let c = Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1)
        guard c >= Int64(Int32.min), c <= Int64(Int32.max) else { throw r.error(.invalid, "a response code is out of range") }
        return Int(c)
    }

    static func dictionary(_ r: inout ByteReader, limit: Int) throws(BlockFormatError) -> [String] {
        let count = try r.count(atMost: limit, "a dictionary's size")
        var values: [String] = []
        values.reserveCapacity(min(count, 4096))
        for _ in 0..<count { values.append(try r.string()) }
        return values
    }
}
