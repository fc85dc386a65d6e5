/// Some columns of a block, as dictionary ids: what counting over a block needs, without making a
/// row (and its strings) per event. Columns not asked for are stepped over, their strings unread.
public struct BlockProjection: Sendable {
    public var count: Int
    public var times: [Int64]
    /// `responseStatus.code` per row (nil: none).
    public var codes: [Int?]
    /// Per one-value string field asked for: its distinct values (id k is `values[k - 1]`)…
    public var values: [BlockField: [String]]
    /// …and each row's id (0: none).
    public var ids: [BlockField: [Int32]]

    /// The id of `value` in `field`'s column, or nil when no row of the block holds it.
    public func id(of value: String, in field: BlockField) -> Int32? {
        guard let list = values[field], let i = list.firstIndex(of: value) else { return nil }
        return Int32(i + 1)
    }
}

extension BlockColumns {
    /// The times, codes and the given one-value string columns of an uncompressed column part.
    public static func project(_ bytes: [UInt8], maxRows: Int, fields: Set<BlockField>) throws(BlockFormatError) -> BlockProjection {
        var r = ByteReader(bytes, part: "columns")
        let n = try r.count(atMost: maxRows, "the row count")
        guard n <= bytes.count else { throw r.error(.truncated, "\(n) rows announced in \(bytes.count) bytes") }
        var p = BlockProjection(count: n, times: [], codes: [], values: [:], ids: [:])
        p.times.reserveCapacity(n)
        var previous: Int64 = 0
        for i in 0..<n {
            let v = try r.signed()
            previous = i == 0 ? v : previous &+ v
            p.times.append(previous)
        }
        for _ in 0..<n { _ = try r.varint() }
        p.codes.reserveCapacity(n)
        for _ in 0..<n { p.codes.append(try code(&r)) }
        for field in singleFields {
            guard !fields.isDisjoint(with: [field]) else {
                // Stepped over: the dictionary's strings by their lengths, then the ids.
                let size = try r.count(atMost: n, "a dictionary's size")
                for _ in 0..<size { _ = try r.take(try r.count(atMost: 1 << 20, "a string's length")) }
                for _ in 0..<n { _ = try r.count(atMost: size, "a \(field) id") }
                continue
            }
            let values = try dictionary(&r, limit: n)
            var ids: [Int32] = []
            ids.reserveCapacity(n)
            for _ in 0..<n { ids.append(Int32(try r.count(atMost: values.count, "a \(field) id"))) }
            p.values[field] = values
            p.ids[field] = ids
        }
        // The list columns (groups, source IPs) are not projected; what follows them is not read.
        return p
    }
}

extension BlockReader {
    /// Some columns of a `columns` part (`BlockColumns.project`).
    public static func projection(columns: [UInt8], fields: Set<BlockField>, maxBytes: Int = 64 << 20,
                                  maxRows: Int = SealedBlock.maxEvents) throws(BlockFormatError) -> BlockProjection {
        let payload: [UInt8]
        do {
            payload = try Zstd.decompress(columns, limit: min(max(0, maxBytes), 1 << 40))
        } catch {
            throw BlockFormatError(.compression, part: "columns", offset: 0, error.description)
        }
        return try BlockColumns.project(payload, maxRows: maxRows, fields: fields)
    }

    /// A projection of `fields` and then only the rows at the positions `choose` picks from it, from
    /// one decompression of the column part (rows in position order).
    public static func rows(columns: [UInt8], fields: Set<BlockField>, maxBytes: Int = 64 << 20, maxRows: Int = SealedBlock.maxEvents,
                            choose: (BlockProjection) -> [Int]) throws(BlockFormatError) -> (positions: [Int], rows: [BlockRow]) {
        let payload: [UInt8]
        do {
            payload = try Zstd.decompress(columns, limit: min(max(0, maxBytes), 1 << 40))
        } catch {
            throw BlockFormatError(.compression, part: "columns", offset: 0, error.description)
        }
        let projection = try BlockColumns.project(payload, maxRows: maxRows, fields: fields)
        let positions = choose(projection)
        if positions.isEmpty { return ([], []) }
        return (positions, try BlockColumns.decode(payload, maxRows: maxRows, only: positions))
    }
}

import Zstd
