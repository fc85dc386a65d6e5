import AuditModel
import AuditWire
import Foundation
import Gzip
import Zstd
import OpenSSLKit

/// `EventList` decoding: kube-apiserver's webhook body (`EventListScanner.items`, then the
/// aggregator's `BatchDecoder.decodeEventList`), and the backfill's document reader.
///
/// Properties: item ranges lie inside the body, in order, without overlap, and each is one JSON
/// value; every item is either stored (with exactly its bytes and their SHA-256) or refused with
/// its index; a list the scanner accepts is a JSON object for JSONSerialization too, with as many
/// items; `compact` keeps a document's meaning.
enum EventListTarget {
    static let name = "eventlist"
    static let limits = IngestLimits(maxBodyBytes: 1 << 20, maxDecompressedBytes: 1 << 20, maxEventBytes: 16 << 10, maxJSONDepth: 100)
    static let target = FuzzTarget(name: name, summary: "EventList decoding (webhook body, backfill documents)", maxLength: 16384) { data throws(PropertyViolation) in
        var ranges: [Range<Int>]?
        do throws(ScanError) { ranges = try EventListScanner.items(data) } catch { ranges = nil }
        if let ranges {
            var last = 0
            for r in ranges {
                try require(r.lowerBound >= last && r.upperBound <= data.count && !r.isEmpty, name, "item range \(r) is out of order or outside the body of \(data.count) bytes")
                last = r.upperBound
                let valid = Array(data[r]).withUnsafeBufferPointer { (b) -> Bool in
                    (try? EventScanner.validateJSON(b, limits: ScanLimits(maxDepth: 1 << 20))) != nil
                }
                try require(valid, name, "item range \(r) is not one JSON value")
            }
            if !data.contains(0) && !data.starts(with: [0xEF, 0xBB, 0xBF]) {
                let parsed = try? JSONSerialization.jsonObject(with: Data(data), options: [.fragmentsAllowed])
                if let object = parsed as? [String: Any] {
                    if let items = object["items"] as? [Any] {
                        try require(items.count == ranges.count, name, "the scanner found \(ranges.count) items, JSONSerialization \(items.count)")
                    } else {
                        try require(object["items"] is NSNull, name, "accepted a list whose items JSONSerialization does not read as an array or null")
                    }
                } else {
                    try require(false, name, "accepted an EventList that JSONSerialization does not read as an object")
                }
            }
        }
        let decoder = BatchDecoder(limits: limits)
        switch attempt({ () throws(Refusal) in try decoder.decodeEventList(body: data, contentEncoding: nil) }) {
        case .success(let decoded):
            try require(ranges != nil, name, "decodeEventList accepted a body the scanner refuses")
            let all = ranges ?? []
            try require(decoded.events.count + decoded.rejected.count == all.count, name, "\(all.count) items became \(decoded.events.count) events and \(decoded.rejected.count) refusals")
            var rejectedIndex = Set(decoded.rejected.map(\.line))
            var next = decoded.events.makeIterator()
            for (i, r) in all.enumerated() {
                if rejectedIndex.remove(i + 1) != nil { continue }
                guard let event = next.next() else { break }
                try require(event.bytes == Array(data[r]), name, "item \(i) was stored with other bytes than were sent")
                try require(event.digest == SHA256.hash(event.bytes), name, "item \(i) has a digest that is not the SHA-256 of its bytes")
            }
            for r in decoded.rejected {
                try require(!r.message.isEmpty && !r.code.isEmpty, name, "a refused item has no reason")
            }
        case .failure(let error):
            try require(ranges == nil || error.status == 413, name, "decodeEventList refused (\(error)) a body the scanner reads")
            try require(!error.message.isEmpty, name, "a refusal without a message")
        }
        // Backfill documents: items lie inside, and compacting keeps the meaning.
        if let doc = try? EventListScanner.documentItems(data) {
            for r in doc {
                try require(r.lowerBound >= 0 && r.upperBound <= data.count, name, "document item \(r) outside the input")
                let compact = JSONText.compact(data[r])
                let before = try? JSONSerialization.jsonObject(with: Data(data[r]), options: [.fragmentsAllowed])
                let after = try? JSONSerialization.jsonObject(with: Data(compact), options: [.fragmentsAllowed])
                if let before = before as? NSObject {
                    try require((after as? NSObject)?.isEqual(before) == true, name, "compacting document item \(r) changed its meaning")
                }
            }
        }
    }
}

/// The aggregator's batch body decoder: gzip or zstd with a decompressed-size limit, then NDJSON.
///
/// Properties: the decompressed output never exceeds the limit (a bomb is refused with 413 when it
/// reaches it); a body is refused as a whole only for its encoding or size; otherwise every
/// non-blank line is stored with exactly its bytes or refused with its line number; the same body
/// sent gzip- or zstd-compressed decodes to the same events and refusals.
enum BatchBodyTarget {
    static let name = "batch"
    static let limits = IngestLimits(maxBodyBytes: 1 << 20, maxDecompressedBytes: 64 << 10, maxEventBytes: 8 << 10, maxJSONDepth: 64)
    static let target = FuzzTarget(name: name, summary: "batch body decoder (gzip or zstd with limit, NDJSON lines)", maxLength: 16384) { data throws(PropertyViolation) in
        let decoder = BatchDecoder(limits: limits)
        // 1. The input as a gzip body: whatever it is, the output stays within the limit.
        switch attempt({ () throws(GzipError) in try Gzip.decompress(data, limit: limits.maxDecompressedBytes) }) {
        case .success(let out):
            try require(out.count <= limits.maxDecompressedBytes, name, "inflated \(out.count) bytes, over the limit \(limits.maxDecompressedBytes)")
        case .failure(let error):
            try require(!error.message.isEmpty, name, "a gzip error without a message")
        }
        if case .failure(let error) = attempt({ () throws(Refusal) in try decoder.decodeBatch(body: data, contentEncoding: "gzip") }) {
            try require(error.status == 400 || error.status == 413, name, "a bad gzip body got status \(error.status)")
        }
        // The input as a zstd body likewise (a frame's declared sizes and windows are not trusted).
        switch attempt({ () throws(ZstdError) in try Zstd.decompress(data, limit: limits.maxDecompressedBytes) }) {
        case .success(let out):
            try require(out.count <= limits.maxDecompressedBytes, name, "zstd produced \(out.count) bytes, over the limit \(limits.maxDecompressedBytes)")
        case .failure(let error):
            try require(!error.message.isEmpty, name, "a zstd error without a message")
        }
        if case .failure(let error) = attempt({ () throws(Refusal) in try decoder.decodeBatch(body: data, contentEncoding: "zstd") }) {
            try require(error.status == 400 || error.status == 413, name, "a bad zstd body got status \(error.status)")
        }
        // 2. The input as NDJSON, plain and compressed.
        let plain: BatchDecoder.Decoded
        switch attempt({ () throws(Refusal) in try decoder.decodeBatch(body: data, contentEncoding: "identity") }) {
        case .success(let d): plain = d
        case .failure(let error):
            try require(data.count > limits.maxDecompressedBytes, name, "a plain body within the limit was refused: \(error)")
            return
        }
        var lines: [(number: Int, bytes: ArraySlice<UInt8>)] = []
        var number = 0
        for raw in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
            number += 1
            var line = raw
            if line.last == 0x0D { line = line.dropLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            lines.append((number, line))
        }
        if data.last == 0x0A, number > 0 { number -= 1 }
        try require(plain.events.count + plain.rejected.count == lines.count, name, "\(lines.count) lines became \(plain.events.count) events and \(plain.rejected.count) refusals")
        let refused = Set(plain.rejected.map(\.line))
        let stored = lines.filter { !refused.contains($0.number) }
        try require(stored.count == plain.events.count, name, "refusals name lines that are not in the body")
        for (line, event) in zip(stored, plain.events) {
            try require(event.bytes == Array(line.bytes), name, "line \(line.number) was stored with other bytes than were sent")
        }
        for encoding in WireCompression.allCases {
            guard let compressed = try? encoding.compress(data, gzipLevel: 1) else { continue }
            try require(WireCompression.of(compressed) == encoding, name, "a \(encoding) body is not told apart by its first bytes")
            switch attempt({ () throws(Refusal) in try decoder.decodeBatch(body: compressed, contentEncoding: encoding.contentEncoding) }) {
            case .success(let decoded):
                try require(decoded.events.map(\.bytes) == plain.events.map(\.bytes) && decoded.rejected == plain.rejected, name,
                            "the same body compressed with \(encoding) decoded differently")
            case .failure(let error):
                try require(false, name, "the same body compressed with \(encoding) was refused: \(error)")
            }
        }
    }
}
