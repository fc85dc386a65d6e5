import AuditModel
import Gzip

/// Reads a whole audit log, plain or gzip (detected by its magic bytes, not
/// its name; concatenated members work), line by line with bounded memory.
public struct LogFileReader {
    public let path: String
    public let maxLineBytes: Int

    public init(path: String, maxLineBytes: Int = 4 << 20) {
        self.path = path
        self.maxLineBytes = maxLineBytes
    }

    /// True when the file starts with the gzip magic number.
    public static func isGzip(path: String) throws(FileError) -> Bool {
        let f = try OpenFile(path: path)
        var head = [UInt8](repeating: 0, count: 2)
        let n = try f.read(into: &head, at: 0)
        return n == 2 && Gzip.isGzip(head)
    }

    /// Calls `body` for each piece (line or oversize line) of the uncompressed
    /// stream, in order. A last line without a newline is delivered too.
    /// - Parameter startingAt: uncompressed offset to start from (for resuming).
    public func forEachLine(startingAt: Int64 = 0, _ body: (LineSplitter.Piece) throws -> Void) throws {
        let file = try OpenFile(path: path)
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        var splitter = LineSplitter(maxLineBytes: maxLineBytes, offset: startingAt)
        var fileOffset: Int64 = 0
        if try LogFileReader.isGzip(path: path) {
            let inflater = try Inflater()
            var produced: Int64 = 0
            var out: [UInt8] = []
            while true {
                let n = try file.read(into: &chunk, at: fileOffset)
                if n == 0 { break }
                fileOffset += Int64(n)
                var consumed = 0
                while consumed < n {
                    out.removeAll(keepingCapacity: true)
                    let used = try chunk.withUnsafeBytes { p in
                        try inflater.inflate(UnsafeRawBufferPointer(rebasing: p[consumed..<n]), limit: 1 << 20, stopAtLimit: true, into: &out)
                    }
                    consumed += used
                    // Skip what lies before the resume offset.
                    var slice = out[...]
                    if produced < startingAt {
                        let skip = Int(min(Int64(out.count), startingAt - produced))
                        slice = out[skip...]
                    }
                    produced += Int64(out.count)
                    if !slice.isEmpty { try splitter.feed(Array(slice), body) }
                    if used == 0 && out.isEmpty { break }
                }
            }
            guard inflater.finishedMember else {
                throw GzipError(code: .truncated, message: "'\(path)' ends inside a gzip member")
            }
        } else {
            fileOffset = startingAt
            while true {
                let n = try file.read(into: &chunk, at: fileOffset)
                if n == 0 { break }
                fileOffset += Int64(n)
                try chunk.withUnsafeBufferPointer { try splitter.feed(UnsafeBufferPointer(rebasing: $0[0..<n]), body) }
            }
        }
        if splitter.hasPartialLine {
            try splitter.feed([0x0A], body)
        }
    }
}
