import AuditChain
import AuditGenerator
import AuditModel
import Foundation
import OpenSSLKit
import Testing

@testable import AuditBlock

/// Generated events with their rows, as a store would seal them.
func generatedEvents(_ n: Int, seed: UInt64 = 3, node: String = "master-1") throws -> [(bytes: [UInt8], row: BlockRow)] {
    var out: [(bytes: [UInt8], row: BlockRow)] = []
    for line in AuditLogGenerator(GeneratorConfiguration(events: n, seed: seed, node: node)) {
        let summary = try line.withUnsafeBufferPointer { (p) throws(ScanError) in try EventScanner.scan(p) }
        out.append((line, BlockRow(node: node, summary: summary)))
    }
    return out
}

@Suite("block format")
struct BlockFormatTests {
    @Test func sealedEventsAndRowsComeBackExactly() throws {
        let events = try generatedEvents(3_000)
        let block = try SealedBlock.seal(cluster: "prod", events: events)
        #expect(block.count == 3_000)
        #expect(block.minTime == events.map(\.row.time).min())
        #expect(block.maxTime == events.map(\.row.time).max())
        #expect(block.rawBytes == events.reduce(0) { $0 + $1.bytes.count })
        let bytes = try BlockReader.events(raw: block.raw, maxBytes: block.rawBytes)
        #expect(bytes == events.map(\.bytes))
        let rows = try BlockReader.rows(columns: block.columns)
        #expect(rows == events.map(\.row))
    }

    @Test func rowsKeepAbsentAndEmptyApartAndOddValues() throws {
        let rows = [
            BlockRow(node: "n1", time: -5, requestReceived: -7, auditID: "a", stage: "ResponseComplete", verb: "get", user: nil,
                     code: -1, sourceIPs: ["10.0.0.1", "::1"]),
            BlockRow(node: "n1", time: Int64.max, auditID: "a", stage: "", verb: "", user: "", groups: ["g", "g"], code: 0),
            BlockRow(node: "n2", time: Int64.min, requestReceived: Int64.max, auditID: "é\u{0}<script>", stage: "x", verb: "list",
                     user: "system:serviceaccount:kube-system:x", groups: ["system:authenticated"], resource: "pods",
                     subresource: "exec", apiGroup: "apps", namespace: "ns", name: String(repeating: "n", count: 70_000),
                     code: 599, userAgent: "kubectl/v1.30"),
        ]
        let encoded = BlockColumns.encode(rows)
        #expect(try BlockColumns.decode(encoded, maxRows: 10) == rows)
        #expect(throws: BlockFormatError.self) { try BlockColumns.decode(encoded, maxRows: 2) }
        #expect(try BlockColumns.decode(BlockColumns.encode([]), maxRows: 0).isEmpty)
    }

    @Test func textIsFoundInTheEventsThatHoldItAndNotAcrossTwo() throws {
        let texts = [#"{"a":"kubectl-edit"}"#, #"{"b":"kubectl-"}"#, #"{"edit":1}"#, "", #"{"c":"x kubectl-edit kubectl-edit"}"#, #"{"d":1}"#]
        let row = BlockRow(node: "n", time: 1, auditID: "a", stage: "ResponseComplete", verb: "get", user: "u")
        let block = try SealedBlock.seal(cluster: "c", events: texts.map { (Array($0.utf8), row) })
        func positions(_ needle: String) throws -> [Int] {
            let found = try BlockReader.positions(raw: block.raw, maxBytes: block.rawBytes, holding: ByteNeedle(Array(needle.utf8)))
            #expect(found.events == texts.count)
            return found.positions
        }
        #expect(try positions("kubectl-edit") == [0, 4])
        #expect(try positions("-\"}{\"edit") == [], "a match spanning two events does not count")
        #expect(try positions("{") == [0, 1, 2, 4, 5])
        #expect(try positions("absent") == [])
        #expect(throws: BlockFormatError.self) { try BlockReader.positions(raw: block.raw, maxBytes: block.rawBytes / 2, holding: ByteNeedle(Array("a".utf8))) }
    }

    @Test func aBlockAlwaysReadsBackEvenWithACodeOutOfRange() throws {
        var row = BlockRow(node: "n", time: 1, auditID: "a", stage: "ResponseComplete", verb: "get", user: "u", code: 5_000_000_000)
        let block = try SealedBlock.seal(cluster: "c", events: [(Array("{}".utf8), row)])
        row.code = nil  // what the decoder takes is Int32: a larger code is kept absent (the event's bytes still hold it)
        #expect(try BlockReader.rows(columns: block.columns) == [row])
        // A dictionary announcing more values than the block has rows is refused before anything is allocated.
        var w = ByteWriter()
        w.varint(1); w.signed(0); w.varint(0); w.varint(0); w.varint(67_000_000)
        #expect(throws: BlockFormatError.self) { try BlockColumns.decode(w.bytes, maxRows: 10) }
        #expect(RollupKey.hour(of: Int64.min) <= 0)
    }

    @Test func postingsListEveryRowOfEachValueAndRoundTrip() throws {
        let events = try generatedEvents(1_000, seed: 9)
        let rows = events.map(\.row)
        let postings = BlockPosting.index(rows)
        for field in BlockField.indexed {
            for (i, row) in rows.enumerated() {
                for value in Set(field.values(of: row)) {
                    let p = postings.first { $0.field == field && $0.value == value }
                    #expect(p?.positions.contains(i) == true, "\(field)=\(value) row \(i)")
                }
            }
            // No position is listed for a value the row does not have.
            for p in postings where p.field == field {
                #expect(p.positions.allSatisfy { field.values(of: rows[$0]).contains(p.value) })
                #expect(try BlockPosting.decodePositions(p.encodedPositions, rowCount: rows.count) == p.positions)
            }
        }
        // Positions that do not increase, or lie outside the block, are refused.
        #expect(throws: BlockFormatError.self) { try BlockPosting.decodePositions([2, 1, 0], rowCount: 10) }
        #expect(throws: BlockFormatError.self) { try BlockPosting.decodePositions([1, 11], rowCount: 10) }
        #expect(throws: BlockFormatError.self) { try BlockPosting.decodePositions([3, 1], rowCount: 10) }
    }

    @Test func rollupCountsEveryEventOnceInItsHour() throws {
        let events = try generatedEvents(2_000, seed: 11)
        let rollup = RollupKey.rollup(events.map(\.row))
        #expect(rollup.reduce(0) { $0 + $1.count } == 2_000)
        #expect(rollup.map(\.key) == rollup.map(\.key).sorted())
        let deletes = events.filter { $0.row.verb == "delete" }.count
        #expect(rollup.filter { $0.key.verb == "delete" }.reduce(0) { $0 + $1.count } == deletes)
        #expect(RollupKey.hour(of: 3_600_000_001) == 3_600_000_000)
        #expect(RollupKey.hour(of: -1) == -3_600_000_000)
        #expect(RollupKey.hour(of: 0) == 0)
    }

    /// Not a benchmark: sizes are deterministic for a seed. The store's target is 150 bytes an
    /// event with everything included; the block's own parts must leave room for the rest.
    @Test func generatedEventsTakeAFractionOfTheirSizeInABlock() throws {
        let events = try generatedEvents(4_000, seed: 5)
        let block = try SealedBlock.seal(cluster: "prod", events: events)
        let perEvent = Double(block.storedBytes) / Double(block.count)
        print("block of \(block.count) generated events: raw \(block.rawBytes / block.count) B/event → "
              + "events \(block.raw.count / block.count) B + columns \(block.columns.count / block.count) B + postings "
              + "\((block.storedBytes - block.raw.count - block.columns.count) / block.count) B = \(Int(perEvent)) B/event")
        #expect(perEvent < 150)
    }

    /// Rows chosen by a projection are made alone, and equal the same rows of a full decode.
    @Test func chosenRowsEqualTheFullDecodesRows() throws {
        let events = try generatedEvents(2_000, seed: 19)
        let block = try SealedBlock.seal(cluster: "c", events: events)
        let all = try BlockReader.rows(columns: block.columns)
        let verb = all[7].verb, namespace = all[7].namespace
        let (positions, rows) = try BlockReader.rows(columns: block.columns, fields: [.verb, .namespace]) { p in
            guard let v = p.id(of: verb, in: .verb), let n = p.id(of: namespace, in: .namespace) else { return [] }
            return (0..<p.count).filter { p.ids[.verb]?[$0] == v && p.ids[.namespace]?[$0] == n }
        }
        #expect(positions == all.indices.filter { all[$0].verb == verb && all[$0].namespace == namespace })
        #expect(rows == positions.map { all[$0] })
        #expect(positions.contains(7))
        // Any positions, in any order, read back as the full decode has them; one past the end is refused.
        let plain = BlockColumns.encode(events.map(\.row))
        #expect(try BlockColumns.decode(plain, maxRows: 2_000, only: [1_999, 0, 1_000]) == [all[1_999], all[0], all[1_000]])
        #expect(throws: BlockFormatError.self) { try BlockColumns.decode(plain, maxRows: 2_000, only: [2_000]) }
    }

    @Test func damagedPartsAreRefusedNeverTrap() throws {
        let events = try generatedEvents(200, seed: 13)
        let block = try SealedBlock.seal(cluster: "c", events: events)
        // The limit is kept: a block that would decompress past it is refused.
        #expect(throws: BlockFormatError.self) { try BlockReader.events(raw: block.raw, maxBytes: block.rawBytes / 2) }
        #expect(throws: BlockFormatError.self) { try BlockReader.events(raw: Array(block.raw.prefix(block.raw.count / 2)), maxBytes: block.rawBytes) }
        #expect(throws: BlockFormatError.self) { try BlockReader.rows(columns: [1, 2, 3]) }
        // Uncompressed column parts flipped at random places: an error or rows, never a crash.
        let plain = BlockColumns.encode(events.map(\.row))
        var rng = SplitMix64(seed: 77)
        for _ in 0..<2_000 {
            var damaged = plain
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let at = Int(rng.next() % UInt64(damaged.count))
                damaged[at] = UInt8(truncatingIfNeeded: rng.next())
            }
            if rng.next() % 4 == 0 { damaged.removeLast(Int(rng.next() % UInt64(damaged.count))) }
            _ = try? BlockColumns.decode(damaged, maxRows: 1_000)
        }
    }

    @Test func theChainSeesTheSameLeavesAsBefore() throws {
        let events = try generatedEvents(50, seed: 17)
        let leaves = BlockChainView.leaves(cluster: "prod", firstID: 101, events: events.map(\.bytes), rows: events.map(\.row))
        let decoded = try #require(ChainFormat.leaves(leaves))
        #expect(decoded.count == 50)
        for (i, leaf) in decoded.enumerated() {
            #expect(leaf.id == 101 + Int64(i))
            #expect(leaf.timestamp == events[i].row.time)
            #expect(leaf.eventHash == ChainFormat.eventHash(cluster: "prod", node: "master-1", digest: SHA256.hash(events[i].bytes)))
        }
    }
}
