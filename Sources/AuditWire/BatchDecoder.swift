import AuditModel
import Gzip
import Zstd
import OpenSSLKit

/// Limits on what a client may send.
public struct IngestLimits: Sendable, Hashable {
    public var maxBodyBytes: Int
    public var maxDecompressedBytes: Int
    public var maxEventBytes: Int
    public var maxJSONDepth: Int
    /// Most events (lines of a batch, items of an EventList) in one request: a batch of a million
    /// tiny lines is refused with 413 before any is decoded, so that neither memory nor the list
    /// of refused lines in the answer grows with it. Agents split a batch on 413.
    public var maxBatchEvents: Int

    public init(maxBodyBytes: Int = 16 << 20, maxDecompressedBytes: Int = 64 << 20,
                maxEventBytes: Int = 4 << 20, maxJSONDepth: Int = 100, maxBatchEvents: Int = 100_000) {
        self.maxBodyBytes = maxBodyBytes
        self.maxDecompressedBytes = maxDecompressedBytes
        self.maxEventBytes = maxEventBytes
        self.maxJSONDepth = maxJSONDepth
        self.maxBatchEvents = maxBatchEvents
    }
}

/// A request refused as a whole, with the HTTP status and a bounded reason code.
public struct Refusal: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String
    public var retryable: Bool
    /// Seconds a client should wait before sending again (`Retry-After`), for retryable refusals.
    public var retryAfter: Int?

    public init(status: Int, code: String, retryAfter: Int? = nil, message: String, retryable: Bool = false) {
        self.status = status
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status) \(code): \(message)" }
}

/// Turns request bodies into events to store. Pure: no I/O.
public struct BatchDecoder: Sendable {
    public var limits: IngestLimits

    public init(limits: IngestLimits) { self.limits = limits }

    /// The outcome of decoding a body: events to store and lines refused.
    public struct Decoded: Sendable {
        public var events: [IngestEvent]
        public var rejected: [RejectedLine]
    }

    /// Decodes an agent batch: optionally gzip-compressed NDJSON, one event a line.
    public func decodeBatch(body: [UInt8], contentEncoding: String?) throws(Refusal) -> Decoded {
        let plain = try decompress(body, contentEncoding)
        let lines = plain.withUnsafeBufferPointer { buf in
            buf.reduce(into: 0) { n, b in if b == 0x0A { n += 1 } } + (buf.last.map { $0 == 0x0A ? 0 : 1 } ?? 0)
        }
        guard lines <= limits.maxBatchEvents else {
            throw Refusal(status: 413, code: "too_many_events", message: "the batch has \(lines) lines; the limit is \(limits.maxBatchEvents) events a batch; split it")
        }
        var events: [IngestEvent] = []
        var rejected: [RejectedLine] = []
        var lineNumber = 0
        var start = 0
        let scanLimits = ScanLimits(maxDepth: limits.maxJSONDepth)
        plain.withUnsafeBufferPointer { buf in
            while start < buf.count {
                var end = start
                while end < buf.count && buf[end] != 0x0A { end += 1 }
                lineNumber += 1
                var lineEnd = end
                if lineEnd > start && buf[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                let line = UnsafeBufferPointer(rebasing: buf[start..<lineEnd])
                if !isBlank(line) {
                    switch decodeEvent(line, scanLimits) {
                    case .success(let e): events.append(e)
                    case .failure(let r): rejected.append(RejectedLine(line: lineNumber, code: r.code, message: r.message))
                    }
                }
                start = end + 1
            }
        }
        return Decoded(events: events, rejected: rejected)
    }

    /// Decodes kube-apiserver's webhook body: an `EventList` in JSON.
    public func decodeEventList(body: [UInt8], contentEncoding: String?) throws(Refusal) -> Decoded {
        let plain = try decompress(body, contentEncoding)
        let scanLimits = ScanLimits(maxDepth: limits.maxJSONDepth)
        // The list is scanned with room for items up to four times too deep, so that such an item
        // is refused alone below; only absurd nesting (which could exhaust the stack) refuses the list.
        let listLimits = ScanLimits(maxDepth: min(2048, limits.maxJSONDepth * 4) + 2)
        var events: [IngestEvent] = []
        var rejected: [RejectedLine] = []
        let result: Result<Void, ScanError> = plain.withUnsafeBufferPointer { buf in
            do throws(ScanError) {
                let ranges = try EventListScanner.items(buf, limits: listLimits)
                guard ranges.count <= limits.maxBatchEvents else {
                    return .failure(ScanError(code: .tooLarge, offset: 0, message: "the EventList has \(ranges.count) items; the limit is \(limits.maxBatchEvents) events a request"))
                }
                for (i, r) in ranges.enumerated() {
                    switch decodeEvent(UnsafeBufferPointer(rebasing: buf[r]), scanLimits) {
                    case .success(let e): events.append(e)
                    case .failure(let f): rejected.append(RejectedLine(line: i + 1, code: f.code, message: "items[\(i)]: " + f.message))
                    }
                }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        if case .failure(let error) = result {
            if error.code == .tooLarge {
                throw Refusal(status: 413, code: "too_many_events", message: error.message)
            }
            throw Refusal(status: 400, code: error.code.rawValue, message: "the body is not an audit EventList: \(error)")
        }
        return Decoded(events: events, rejected: rejected)
    }

    private struct LineFailure: Error { var code: String; var message: String }

    private func decodeEvent(_ line: UnsafeBufferPointer<UInt8>, _ scanLimits: ScanLimits) -> Result<IngestEvent, LineFailure> {
        if line.count > limits.maxEventBytes {
            return .failure(LineFailure(code: ScanError.Code.tooLarge.rawValue,
                                        message: "event of \(line.count) bytes exceeds the limit of \(limits.maxEventBytes) bytes"))
        }
        do {
            let summary = try EventScanner.scan(line, limits: scanLimits)
            let bytes = Array(line)
            return .success(IngestEvent(bytes: bytes, summary: summary, digest: SHA256.hash(bytes)))
        } catch {
            return .failure(LineFailure(code: error.code.rawValue, message: error.description))
        }
    }

    private func isBlank(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }

    private func decompress(_ body: [UInt8], _ encoding: String?) throws(Refusal) -> [UInt8] {
        switch encoding?.lowercased() {
        case nil, "", "identity":
            guard body.count <= limits.maxDecompressedBytes else {
                throw Refusal(status: 413, code: "too_large", message: "body of \(body.count) bytes exceeds the limit of \(limits.maxDecompressedBytes) bytes")
            }
            return body
        case "gzip":
            do {
                return try Gzip.decompress(body, limit: limits.maxDecompressedBytes)
            } catch {
                if error.code == .tooLarge {
                    throw Refusal(status: 413, code: "too_large", message: "the batch decompresses to more than \(limits.maxDecompressedBytes) bytes; split it")
                }
                throw Refusal(status: 400, code: "bad_gzip", message: "the body is not valid gzip: \(error.message)")
            }
        case "zstd":
            do {
                return try Zstd.decompress(body, limit: limits.maxDecompressedBytes)
            } catch {
                if error.code == .tooLarge {
                    throw Refusal(status: 413, code: "too_large", message: "the batch decompresses to more than \(limits.maxDecompressedBytes) bytes; split it")
                }
                throw Refusal(status: 400, code: "bad_zstd", message: "the body is not valid zstd: \(error.message)")
            }
        default:
            throw Refusal(status: 415, code: "bad_encoding", message: "Content-Encoding '\(encoding ?? "")' is not supported: send gzip, zstd or identity")
        }
    }
}
