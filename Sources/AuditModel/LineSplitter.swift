#if canImport(Glibc)
import Glibc
#endif

/// Splits a byte stream into newline-terminated lines, incrementally.
///
/// Feed it chunks of any size; it hands back each complete line (without the
/// `\n`, and without a trailing `\r`) with the stream offset of its first
/// byte and of the byte after its newline. A partial last line waits for its
/// newline. A line longer than `maxLineBytes` is not buffered: it is reported
/// once as ``Piece/oversize(start:end:)`` when its newline arrives, and its
/// bytes are dropped as they stream by, so memory stays bounded.
public struct LineSplitter: Sendable {
    public enum Piece: Sendable, Equatable {
        /// A complete line; `end` is the offset after its newline.
        case line(bytes: [UInt8], start: Int64, end: Int64)
        /// A line over the limit, from `start` to after its newline; its bytes are gone.
        case oversize(start: Int64, end: Int64)
    }

    public let maxLineBytes: Int
    private var pending: [UInt8] = []
    private var pendingStart: Int64
    private var overflowing = false
    private var lineLength = 0

    /// - Parameters:
    ///   - maxLineBytes: longest line kept, in bytes.
    ///   - offset: stream offset of the first byte that will be fed.
    public init(maxLineBytes: Int = 4 << 20, offset: Int64 = 0) {
        self.maxLineBytes = maxLineBytes
        self.pendingStart = offset
    }

    /// Offset of the first byte not yet part of a complete line.
    public var consumedOffset: Int64 { pendingStart }

    /// Bytes of the incomplete line seen so far (buffered or being dropped).
    public var partialLength: Int { lineLength }

    /// True when bytes of an incomplete line are buffered or being dropped.
    public var hasPartialLine: Bool { lineLength > 0 }

    /// Feeds a chunk and calls `emit` for each piece it completes, in order.
    public mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>, _ emit: (Piece) throws -> Void) rethrows {
        var i = 0
        let n = chunk.count
        while i < n {
            // memchr: the C library's vectorized search, at memory speed.
            var j = n
            if let base = chunk.baseAddress, let hit = memchr(base + i, 0x0A, n - i) {
                j = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            }
            let segment = UnsafeBufferPointer(rebasing: chunk[i..<j])
            if !overflowing {
                if lineLength + segment.count > maxLineBytes {
                    overflowing = true
                    pending = []
                } else {
                    pending.append(contentsOf: segment)
                }
            }
            lineLength += segment.count
            guard j < n else { return }
            let end = pendingStart + Int64(lineLength) + 1
            if overflowing {
                try emit(.oversize(start: pendingStart, end: end))
            } else {
                var line = pending
                if line.last == 0x0D { line.removeLast() }
                pending = []
                try emit(.line(bytes: line, start: pendingStart, end: end))
            }
            pending = []
            overflowing = false
            lineLength = 0
            pendingStart = end
            i = j + 1
        }
    }

    /// Feeds an array chunk.
    public mutating func feed(_ chunk: [UInt8], _ emit: (Piece) throws -> Void) rethrows {
        try chunk.withUnsafeBufferPointer { try feed($0, emit) }
    }
}
