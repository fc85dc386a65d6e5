import AuditModel
import Testing
import Zstd

@testable import AuditBlock

/// The raw part cut into frames read alone (format 2), and format-1 parts still read.
@Suite("framed raw part")
struct FramedRawTests {
    /// A format-1 part of the same events: one zstd frame of count, lengths and bytes.
    func formatOnePart(_ events: [[UInt8]]) throws -> [UInt8] {
        var w = ByteWriter()
        w.varint(events.count)
        for e in events { w.varint(e.count) }
        for e in events { w.raw(e) }
        return try Zstd.compress(w.bytes)
    }

    @Test(arguments: [0, 1, 127, 128, 129, 192, 193, 1_000])
    func everySubsetReadsTheSameBytesAsTheWholePart(count: Int) throws {
        let events = try generatedEvents(count, seed: 11)
        let block = try SealedBlock.seal(cluster: "c", events: events)
        #expect(block.raw.first == FramedRaw.marker)
        let bytes = events.map(\.bytes)
        #expect(try BlockReader.events(raw: block.raw, maxBytes: block.rawBytes, maxEvents: count) == bytes)
        // Positions in frame 0, at each frame's edges, in the last frame, and out of range.
        let picks: Set<Int> = [0, 5, 127, 128, 129, 191, 192, 193, 500, 999, count - 1, count, -1]
        let some = try BlockReader.events(raw: block.raw, maxBytes: block.rawBytes, maxEvents: count, only: picks)
        #expect(some.count == count)
        for i in 0..<count { #expect(some[i] == (picks.contains(i) ? bytes[i] : nil)) }
        let none = try BlockReader.events(raw: block.raw, maxBytes: block.rawBytes, maxEvents: count, only: [])
        #expect(none.allSatisfy { $0 == nil })
        // Free text reads every frame.
        let needle = ByteNeedle(Array("\"verb\":\"".utf8))
        let found = try BlockReader.positions(raw: block.raw, maxBytes: block.rawBytes, maxEvents: count, holding: needle)
        #expect(found.events == count && found.positions == Array(0..<count))
    }

    @Test func smallFramesReadEachEventAlone() throws {
        let events = try generatedEvents(50, seed: 4)
        for framing in [RawFraming(headEvents: 1, eventsPerFrame: 1), RawFraming(headEvents: 3, eventsPerFrame: 2), RawFraming(headEvents: 49, eventsPerFrame: 7)] {
            let block = try SealedBlock.seal(cluster: "c", events: events, framing: framing)
            #expect(try BlockReader.events(raw: block.raw, maxBytes: block.rawBytes, maxEvents: 50) == events.map(\.bytes))
            for i in 0..<50 {
                let one = try BlockReader.events(raw: block.raw, maxBytes: block.rawBytes, maxEvents: 50, only: [i])
                #expect(one[i] == events[i].bytes && one.compactMap { $0 }.count == 1)
            }
        }
    }

    @Test func framesCostLittleOverOneFrame() throws {
        let events = try generatedEvents(4_096, seed: 5)
        let framed = try SealedBlock.seal(cluster: "c", events: events).raw.count
        let single = try formatOnePart(events.map(\.bytes)).count
        // Measured on generated events: about 5 % more than one frame; 64-event frames without
        // the shared content cost about 50 % more.
        #expect(Double(framed) < Double(single) * 1.15, "framed \(framed) bytes, one frame \(single)")
    }

    @Test func aFormatOnePartStillReads() throws {
        let bytes = try generatedEvents(300, seed: 2).map(\.bytes)
        let part = try formatOnePart(bytes)
        let total = bytes.reduce(0) { $0 + $1.count }
        #expect(try BlockReader.events(raw: part, maxBytes: total, maxEvents: 300) == bytes)
        let some = try BlockReader.events(raw: part, maxBytes: total, maxEvents: 300, only: [3, 299])
        #expect(some[3] == bytes[3] && some[299] == bytes[299] && some[4] == nil)
    }

    @Test func damagedFramesAreRefusedNeverTrap() throws {
        let events = try generatedEvents(400, seed: 9)
        let block = try SealedBlock.seal(cluster: "c", events: events)
        let raw = block.raw
        func refused(_ part: [UInt8], only: Set<Int>? = nil, maxBytes: Int? = nil) -> Bool {
            do {
                _ = try BlockReader.events(raw: part, maxBytes: maxBytes ?? block.rawBytes, maxEvents: 400, only: only)
                return false
            } catch { return true }
        }
        // Cut anywhere: always refused.
        for cut in stride(from: 1, to: raw.count, by: max(1, raw.count / 97)) {
            #expect(refused(Array(raw[..<cut])), "cut at \(cut)")
        }
        // A byte changed in the last frame: a read of the whole part or of that frame sees it,
        // while an event of frame 0 still reads.
        var flipped = raw
        flipped[raw.count - 3] ^= 0x5A
        #expect(refused(flipped))
        #expect(refused(flipped, only: [399]))
        #expect(!refused(flipped, only: [0]))
        // A wrong frame count, event count per frame or limit.
        var header = raw
        header[2] = header[2] == 1 ? 2 : 1
        #expect(refused(header))
        #expect(refused(raw, maxBytes: block.rawBytes - 1))
        #expect(refused([FramedRaw.marker]))
        #expect(refused([FramedRaw.marker, 0, 1, 1, 0]))
    }
}
