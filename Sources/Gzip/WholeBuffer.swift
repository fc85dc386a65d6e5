import CDeflate
import Synchronization

/// gzip members made and read whole with libdeflate: for a body already in memory (an agent's
/// batch, a webhook's POST) it does in one pass what zlib's stream does, about three times as fast
/// at level 1 and a little smaller (measured on a 321 MB audit log: 0.73 s against `gzip -1`'s
/// 2.04 s, 26.1 MB against 30.3 MB). The output is an ordinary gzip member (RFC 1952).
enum WholeBuffer {
    /// Compressors kept per level (making one allocates its tables), as addresses.
    private static let idle = Mutex<[Int32: [UInt]]>([:])

    static func compress(_ input: UnsafeRawBufferPointer, level: Int32) throws(GzipError) -> [UInt8] {
        let level = min(max(level, 0), 12)
        let compressor: OpaquePointer
        if let address = idle.withLock({ $0[level]?.popLast() }), let kept = OpaquePointer(bitPattern: address) {
            compressor = kept
        } else {
            guard let made = libdeflate_alloc_compressor(level) else { throw GzipError(code: .zlib, message: "cannot allocate a compressor") }
            compressor = made
        }
        defer {
            let address = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(compressor)))
            let kept = idle.withLock { all -> Bool in
                guard all[level, default: []].count < 4 else { return false }
                all[level, default: []].append(address)
                return true
            }
            if !kept { libdeflate_free_compressor(compressor) }
        }
        let bound = libdeflate_gzip_compress_bound(compressor, input.count)
        let out = [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
            count = libdeflate_gzip_compress(compressor, input.baseAddress, input.count, buffer.baseAddress, bound)
        }
        guard !out.isEmpty else { throw GzipError(code: .zlib, message: "libdeflate could not compress \(input.count) bytes") }
        return out
    }

    /// One gzip member whose trailer's size is within `limit`, read in one call; nil when the
    /// input is anything else (several members, damaged, a size over the limit), which the zlib
    /// stream then reads or refuses with its precise error.
    static func decompress(_ input: UnsafeRawBufferPointer, limit: Int) -> [UInt8]? {
        guard input.count >= 18, let base = input.baseAddress else { return nil }
        var size = 0
        for i in 0..<4 { size |= Int(input[input.count - 4 + i]) << (8 * i) }
        guard size <= limit, let decompressor = libdeflate_alloc_decompressor() else { return nil }
        defer { libdeflate_free_decompressor(decompressor) }
        var ok = false
        let out = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var consumed = 0, made = 0
            let result = libdeflate_gzip_decompress_ex(decompressor, base, input.count, buffer.baseAddress, size, &consumed, &made)
            ok = result == LIBDEFLATE_SUCCESS && consumed == input.count && made == size
            count = ok ? size : 0
        }
        return ok ? out : nil
    }
}
