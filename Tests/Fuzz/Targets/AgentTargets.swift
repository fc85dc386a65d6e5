import AuditAgent
import AuditModel
import Foundation

/// The agent's checkpoint file reader (`CheckpointFile.decode`).
///
/// Properties: any content either decodes to records with non-negative offsets or is refused with a
/// reason; what decodes encodes and decodes again to the same records; records built from the
/// input survive encode/decode unchanged.
enum CheckpointTarget {
    static let name = "checkpoint"
    static var target: FuzzTarget {
        var t = checks
        t.generatedSeeds = {
            let text = Data(#"[{"path":"/var/log/kubernetes/audit/audit.log","identity":{"device":2049,"inode":131,"fingerprint":"af63bd4c8601b7df","fingerprintLength":1024},"offset":1048576,"line":812},{"path":"/var/log/kubernetes/audit/audit-2026-11-23T10-00-00.000.log.gz","identity":{"device":2049,"inode":99,"fingerprint":"0000000000000001","fingerprintLength":17},"offset":5,"line":1,"complete":true}]"#.utf8)
            guard let records = try? JSONDecoder().decode([CheckpointRecord].self, from: text),
                  let file = try? CheckpointFile.encode(records) else { return [] }
            return [[UInt8](file)]
        }
        return t
    }
    static let checks = FuzzTarget(name: name, summary: "agent checkpoint file reader", maxLength: 4096) { data throws(PropertyViolation) in
        switch CheckpointFile.decode(Data(data)) {
        case .success(let records):
            for r in records { try require(r.offset >= 0 && r.line >= 0, name, "decoded a negative offset or line") }
            guard let again = try? CheckpointFile.encode(records) else {
                try require(false, name, "records that decoded cannot be encoded")
                return
            }
            try require((try? CheckpointFile.decode(again).get()) == records, name, "decode(encode(records)) differs")
        case .failure(let e):
            try require(!e.message.isEmpty, name, "a refusal without a reason")
        }
        // Records built from the input.
        var input = FuzzInput(data)
        var json: [[String: Any]] = []
        for _ in 0..<input.int(5) {
            var record: [String: Any] = [
                "path": input.string(max: 40),
                "identity": ["device": input.int(1 << 16), "inode": input.int(1 << 16), "fingerprint": input.string(max: 16), "fingerprintLength": input.int(1025)],
                "offset": input.int(1 << 16) * 977, "line": input.int(1 << 16),
            ]
            if input.bool() { record["complete"] = input.bool() }
            if input.bool() { record["beforeTruncation"] = input.bool() }
            json.append(record)
        }
        guard let text = try? JSONSerialization.data(withJSONObject: json),
              let records = try? JSONDecoder().decode([CheckpointRecord].self, from: text) else {
            try require(false, name, "built records do not decode as CheckpointRecord")
            return
        }
        guard let encoded = try? CheckpointFile.encode(records) else {
            try require(false, name, "built records cannot be encoded")
            return
        }
        try require((try? CheckpointFile.decode(encoded).get()) == records, name, "built records changed through encode/decode")
        // One flipped byte is either refused or, when it only changed spacing, decodes the same.
        if !encoded.isEmpty {
            var damaged = [UInt8](encoded)
            let at = input.int(damaged.count)
            damaged[at] ^= max(1, input.byte())
            if case .success(let r) = CheckpointFile.decode(Data(damaged)) {
                try require(r == records, name, "a damaged checkpoint decoded to other records (byte \(at))")
            }
        }
    }
}

/// The agent's spool record reader (`Spool.decodeRecord`).
///
/// Properties: any content is a consistent batch (one source per event, each naming one of its
/// paths) or refused with a reason; records built from the input decode to what was written; a
/// flipped byte is refused (the CRC covers header and body) unless it is in the CRC itself.
enum SpoolTarget {
    static let name = "spool"
    static var target: FuzzTarget {
        var t = checks
        t.generatedSeeds = {
            let body = Array("{\"auditID\":\"a\"}\n".utf8)
            return [
                (try? Spool.encodeRecord(batchID: "m1-000001", body: body, eventCount: 1, paths: ["/var/log/audit.log"], sources: [[0, 1]])) ?? [],
                (try? Spool.encodeRecord(batchID: "m1-000002", body: [], eventCount: 3, paths: ["a", "b"], sources: [[0, 1], [1, 1], [1, 2]])) ?? [],
            ]
        }
        return t
    }
    static let checks = FuzzTarget(name: name, summary: "agent spool record reader", maxLength: 4096) { data throws(PropertyViolation) in
        switch Spool.decodeRecord(data, key: "00000000000000000001") {
        case .success(let batch):
            try require(batch.sources.count == batch.eventCount, name, "a decoded batch has \(batch.sources.count) sources for \(batch.eventCount) events")
            for s in batch.sources {
                try require(s.count == 2 && s[0] >= 0 && Int(s[0]) < batch.paths.count, name, "a decoded source \(s) does not name a path")
            }
            try require(batch.storedBytes == data.count, name, "storedBytes is not the record's size")
        case .failure(let e):
            try require(!e.message.isEmpty, name, "a refusal without a reason")
        }
        var input = FuzzInput(data)
        let paths = (0..<(1 + input.int(3))).map { _ in input.string(max: 30) }
        let events = input.int(20)
        let sources = (0..<events).map { _ in [Int64(input.int(paths.count)), Int64(input.int(1 << 16))] }
        let body = input.bytes(max: 512)
        let batchID = input.string(max: 30)
        guard let record = try? Spool.encodeRecord(batchID: batchID, body: body, eventCount: events, paths: paths, sources: sources) else {
            try require(false, name, "a built record cannot be encoded")
            return
        }
        switch Spool.decodeRecord(record, key: "k") {
        case .success(let b):
            try require(b.batchID == batchID && b.body == body && b.eventCount == events && b.paths == paths && b.sources == sources, name, "a built record decoded to something else")
        case .failure(let e):
            try require(false, name, "a built record was refused: \(e)")
        }
        let at = input.int(record.count)
        var damaged = record
        damaged[at] ^= max(1, input.byte())
        if case .success = Spool.decodeRecord(damaged, key: "k") {
            try require(false, name, "a record with byte \(at) of \(record.count) changed was accepted")
        }
    }
}

/// The agent's line splitter: any chunking of a stream gives the same lines and offsets.
enum LineSplitterTarget {
    static let name = "lines"
    static let target = FuzzTarget(name: name, summary: "line splitter (chunk boundaries, oversize lines)", maxLength: 4096) { data throws(PropertyViolation) in
        guard let first = data.first else { return }
        let maxLine = 1 + Int(first % 64)
        let stream = Array(data.dropFirst())
        func split(_ cuts: [Int]) -> ([LineSplitter.Piece], Int64) {
            var s = LineSplitter(maxLineBytes: maxLine, offset: 7)
            var pieces: [LineSplitter.Piece] = []
            var start = 0
            for cut in cuts + [stream.count] where cut >= start {
                s.feed(Array(stream[start..<cut])) { pieces.append($0) }
                start = cut
            }
            return (pieces, s.consumedOffset)
        }
        let whole = split([])
        var cuts: [Int] = []
        var at = 0
        for b in stream.reversed() where at < stream.count {
            at += 1 + Int(b % 17)
            if at < stream.count { cuts.append(at) }
        }
        let chunked = split(cuts)
        try require(whole.0 == chunked.0 && whole.1 == chunked.1, name, "feeding in chunks \(cuts) gave other pieces")
        // Pieces tile the stream up to the consumed offset.
        var expectStart: Int64 = 7
        for p in whole.0 {
            switch p {
            case .line(let bytes, let start, let end):
                try require(start == expectStart && end > start, name, "a line does not start where the previous ended")
                let raw = Array(stream[Int(start - 7)..<Int(end - 7 - 1)])
                try require(bytes == raw || bytes + [0x0D] == raw, name, "a line's bytes differ from the stream")
                try require(bytes.count <= maxLine, name, "a line over the limit was kept")
                expectStart = end
            case .oversize(let start, let end):
                try require(start == expectStart && end - start - 1 > Int64(maxLine), name, "an oversize piece of \(end - start - 1) bytes under the limit \(maxLine)")
                expectStart = end
            }
        }
        try require(expectStart == whole.1, name, "consumed offset \(whole.1) is not the end of the last piece \(expectStart)")
    }
}
