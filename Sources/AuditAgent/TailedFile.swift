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

/// A file being tailed: where reading stands, where acknowledgement stands.
///
/// Reading runs ahead of acknowledgement; the checkpoint only ever holds the
/// acknowledged position.
public final class TailedFile {
    public let path: String
    public private(set) var file: OpenFile
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
    /// The file size last seen, for lag.
    public private(set) var lastSize: Int64 = 0

    public init(path: String, file: OpenFile, identity: FileIdentity, offset: Int64, line: Int64,
                maxLineBytes: Int, scanLimits: ScanLimits = .default, chunkBytes: Int = 256 * 1024) {
        self.path = path
        self.file = file
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

    /// Offset after the last complete line read.
    public var consumedOffset: Int64 { splitter.consumedOffset }

    /// True when everything in the file up to its current size has been read
    /// into complete lines (a partial last line does not count as caught up).
    public var caughtUp: Bool { readOffset >= lastSize && !splitter.hasPartialLine }

    /// Bytes written to the file but not yet acknowledged.
    public var unacknowledgedBytes: Int64 { max(0, lastSize - ackedOffset) }

    /// Reads new data, appending well-formed events to `events` until about
    /// `byteBudget` bytes or `eventBudget` events were added. Malformed or
    /// oversize lines go to `quarantined`.
    /// - Returns: true when any bytes were read.
    @discardableResult
    public func read(fileIndex: Int, eventBudget: Int, byteBudget: Int,
                     events: inout [SourcedEvent], quarantined: inout [QuarantinedLine]) throws(FileError) -> Bool {
        var (current, size) = try file.identity()
        if current.fingerprintLength > identity.fingerprintLength && current.device == identity.device && current.inode == identity.inode {
            identity = current  // a small file grew: widen its fingerprint
        }
        lastSize = size
        if size < readOffset {
            // Truncated under us (copytruncate): start again from the beginning.
            quarantined.append(QuarantinedLine(path: path, line: readLine, offset: readOffset, reason: "truncated",
                                               message: "file shrank from \(readOffset) to \(size) bytes; reading again from 0", content: nil))
            splitter = LineSplitter(maxLineBytes: maxLineBytes, offset: 0)
            readOffset = 0
            readLine = 0
            ackedOffset = 0
            ackedLine = 0
            (current, size) = try file.identity()
            identity = current
            lastSize = size
        }
        var readAny = false
        var addedEvents = 0
        var addedBytes = 0
        while readOffset < size && addedEvents < eventBudget && addedBytes < byteBudget {
            let n = try file.read(into: &chunk, at: readOffset)
            if n == 0 { break }
            readAny = true
            readOffset += Int64(n)
            let path = self.path
            chunk.withUnsafeBufferPointer { buf in
                splitter.feed(UnsafeBufferPointer(rebasing: buf[0..<n])) { piece in
                    readLine += 1
                    switch piece {
                    case .line(let bytes, let start, _):
                        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
                        do throws(ScanError) {
                            let summary = try EventScanner.scan(bytes, limits: scanLimits)
                            events.append(SourcedEvent(bytes: bytes, summary: summary, fileIndex: fileIndex, line: readLine))
                            addedEvents += 1
                            addedBytes += bytes.count
                        } catch {
                            quarantined.append(QuarantinedLine(path: path, line: readLine, offset: start, reason: error.code.rawValue,
                                                               message: error.message + " (at byte \(error.offset) of the line)", content: bytes))
                        }
                    case .oversize(let start, let end):
                        quarantined.append(QuarantinedLine(path: path, line: readLine, offset: start, reason: ScanError.Code.tooLarge.rawValue,
                                                           message: "line of \(end - start - 1) bytes exceeds the limit of \(maxLineBytes) bytes", content: nil))
                    }
                }
            }
        }
        return readAny
    }

    /// Switches to a new file at the same path (after a rotation), from its start.
    public func reopen(_ newFile: OpenFile, identity newIdentity: FileIdentity) {
        file = newFile
        identity = newIdentity
        splitter = LineSplitter(maxLineBytes: maxLineBytes, offset: 0)
        readOffset = 0
        readLine = 0
        ackedOffset = 0
        ackedLine = 0
        lastSize = 0
    }

    /// The checkpoint record for the acknowledged position.
    public var checkpoint: CheckpointRecord {
        CheckpointRecord(path: path, identity: identity, offset: ackedOffset, line: ackedLine)
    }
}
