import CZlib

/// A zlib failure, with what was being done.
public struct GzipError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The input is not gzip (or zlib) data, or is corrupt.
        case corrupt
        /// The input ended inside a member.
        case truncated
        /// Decompressing would produce more than the allowed number of bytes.
        case tooLarge = "too_large"
        /// zlib itself failed (memory, version).
        case zlib
    }
    public var code: Code
    public var message: String
    public init(code: Code, message: String) { self.code = code; self.message = message }
    public var description: String { "gzip \(code.rawValue): \(message)" }
}

/// gzip compression (RFC 1952): whole buffers with libdeflate, streams with zlib.
public enum Gzip {
    /// Compresses `input` into one gzip member.
    /// - Parameter level: zlib level 0–9 (1 fastest, 6 zlib's default).
    /// Made whole by libdeflate (`WholeBuffer`), whose levels 1–9 correspond to zlib's.
    public static func compress(_ input: UnsafeRawBufferPointer, level: Int32 = 6) throws(GzipError) -> [UInt8] {
        try WholeBuffer.compress(input, level: level)
    }

    /// Compresses an array into one gzip member.
    public static func compress(_ input: [UInt8], level: Int32 = 6) throws(GzipError) -> [UInt8] {
        do {
            return try input.withUnsafeBytes { try compress($0, level: level) }
        } catch let e as GzipError { throw e } catch { throw GzipError(code: .zlib, message: "\(error)") }
    }

    /// Decompresses gzip data (one or more concatenated members), refusing to
    /// produce more than `limit` bytes: a gzip bomb is stopped at the limit,
    /// not after it.
    public static func decompress(_ input: UnsafeRawBufferPointer, limit: Int) throws(GzipError) -> [UInt8] {
        if let whole = WholeBuffer.decompress(input, limit: limit) { return whole }
        let inflater = try Inflater()
        var out: [UInt8] = []
        out.reserveCapacity(min(limit, max(input.count * 4, 1024)))
        let consumed = try inflater.inflate(input, limit: limit, into: &out)
        guard inflater.finishedMember else {
            throw GzipError(code: .truncated, message: "gzip data ends inside a member after \(consumed) of \(input.count) input bytes")
        }
        return out
    }

    /// Decompresses an array.
    public static func decompress(_ input: [UInt8], limit: Int) throws(GzipError) -> [UInt8] {
        do {
            return try input.withUnsafeBytes { try decompress($0, limit: limit) }
        } catch let e as GzipError { throw e } catch { throw GzipError(code: .zlib, message: "\(error)") }
    }

    /// True when the bytes start with the gzip magic number.
    public static func isGzip(_ prefix: some Collection<UInt8>) -> Bool {
        var it = prefix.makeIterator()
        return it.next() == 0x1F && it.next() == 0x8B
    }
}

/// A streaming gzip compressor.
public final class Deflater {
    private var stream = z_stream()
    private var open = false

    public init(level: Int32 = 6) throws(GzipError) {
        let rc = auditship_deflateInit2(&stream, level, 15 + 16)
        guard rc == Z_OK else { throw GzipError(code: .zlib, message: "deflateInit2 failed with \(rc)") }
        open = true
    }

    deinit { if open { deflateEnd(&stream) } }

    /// Compresses `input`, appending output to `out`; `finish` ends the member.
    public func compress(_ input: UnsafeRawBufferPointer, finish: Bool, into out: inout [UInt8]) throws(GzipError) {
        let chunk = 64 * 1024
        var buffer = [UInt8](repeating: 0, count: chunk)
        let base = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        stream.next_in = UnsafeMutablePointer(mutating: base)
        stream.avail_in = UInt32(input.count)
        let flush = finish ? Z_FINISH : Z_NO_FLUSH
        var rc: Int32 = Z_OK
        repeat {
            rc = buffer.withUnsafeMutableBufferPointer { buf -> Int32 in
                stream.next_out = buf.baseAddress
                stream.avail_out = UInt32(chunk)
                let r = deflate(&stream, flush)
                let produced = chunk - Int(stream.avail_out)
                out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[0..<produced]))
                return r
            }
            if rc == Z_STREAM_ERROR { throw GzipError(code: .zlib, message: "deflate failed with \(rc)") }
        } while stream.avail_out == 0 || (finish && rc != Z_STREAM_END)
        stream.next_in = nil
        if finish {
            deflateReset(&stream)
        }
    }
}

/// A streaming gzip decompressor that handles concatenated members.
public final class Inflater {
    private var stream = z_stream()
    private var open = false
    /// True when the input fed so far ended exactly at the end of a member.
    public private(set) var finishedMember = true

    public init() throws(GzipError) {
        let rc = auditship_inflateInit2(&stream, 15 + 32)  // gzip or zlib, detected from the header
        guard rc == Z_OK else { throw GzipError(code: .zlib, message: "inflateInit2 failed with \(rc)") }
        open = true
    }

    deinit { if open { inflateEnd(&stream) } }

    /// Decompresses `input`, appending at most `limit - out.count` bytes to `out`.
    /// - Parameter stopAtLimit: when true, reaching the limit returns early (call
    ///   again with the rest of the input after using `out`); when false, output
    ///   beyond the limit is an error (a gzip bomb).
    /// - Returns: the number of input bytes consumed (all of them unless the limit stopped it).
    @discardableResult
    public func inflate(_ input: UnsafeRawBufferPointer, limit: Int, stopAtLimit: Bool = false, into out: inout [UInt8]) throws(GzipError) -> Int {
        guard input.count > 0, let inBase = input.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
        stream.next_in = UnsafeMutablePointer(mutating: inBase)
        stream.avail_in = UInt32(input.count)
        defer { stream.next_in = nil }
        let chunk = 64 * 1024
        var buffer = [UInt8](repeating: 0, count: chunk)
        while stream.avail_in > 0 {
            // A finished member followed by more input starts a new member.
            if finishedMember && stream.total_in > 0 {
                // Trailing zero padding after the last member is tolerated (as gzip does).
                if allZero(UnsafeRawBufferPointer(start: stream.next_in, count: Int(stream.avail_in))) {
                    stream.avail_in = 0
                    break
                }
                inflateReset(&stream)
            }
            let room = limit - out.count
            if stopAtLimit && room <= 0 { break }
            let want = stopAtLimit ? min(chunk, room) : min(chunk, room + 1)  // one byte more than allowed reveals an overflow
            var rc: Int32 = Z_OK
            var produced = 0
            buffer.withUnsafeMutableBufferPointer { buf in
                stream.next_out = buf.baseAddress
                stream.avail_out = UInt32(want)
                rc = CZlib.inflate(&stream, Z_NO_FLUSH)
                produced = want - Int(stream.avail_out)
            }
            if produced > room {
                throw GzipError(code: .tooLarge, message: "decompressed data exceeds the limit of \(limit) bytes")
            }
            out.append(contentsOf: buffer[0..<produced])
            switch rc {
            case Z_STREAM_END:
                finishedMember = true
            case Z_OK, Z_BUF_ERROR:
                finishedMember = false
                if rc == Z_BUF_ERROR && produced == 0 && stream.avail_in > 0 {
                    throw GzipError(code: .corrupt, message: "inflate made no progress")
                }
            case Z_NEED_DICT:
                throw GzipError(code: .corrupt, message: "zlib stream needs a preset dictionary")
            default:
                let msg = stream.msg.map { String(cString: $0) } ?? "error \(rc)"
                throw GzipError(code: .corrupt, message: "invalid gzip data at input byte \(input.count - Int(stream.avail_in)): \(msg)")
            }
        }
        return input.count - Int(stream.avail_in)
    }

    private func allZero(_ p: UnsafeRawBufferPointer) -> Bool {
        for b in p where b != 0 { return false }
        return true
    }

    /// Resets for a new, unrelated stream.
    public func reset() {
        inflateReset(&stream)
        finishedMember = true
    }
}

extension Gzip {
    /// CRC-32 (IEEE, as in gzip) of `bytes`.
    public static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt = CZlib.crc32(0, nil, 0)
        var offset = 0
        while offset < bytes.count {
            let n = min(bytes.count - offset, Int(UInt32.max))
            let p = bytes.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) + offset }
            crc = CZlib.crc32(crc, p, UInt32(n))
            offset += n
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// CRC-32 of an array.
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { crc32($0) }
    }
}
