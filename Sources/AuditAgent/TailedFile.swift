import AuditModel

/// One line read from a file that still has to be shipped.
public struct SourcedEvent: Sendable {
    public var bytes: [UInt8]
    /// The fields read from `bytes` when they were read from the file.
    public var summary: EventSummary
    /// Index of the file in the agent's file table.
    public var fileIndex: Int
    /// 1-based line number in the file.
    public var line: Int64

    public init(bytes: [UInt8], summary: EventSummary, fileIndex: Int, line: Int64) {
        self.bytes = bytes
        self.summary = summary
        self.fileIndex = fileIndex
        self.line = line
    }
}

/// A quarantined line, to be recorded and counted.
public struct QuarantinedLine: Sendable {
    public var path: String
    public var line: Int64
    public var offset: Int64
    public var reason: String
    public var message: String
    public var content: [UInt8]?
}

/// Where a tailed file's bytes come from.
public enum FileSource {
    /// A plain file, read with pread; it may still grow.
    case plain(OpenFile)
    /// A gzip backup, decompressed sequentially; it does not grow.
    case gzip(GzipFileReader)

    var openFile: OpenFile {
        switch self {
        case .plain(let f): return f
        case .gzip(let g): return g.file
        }
    }
}

/// A file being tailed: where reading stands, where acknowledgement stands.
///
/// Reading runs ahead of acknowledgement; the checkpoint only ever holds the
/// acknowledged position. Offsets are in uncompressed bytes.
public final class TailedFile {
    /// Where the file is now (it changes when the file is rotated).
    public var path: String
    public let source: FileSource
    public private(set) var identity: FileIdentity
    /// Offset after the last acknowledged byte (what the checkpoint holds).
    public var ackedOffset: Int64
    public var ackedLine: Int64
    /// Lines completed by the splitter so far.
    public private(set) var readLine: Int64
    private var splitter: LineSplitter
    private var readOffset: Int64
    private var chunk: [UInt8]
    private let maxLineBytes: Int
    private let scanLimits: ScanLimits
    /// The file size last seen (plain files), for lag.
    public private(set) var lastSize: Int64 = 0
    /// True once a read found no more data (for gzip: the end of the stream).
    public private(set) var reachedEnd = false
    /// Total bytes read from this file by this process.
    public private(set) var bytesRead: Int64 = 0
    /// Set when the file was truncated under us: what it was and how far it had been read.
    public var truncation: (identity: FileIdentity, offset: Int64, line: Int64)?
    /// Counts truncations: a read position taken before one does not apply after it.
    public private(set) var generation = 0
    /// Set when the file at the live path is no longer this file (renamed or deleted by
    /// rotation) although its new name was not seen: it will not grow, and files opened
    /// after it may be read once it is read to its end.
    public var rotatedAway = false
    /// When the file was last seen with nothing left to read or acknowledge.
    public var lastCaughtUp: ContinuousClock.Instant = .now
    /// When the file was last read to its end (for the read lag).
    public var lastReadToEnd: ContinuousClock.Instant = .now

    public init(path: String, source: FileSource, identity: FileIdentity, offset: Int64, line: Int64,
                maxLineBytes: Int, scanLimits: ScanLimits = .default, chunkBytes: Int = 256 * 1024) {
        self.path = path
        self.source = source
        self.identity = identity
        self.ackedOffset = offset
        self.ackedLine = line
        self.readLine = line
        self.readOffset = offset
        self.splitter = LineSplitter(maxLineBytes: maxLineBytes, offset: offset)
        self.chunk = [UInt8](repeating: 0, count: chunkBytes)
        self.maxLineBytes = maxLineBytes
        self.scanLimits = scanLimits
    }

    /// A plain file (convenience for tests and the live file).
    public convenience init(path: String, file: OpenFile, identity: FileIdentity, offset: Int64, line: Int64,
                            maxLineBytes: Int, scanLimits: ScanLimits = .default, chunkBytes: Int = 256 * 1024) {
        self.init(path: path, source: .plain(file), identity: identity, offset: offset, line: line,
                  maxLineBytes: maxLineBytes, scanLimits: scanLimits, chunkBytes: chunkBytes)
    }

    public var isCompressed: Bool { if case .gzip = source { return true } else { return false } }

    /// Offset after the last complete line read.
    public var consumedOffset: Int64 { splitter.consumedOffset }

    /// True when everything in the file so far has been read into complete
    /// lines (a partial last line does not count as caught up).
    public var caughtUp: Bool {
        switch source {
        case .plain: return readOffset >= lastSize && !splitter.hasPartialLine
        case .gzip(let g): return g.reachedEnd && !splitter.hasPartialLine
        }
    }

    /// Everything read is acknowledged and nothing more is known to be there.
    public var settled: Bool { caughtUp && consumedOffset == ackedOffset }

    /// Bytes written to the file but not yet acknowledged (plain files; 0 for gzip when unknown).
    public var unacknowledgedBytes: Int64 {
        switch source {
        case .plain: return max(0, lastSize - ackedOffset)
        case .gzip(let g): return g.reachedEnd ? max(0, readOffset - ackedOffset) : max(0, readOffset - ackedOffset)
        }
    }

    /// At the end of a rotated-away file, a trailing line without a newline
    /// will never be completed: deliver it as a line.
    public func flushPartialLine(fileIndex: Int, events: inout [SourcedEvent], quarantined: inout [QuarantinedLine]) {
        flushPartialLine(summaries: true, quarantined: &quarantined) { bytes, summary, line in
            events.append(SourcedEvent(bytes: Array(bytes), summary: summary, fileIndex: fileIndex, line: line))
        }
    }

    /// ``flushPartialLine(fileIndex:events:quarantined:)``, lending the line to `accept` as ``read(eventBudget:byteBudget:summaries:quarantined:accept:)`` does.
    public func flushPartialLine(summaries: Bool, quarantined: inout [QuarantinedLine],
                                 accept: (UnsafeBufferPointer<UInt8>, EventSummary, Int64) -> Void) {
        guard splitter.hasPartialLine else { return }
        let newline: [UInt8] = [0x0A]
        newline.withUnsafeBufferPointer { nl in
            splitter.feedBorrowing(nl) { piece in
                _ = handle(piece, summaries: summaries, quarantined: &quarantined, accept: accept)
            }
        }
    }

    /// Reads new data, appending well-formed events to `events` until about
    /// `byteBudget` bytes or `eventBudget` events were added. Malformed or
    /// oversize lines go to `quarantined`.
    /// - Returns: true when any bytes were read.
    @discardableResult
    public func read(fileIndex: Int, eventBudget: Int, byteBudget: Int,
                     events: inout [SourcedEvent], quarantined: inout [QuarantinedLine]) throws -> Bool {
        try read(eventBudget: eventBudget, byteBudget: byteBudget, summaries: true, quarantined: &quarantined) { bytes, summary, line in
            events.append(SourcedEvent(bytes: Array(bytes), summary: summary, fileIndex: fileIndex, line: line))
        }
    }

    /// Reads new data and lends each well-formed event to `accept` (its bytes, valid only during
    /// the call, its summary, its line number) until about `byteBudget` bytes or `eventBudget`
    /// events were accepted; no event is copied here. With `summaries` false an event is only
    /// validated (exactly as a scan would) and `accept` gets an empty summary. Malformed or
    /// oversize lines go to `quarantined`.
    /// - Returns: true when any bytes were read.
    @discardableResult
    public func read(eventBudget: Int, byteBudget: Int, summaries: Bool, quarantined: inout [QuarantinedLine],
                     accept: (UnsafeBufferPointer<UInt8>, EventSummary, Int64) -> Void) throws -> Bool {
        if case .plain(let file) = source {
            let (current, size) = try file.identity()
            lastSize = size
            // Truncated, or truncated and written again past where we were: the first bytes changed.
            var rewritten = false
            if identity.fingerprintLength > 0 && current.device == identity.device && current.inode == identity.inode {
                if current.fingerprintLength == identity.fingerprintLength {
                    rewritten = current.fingerprint != identity.fingerprint
                } else if current.fingerprintLength > identity.fingerprintLength {
                    rewritten = try file.fingerprint(length: identity.fingerprintLength) != identity.fingerprint
                } else {
                    rewritten = true  // shorter than its fingerprint: it shrank
                }
            }
            if size < readOffset || rewritten {
                // Truncated under us (copytruncate, or `> file`): start again from the beginning.
                truncation = (identity, splitter.consumedOffset, readLine)
                generation += 1
                quarantined.append(QuarantinedLine(path: path, line: readLine, offset: readOffset, reason: "truncated",
                                                   message: "file was truncated (it had \(readOffset) bytes read, now holds \(size)); reading it again from 0", content: nil))
                splitter = LineSplitter(maxLineBytes: maxLineBytes, offset: 0)
                readOffset = 0
                readLine = 0
                ackedOffset = 0
                ackedLine = 0
                identity = try file.identity().identity
            } else if current.fingerprintLength > identity.fingerprintLength && current.device == identity.device && current.inode == identity.inode {
                identity = current  // a small file grew: widen its fingerprint
            }
        }
        var readAny = false
        var added = (events: 0, bytes: 0)
        while added.events < eventBudget && added.bytes < byteBudget {
            let n: Int
            switch source {
            case .plain(let f):
                if readOffset >= lastSize { reachedEnd = true; n = 0 } else { n = try f.read(into: &chunk, at: readOffset) }
            case .gzip(let g):
                n = try g.read(into: &chunk, at: readOffset)
            }
            if n == 0 { reachedEnd = true; break }
            reachedEnd = false
            readAny = true
            readOffset += Int64(n)
            bytesRead += Int64(n)
            chunk.withUnsafeBufferPointer { buf in
                splitter.feedBorrowing(UnsafeBufferPointer(rebasing: buf[0..<n])) { piece in
                    if let bytes = handle(piece, summaries: summaries, quarantined: &quarantined, accept: accept) {
                        added.events += 1
                        added.bytes += bytes
                    }
                }
            }
        }
        if case .gzip = source { lastSize = readOffset }
        return readAny
    }

    /// What `accept` gets without summaries: one empty value, not one made and destroyed per event.
    private static let noSummary = EventSummary()

    /// Handles one piece; returns the event's size when an event was accepted.
    private func handle(_ piece: LineSplitter.BorrowedPiece, summaries: Bool, quarantined: inout [QuarantinedLine],
                        accept: (UnsafeBufferPointer<UInt8>, EventSummary, Int64) -> Void) -> Int? {
        readLine += 1
        switch piece {
        case .line(let bytes, let start, _):
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return nil }
            do throws(ScanError) {
                if summaries {
                    accept(bytes, try EventScanner.scan(bytes, limits: scanLimits), readLine)
                } else {
                    try EventScanner.validate(bytes, limits: scanLimits)
                    accept(bytes, Self.noSummary, readLine)
                }
                return bytes.count
            } catch {
                quarantined.append(QuarantinedLine(path: path, line: readLine, offset: start, reason: error.code.rawValue,
                                                   message: error.message + " (at byte \(error.offset) of the line)", content: Array(bytes)))
                return nil
            }
        case .oversize(let start, let end):
            quarantined.append(QuarantinedLine(path: path, line: readLine, offset: start, reason: ScanError.Code.tooLarge.rawValue,
                                               message: "line of \(end - start - 1) bytes exceeds the limit of \(maxLineBytes) bytes", content: nil))
            return nil
        }
    }

    /// The checkpoint record for the acknowledged position.
    public func checkpoint(complete: Bool) -> CheckpointRecord {
        var r = CheckpointRecord(path: path, identity: identity, offset: ackedOffset, line: ackedLine)
        r.complete = complete ? true : nil
        return r
    }
}
