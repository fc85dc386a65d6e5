import CZstd
import Synchronization

/// A zstd failure, with what was being done.
public struct ZstdError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The input is not a zstd frame, or is corrupt.
        case corrupt
        /// The input ended inside a frame.
        case truncated
        /// Decompressing would produce more than the allowed number of bytes.
        case tooLarge = "too_large"
        /// libzstd itself failed (memory).
        case zstd
    }
    public var code: Code
    public var message: String
    public init(code: Code, message: String) { self.code = code; self.message = message }
    public var description: String { "zstd \(code.rawValue): \(message)" }
}

/// zstd compression (RFC 8878) with libzstd: one frame per call, the content size in the frame
/// header, decompression that never produces more than a stated limit.
public enum Zstd {
    /// Compresses `input` into one frame.
    /// - Parameter level: 1 (fastest) to 19; 3 is zstd's default.
    public static func compress(_ input: UnsafeRawBufferPointer, level: Int32 = 3) throws(ZstdError) -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var out = [UInt8](repeating: 0, count: bound)
        let written = out.withUnsafeMutableBytes { dst in
            ZSTD_compress(dst.baseAddress, bound, input.baseAddress, input.count, level)
        }
        if ZSTD_isError(written) != 0 {
            throw ZstdError(code: .zstd, message: String(cString: ZSTD_getErrorName(written)))
        }
        out.removeSubrange(written...)
        return out
    }

    /// Compresses an array into one frame.
    public static func compress(_ input: [UInt8], level: Int32 = 3) throws(ZstdError) -> [UInt8] {
        do {
            return try input.withUnsafeBytes { try compress($0, level: level) }
        } catch let e as ZstdError { throw e } catch { throw ZstdError(code: .zstd, message: "\(error)") }
    }

    /// Decompresses one or more concatenated frames, refusing to produce more than `limit` bytes:
    /// a bomb is stopped at the limit, not after it, whatever its frame header claims.
    public static func decompress(_ input: UnsafeRawBufferPointer, limit: Int) throws(ZstdError) -> [UInt8] {
        // One frame that declares its size within the limit (what stores and this package's
        // writers make): decompressed in one call into an array of exactly that size.
        if let declared = ZstdPrefixDecompressor.declaredSize(input), declared <= limit,
           ZSTD_findFrameCompressedSize(input.baseAddress, input.count) == input.count {
            return try DecompressionContexts.shared.with { (context) throws(ZstdError) in
                try decompressFrame(input, size: declared, context: context, dictionary: nil)
            }
        }
        guard let stream = ZSTD_createDStream() else { throw ZstdError(code: .zstd, message: "cannot allocate a decompression stream") }
        defer { ZSTD_freeDStream(stream) }
        _ = ZSTD_initDStream(stream)
        // A frame may declare a window (a buffer libzstd allocates) far beyond what it holds: allow
        // no larger window than the output limit needs.
        var windowLog: Int32 = 10
        while windowLog < 31 && (1 << windowLog) < limit { windowLog += 1 }
        _ = ZSTD_DCtx_setParameter(stream, ZSTD_d_windowLogMax, windowLog)
        var out: [UInt8] = []
        // The frame header's content size is a hint, capped by the limit.
        let declared = input.count >= 5 ? ZSTD_getFrameContentSize(input.baseAddress, input.count) : 0
        let hint = declared < UInt64(Int.max) ? Int(declared) : input.count * 4
        out.reserveCapacity(min(limit, max(hint, 64), max(input.count, 1) * 64) + 1)
        var chunk = [UInt8](repeating: 0, count: min(max(limit, 1), 1 << 17) + 1)
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var lastResult = 0
        repeat {
            var outBuffer = ZSTD_outBuffer(dst: nil, size: 0, pos: 0)
            let result = chunk.withUnsafeMutableBytes { dst -> Int in
                outBuffer = ZSTD_outBuffer(dst: dst.baseAddress, size: dst.count, pos: 0)
                return ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
            }
            if ZSTD_isError(result) != 0 {
                throw ZstdError(code: .corrupt, message: "\(String(cString: ZSTD_getErrorName(result))) at input byte \(inBuffer.pos)")
            }
            if out.count + outBuffer.pos > limit {
                throw ZstdError(code: .tooLarge, message: "decompressed data exceeds \(limit) bytes")
            }
            out.append(contentsOf: chunk[..<outBuffer.pos])
            lastResult = result
            if result != 0 && outBuffer.pos == 0 && inBuffer.pos == inBuffer.size { break }
        } while inBuffer.pos < inBuffer.size || lastResult != 0
        if lastResult != 0 {
            throw ZstdError(code: .truncated, message: "zstd data ends inside a frame after \(input.count) input bytes")
        }
        return out
    }

    /// Decompresses an array.
    public static func decompress(_ input: [UInt8], limit: Int) throws(ZstdError) -> [UInt8] {
        do {
            return try input.withUnsafeBytes { try decompress($0, limit: limit) }
        } catch let e as ZstdError { throw e } catch { throw ZstdError(code: .zstd, message: "\(error)") }
    }

    /// True when `bytes` start with a zstd frame's magic number.
    public static func hasMagic(_ bytes: some Collection<UInt8>) -> Bool {
        bytes.starts(with: [0x28, 0xB5, 0x2F, 0xFD])
    }
}

extension Zstd {
    /// One frame of exactly `size` bytes, into a new array (never more: the frame is refused).
    static func decompressFrame(_ input: UnsafeRawBufferPointer, size: Int, context: OpaquePointer,
                                dictionary: OpaquePointer?) throws(ZstdError) -> [UInt8] {
        var made = 0
        let out = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            made = dictionary.map { ZSTD_decompress_usingDDict(context, buffer.baseAddress, size, input.baseAddress, input.count, $0) }
                ?? ZSTD_decompressDCtx(context, buffer.baseAddress, size, input.baseAddress, input.count)
            count = ZSTD_isError(made) == 0 && made == size ? size : 0
        }
        if ZSTD_isError(made) != 0 {
            let name = String(cString: ZSTD_getErrorName(made))
            throw ZstdError(code: name.contains("Destination buffer is too small") ? .tooLarge : .corrupt, message: name)
        }
        guard made == size else {
            throw ZstdError(code: .corrupt, message: "the frame holds \(made) bytes, its header says \(size)")
        }
        return out
    }
}

/// Decompression contexts kept for reuse: making one allocates and clears about 100 KB, which
/// cost more than decompressing a small block part.
final class DecompressionContexts: Sendable {
    static let shared = DecompressionContexts()
    /// Idle contexts, as addresses (an address is Sendable, a pointer is not).
    private let idle = Mutex<[UInt]>([])
    private static let keep = 16

    func take() throws(ZstdError) -> OpaquePointer {
        if let address = idle.withLock({ $0.popLast() }), let context = OpaquePointer(bitPattern: address) {
            _ = ZSTD_DCtx_reset(context, ZSTD_reset_session_and_parameters)
            return context
        }
        guard let context = ZSTD_createDCtx() else { throw ZstdError(code: .zstd, message: "cannot allocate a decompression context") }
        return context
    }

    func give(_ context: OpaquePointer) {
        let address = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(context)))
        let kept = idle.withLock { list -> Bool in
            guard list.count < Self.keep else { return false }
            list.append(address)
            return true
        }
        if !kept { ZSTD_freeDCtx(context) }
    }

    func with<R>(_ body: (OpaquePointer) throws(ZstdError) -> R) throws(ZstdError) -> R {
        let context = try take()
        defer { give(context) }
        return try body(context)
    }
}
