import Gzip

/// Reads a gzip file's uncompressed bytes sequentially, as if it were a
/// plain file read from the start: `read(into:at:)` must be called with
/// increasing offsets (skipping forward decompresses and discards).
public final class GzipFileReader {
    public let file: OpenFile
    private var inflater: Inflater
    private var compressedOffset: Int64 = 0
    /// Uncompressed offset of `pending[pendingStart]`.
    private var position: Int64 = 0
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var input = [UInt8](repeating: 0, count: 64 * 1024)
    /// True once the compressed file was read to its end.
    public private(set) var reachedEnd = false

    public init(file: OpenFile) throws(GzipError) {
        self.file = file
        self.inflater = try Inflater()
    }

    /// Uncompressed bytes returned or skipped so far.
    public var uncompressedOffset: Int64 { position }

    /// Reads up to `buffer.count` uncompressed bytes starting at uncompressed `offset`.
    /// - Returns: bytes read; 0 at the end of the data.
    public func read(into buffer: inout [UInt8], at offset: Int64) throws -> Int {
        guard offset >= position else {
            throw GzipError(code: .corrupt, message: "'\(file.path)': cannot read backwards in a gzip stream (at \(position), asked \(offset))")
        }
        // Skip forward.
        while position < offset {
            if pendingStart >= pending.count { if try !fill() { return 0 } }
            let skip = Int(min(Int64(pending.count - pendingStart), offset - position))
            pendingStart += skip
            position += Int64(skip)
        }
        var written = 0
        while written < buffer.count {
            if pendingStart >= pending.count { if try !fill() { break } }
            let n = min(buffer.count - written, pending.count - pendingStart)
            buffer.withUnsafeMutableBufferPointer { dst in
                pending.withUnsafeBufferPointer { src in
                    if let d = dst.baseAddress, let s = src.baseAddress {
                        (d + written).update(from: s + pendingStart, count: n)
                    }
                }
            }
            written += n
            pendingStart += n
            position += Int64(n)
        }
        return written
    }

    /// Decompresses more into `pending`; false at the end.
    private func fill() throws -> Bool {
        pending.removeAll(keepingCapacity: true)
        pendingStart = 0
        while pending.isEmpty {
            let n = try file.read(into: &input, at: compressedOffset)
            if n == 0 {
                reachedEnd = true
                guard inflater.finishedMember else {
                    throw GzipError(code: .truncated, message: "'\(file.path)' ends inside a gzip member")
                }
                return false
            }
            let used = try input.withUnsafeBytes { p in
                try inflater.inflate(UnsafeRawBufferPointer(rebasing: p[0..<n]), limit: 1 << 20, stopAtLimit: true, into: &pending)
            }
            compressedOffset += Int64(used)
            if used == 0 && pending.isEmpty {
                throw GzipError(code: .corrupt, message: "'\(file.path)': gzip data makes no progress at byte \(compressedOffset)")
            }
        }
        return true
    }
}
