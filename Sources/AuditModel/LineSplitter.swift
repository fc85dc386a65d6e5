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

    /// A piece whose line is lent for the duration of the call: a line wholly inside the chunk
    /// is a view of the chunk's bytes, one that spans chunks is a view of the splitter's buffer.
    public enum BorrowedPiece {
        case line(UnsafeBufferPointer<UInt8>, start: Int64, end: Int64)
        case oversize(start: Int64, end: Int64)
    }

    /// Feeds a chunk and calls `emit` for each piece it completes, in order, lending each line's
    /// bytes instead of copying them (only the piece of a line that spans chunks is buffered).
    ///
    /// Typed throws, not `rethrows`: a `rethrows` function lending a buffer through the standard
    /// library's typed-throws `withUnsafeBufferPointer` lost the consumer's error in debug builds
    /// (Swift 6.3) and left a misaligned stack behind (`LineSplitterThrowingTests`).
    public mutating func feedBorrowing<E: Error>(_ chunk: UnsafeBufferPointer<UInt8>, _ emit: (BorrowedPiece) throws(E) -> Void) throws(E) {
        guard let base = chunk.baseAddress else { return }
        var i = 0
        let n = chunk.count
        while i < n {
            // memchr: the C library's vectorized search, at memory speed.
            var j = n
            if let hit = memchr(base + i, 0x0A, n - i) {
                j = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            }
            let segment = UnsafeBufferPointer(rebasing: chunk[i..<j])
            let whole = lineLength == 0 && j < n
            if !overflowing && !whole {
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
            if overflowing || (whole && segment.count > maxLineBytes) {
                try emit(.oversize(start: pendingStart, end: end))
            } else if whole {
                try emit(.line(Self.trimmingCR(segment), start: pendingStart, end: end))
            } else {
                // Lent from a local, so that `emit` never overlaps an access to the splitter.
                var line = pending
                pending = []
                let start = pendingStart
                try line.withUnsafeBufferPointer { (buf) throws(E) in try emit(.line(Self.trimmingCR(buf), start: start, end: end)) }
                if line.capacity <= 64 * 1024 {
                    line.removeAll(keepingCapacity: true)
                    pending = line
                }
            }
            overflowing = false
            lineLength = 0
            pendingStart = end
            i = j + 1
        }
    }

    private static func trimmingCR(_ line: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        line.last == 0x0D ? UnsafeBufferPointer(rebasing: line.dropLast()) : line
    }

    /// Feeds a chunk and calls `emit` for each piece it completes, in order, each line copied out.
    public mutating func feed<E: Error>(_ chunk: UnsafeBufferPointer<UInt8>, _ emit: (Piece) throws(E) -> Void) throws(E) {
        try feedBorrowing(chunk) { (piece) throws(E) in
            switch piece {
            case .line(let bytes, let start, let end): try emit(.line(bytes: Array(bytes), start: start, end: end))
            case .oversize(let start, let end): try emit(.oversize(start: start, end: end))
            }
        }
    }

    /// Feeds an array chunk.
    public mutating func feed<E: Error>(_ chunk: [UInt8], _ emit: (Piece) throws(E) -> Void) throws(E) {
        try chunk.withUnsafeBufferPointer { (buf) throws(E) in try feed(buf, emit) }
    }
}
