import AuditBlock

/// The store's block format: column parts, posting lists and raw parts a store reads back.
///
/// Properties: any column part, posting or raw part is read or refused with a `BlockFormatError`,
/// never a trap; column rows that read encode to a part that reads back to the same rows; rows and
/// events built from the input seal into a block whose parts read back exactly, with postings that
/// list each row under each of its values.
enum BlockTarget {
    static let name = "block"

    static var target: FuzzTarget {
        var t = checks
        t.generatedSeeds = {
            var w: [[UInt8]] = []
            for seed in 0..<4 {
                let rows = (0..<(seed * 3 + 1)).map { i in
                    BlockRow(node: "n\(i % 2)", time: Int64(i * 1000 + seed), requestReceived: i % 3 == 0 ? nil : Int64(i),
                             auditID: "id-\(i / 2)", stage: i % 2 == 0 ? "RequestReceived" : "ResponseComplete", verb: "get",
                             user: i % 4 == 0 ? nil : "u\(i % 3)", groups: i % 2 == 0 ? ["a", "b"] : [], resource: "pods",
                             namespace: "ns\(i % 2)", code: i % 5 == 0 ? nil : 200 + i)
                }
                w.append(BlockColumns.encode(rows))
            }
            return w
        }
        return t
    }

    static func row(_ input: inout FuzzInput) -> BlockRow {
        func pick(_ values: [String]) -> String { values[input.int(values.count)] }
        return BlockRow(
            node: pick(["m1", "m2", ""]), time: Int64(input.int(1 << 16)) - 30_000,
            requestReceived: input.bool() ? Int64(input.int(1 << 16)) : nil,
            auditID: input.string(max: 8), stage: pick(["RequestReceived", "ResponseComplete", ""]),
            verb: pick(["get", "list", "delete", ""]), user: input.bool() ? input.string(max: 6) : nil,
            groups: (0..<input.int(3)).map { _ in input.string(max: 4) },
            resource: pick(["pods", "secrets", ""]), subresource: input.bool() ? "exec" : "",
            apiGroup: input.bool() ? "apps" : "", namespace: input.string(max: 3), name: input.string(max: 5),
            code: input.bool() ? input.int(700) - 50 : nil,
            sourceIPs: (0..<input.int(3)).map { _ in input.string(max: 4) }, userAgent: input.string(max: 4))
    }

    static let checks = FuzzTarget(name: name, summary: "store blocks: column parts, postings, raw parts, seal and read back", maxLength: 4096) { data throws(PropertyViolation) in
        // As an uncompressed column part.
        if case .success(let rows) = attempt({ () throws(BlockFormatError) in try BlockColumns.decode(data, maxRows: 4096) }) {
            let again = attempt { () throws(BlockFormatError) in try BlockColumns.decode(BlockColumns.encode(rows), maxRows: 4096) }
            try require((try? again.get()) == rows, name, "column rows that read do not read back after encoding")
            // A projection of a part that reads agrees with its rows.
            let p = attempt { () throws(BlockFormatError) in try BlockColumns.project(data, maxRows: 4096, fields: [.user, .verb, .node]) }
            if case .success(let p) = p {
                try require(p.count == rows.count && p.times == rows.map(\.time) && p.codes == rows.map(\.code), name, "a projection's times or codes differ from the rows'")
                for (i, r) in rows.enumerated() {
                    let id = Int(p.ids[.verb]?[i] ?? 0)
                    let verb = id == 0 ? "" : (p.values[.verb]?[id - 1] ?? "?")
                    try require(verb == r.verb, name, "a projection's verb differs from the row's")
                }
            } else {
                try require(false, name, "a column part whose rows read cannot be projected")
            }
        } else {
            // Whatever does not read, a projection refuses or reads: never a trap.
            _ = attempt { () throws(BlockFormatError) in try BlockColumns.project(data, maxRows: 4096, fields: [.user, .name]) }
        }
        // As a posting list and as a compressed raw part.
        if case .success(let positions) = attempt({ () throws(BlockFormatError) in try BlockPosting.decodePositions(data, rowCount: 64) }) {
            try require(zip(positions, positions.dropFirst()).allSatisfy { $0 < $1 } && (positions.last ?? 0) < 64, name, "positions read out of order or range")
        }
        _ = attempt { () throws(BlockFormatError) in try BlockReader.events(raw: data, maxBytes: 1 << 16) }
        _ = attempt { () throws(BlockFormatError) in try BlockReader.events(raw: data, maxBytes: 1 << 16, only: [0, 1, 7, 40]) }
        _ = attempt { () throws(BlockFormatError) in try BlockReader.rows(columns: data, maxBytes: 1 << 16) }

        // As a recipe: rows and event bytes sealed into a block that reads back exactly.
        var input = FuzzInput(data)
        var events: [(bytes: [UInt8], row: BlockRow)] = []
        for _ in 0..<input.int(40) { events.append((input.bytes(max: 64), row(&input))) }
        // Small frames, so that a few events make several.
        let framing = RawFraming(headEvents: 1 + input.int(4), eventsPerFrame: 1 + input.int(6))
        guard let block = try? SealedBlock.seal(cluster: "c", events: events, level: 1, framing: framing) else {
            throw PropertyViolation(target: name, property: "sealing failed")
        }
        let bytes = attempt { () throws(BlockFormatError) in try BlockReader.events(raw: block.raw, maxBytes: block.rawBytes) }
        try require((try? bytes.get()) == events.map(\.bytes), name, "sealed events do not read back exactly: \(bytes)")
        let pick = Set((0..<input.int(4)).map { _ in input.int(max(1, events.count)) })
        let some = attempt { () throws(BlockFormatError) in try BlockReader.events(raw: block.raw, maxBytes: block.rawBytes, only: pick) }
        try require((try? some.get()) == events.indices.map { pick.contains($0) ? events[$0].bytes : nil }, name,
                    "events read alone differ from the sealed ones")
        let rows = attempt { () throws(BlockFormatError) in try BlockReader.rows(columns: block.columns) }
        try require((try? rows.get()) == events.map(\.row), name, "sealed rows do not read back exactly")
        for p in block.postings {
            try require(p.positions.allSatisfy { p.field.values(of: events[$0].row).contains(p.value) }, name, "a posting lists a row without its value")
        }
        let listed = block.postings.reduce(0) { $0 + $1.positions.count }
        let expected = events.reduce(0) { sum, e in sum + BlockField.indexed.reduce(0) { $0 + Set($1.values(of: e.row)).count } }
        try require(listed == expected, name, "postings list \(listed) row values, the rows hold \(expected)")
    }
}
