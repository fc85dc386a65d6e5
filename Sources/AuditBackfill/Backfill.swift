import AuditAgent
import AuditModel
import AuditPolicy
import Foundation
import Logging
import OpenSSLKit
import ProcessLock
#if canImport(Glibc)
import Glibc
#endif

/// What `auditship backfill` does, without the command line.
public struct BackfillOptions: Sendable {
    public var cluster: String
    public var node: String
    public var stateDirectory: String
    public var paths: [String]
    /// Events whose order timestamp is before `since`, or at or after `until`, are skipped.
    public var since: Timestamp?
    public var until: Timestamp?
    /// Events per second at most (nil: as fast as the sink takes them).
    public var rateLimit: Double?
    public var policyFile: String?
    public var batchMaxEvents = 1000
    public var batchMaxBytes = 4 << 20
    public var maxLineBytes = 4 << 20
    /// Largest pretty-printed document (JSON array, EventList, single event) read whole, uncompressed.
    public var maxDocumentBytes = 1 << 30

    public init(cluster: String, node: String, stateDirectory: String, paths: [String]) {
        self.cluster = cluster
        self.node = node
        self.stateDirectory = stateDirectory
        self.paths = paths
    }
}

/// Where backfilled batches go: the aggregator (as an agent would ship them) or a store.
public protocol BackfillSink: AnyObject {
    /// Delivers one batch, retrying transient failures itself. Returns nil when stopping
    /// was requested before the batch was acknowledged (it is then not acknowledged).
    func deliver(_ events: [SourcedEvent], batchID: String) async throws -> BackfillDelivery?
}

/// What the sink did with a batch.
public struct BackfillDelivery: Sendable {
    public var stored: Int
    public var duplicates: Int
    /// Events refused: index into the batch, reason code, message.
    public var refused: [(index: Int, code: String, message: String)]
    public init(stored: Int, duplicates: Int, refused: [(index: Int, code: String, message: String)] = []) {
        self.stored = stored
        self.duplicates = duplicates
        self.refused = refused
    }
}

/// Counters of a backfill run, printed at the end.
public struct BackfillSummary: Sendable {
    public var files = 0
    public var filesAlreadyComplete = 0
    public var eventsRead = 0
    public var stored = 0
    public var duplicates = 0
    public var skippedByTime = 0
    public var droppedByPolicy = 0
    public var malformed = 0
    public var refused = 0
    /// Files that are not audit logs at all (their first line cannot start JSON).
    public var skippedFiles = 0
    public var bytesRead: Int64 = 0
    /// `file:line: reason` of the first problems.
    public var problems: [String] = []
    public var interrupted = false
    public var seconds: Double = 0

    mutating func problem(_ text: String) {
        if problems.count < 50 { problems.append(text) }
    }
}

/// Reads history files in order and ships them in batches, keeping a checkpoint per file
/// (by the SHA-256 of its first 64 KiB) that moves only after the sink acknowledged.
public final class Backfill {
    let options: BackfillOptions
    /// The state directory's lock, held while the backfill runs (one process per state directory).
    let stateLock: ProcessLock
    let sink: any BackfillSink
    let logger: Logger
    let shouldStop: () -> Bool
    let progress: BackfillProgress
    var state: BackfillState
    let policy: PolicyFilter?
    public internal(set) var summary = BackfillSummary()
    let started = ContinuousClock.now
    var rateStarted = ContinuousClock.now
    var rateEvents = 0
    /// Batches handed to the sink and not yet settled, oldest first (BackfillWindow.swift).
    var inFlight: [InFlightBatch] = []

    public init(options: BackfillOptions, sink: any BackfillSink, logger: Logger, progress: BackfillProgress,
                shouldStop: @escaping () -> Bool = { StopSignal.requested }) throws {
        self.options = options
        self.sink = sink
        self.logger = logger
        self.progress = progress
        self.shouldStop = shouldStop
        try FileManager.default.createDirectory(atPath: options.stateDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        self.stateLock = try ProcessLock.acquire(stateDirectory: options.stateDirectory, role: "auditship backfill")
        self.state = try BackfillState.load(directory: options.stateDirectory)
        self.policy = try options.policyFile.map { try PolicyFilter(policy: Agent.loadPolicy($0)) }
    }

    /// Runs over every input file; returns the summary (also when interrupted).
    public func run() async throws -> BackfillSummary {
        let files = try BackfillInputs.expand(options.paths)
        var totalBytes: Int64 = 0
        for f in files { totalBytes += fileSize(f) }
        progress.begin(files: files.count, bytes: totalBytes)
        for (i, path) in files.enumerated() {
            if shouldStop() { summary.interrupted = true; break }
            summary.files += 1
            progress.file(index: i, path: path)
            do {
                try await backfill(file: path)
            } catch let e as Interrupted {
                _ = e
                summary.interrupted = true
                break
            } catch {
                summary.problem("\(path): \(error)")
                logger.error("cannot backfill a file; going on with the next", metadata: ["file.path": "\(path)", "error": "\(error)"])
            }
        }
        summary.seconds = seconds(since: started)
        progress.finish(summary)
        return summary
    }

    struct Interrupted: Error {}

    func fileSize(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : 0
    }

    func seconds(since t: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - t
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// The key of a file's checkpoint: its first 64 KiB (compressed or not) and nothing else,
    /// so that a renamed or copied file is recognised and a grown file resumes.
    static func key(of path: String) throws -> String {
        let file = try OpenFile(path: path)
        var head = [UInt8](repeating: 0, count: 64 * 1024)
        let n = try file.read(into: &head, at: 0)
        return SHA256.hex(SHA256.hash(Array(head[..<n])))
    }

    func backfill(file path: String) async throws {
        let key = try Backfill.key(of: path)
        var record = state.files[key] ?? BackfillState.FileRecord(path: path)
        if record.complete {
            summary.filesAlreadyComplete += 1
            progress.advance(bytes: fileSize(path), events: 0)
            logger.debug("file already backfilled", metadata: ["file.path": "\(path)"])
            return
        }
        if record.document == nil {
            switch try kind(of: path) {
            case .lines: record.document = false
            case .document: record.document = true
            case .notJSON(let what):
                summary.skippedFiles += 1
                summary.problem("\(path): skipped: not an audit log (\(what))")
                logger.warning("file skipped: not an audit log", metadata: ["file.path": "\(path)", "detail": "\(what)"])
                record.complete = true
                state.files[key] = record
                try state.save(directory: options.stateDirectory)
                progress.advance(bytes: fileSize(path), events: 0)
                return
            }
        }
        problemsInFile = 0
        do {
            if record.document == true {
                try await backfillDocument(path, key: key, record: record)
            } else {
                try await backfillLines(path, key: key, record: record)
            }
            try await settleAll()
        } catch {
            // Batches already acknowledged still move the file's record; a later one is
            // delivered again by the next run (the store keeps it once).
            try? await settleAll()
            throw error
        }
        if problemsInFile > Backfill.problemsPerFile {
            summary.problem("\(path): \(problemsInFile - Backfill.problemsPerFile) more problems not listed")
        }
    }

    enum FileKind { case lines, document, notJSON(String) }

    /// JSON lines, unless the first non-blank line is not a JSON value on its own but opens
    /// one (a pretty-printed event, a JSON array, an EventList); a file whose first line
    /// cannot start JSON is not an audit log at all.
    func kind(of path: String) throws -> FileKind {
        struct Stop: Error {}
        var verdict = FileKind.lines
        do {
            try LogFileReader(path: path, maxLineBytes: options.maxLineBytes).forEachLine { piece in
                guard case .line(var bytes, _, _) = piece else { throw Stop() }
                if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
                guard let first = bytes.first(where: { ![0x20, 0x09, 0x0D].contains($0) }) else { return }
                let complete = bytes.withUnsafeBufferPointer { (try? EventScanner.validateJSON($0)) != nil }
                if !complete {
                    if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
                        verdict = .document
                    } else {
                        let c = first >= 0x20 && first < 0x7F ? "'\(Character(UnicodeScalar(first)))'" : String(format: "byte 0x%02x", first)
                        verdict = .notJSON("its first line starts with \(c), not JSON")
                    }
                }
                throw Stop()
            }
        } catch is Stop {}
        return verdict
    }

    static let problemsPerFile = 3
    var problemsInFile = 0

    func problem(_ text: String) {
        problemsInFile += 1
        if problemsInFile <= Backfill.problemsPerFile { summary.problem(text) }
    }

    func backfillLines(_ path: String, key: String, record start: BackfillState.FileRecord) async throws {
        var record = start
        let file = try OpenFile(path: path)
        let (identity, _) = try file.identity()
        let compressed = try LogFileReader.isGzip(path: path)
        let source: FileSource = compressed ? .gzip(try GzipFileReader(file: file)) : .plain(file)
        let tailed = TailedFile(path: path, source: source, identity: identity, offset: record.offset, line: record.line,
                                maxLineBytes: options.maxLineBytes)
        if record.offset > 0 {
            logger.info("resuming file", metadata: ["file.path": "\(path)", "file.line": "\(record.line)"])
        }
        var lastBytes = tailed.bytesRead
        var finished = false
        while !finished {
            if shouldStop() { throw Interrupted() }
            var batch: [SourcedEvent] = []
            var quarantined: [QuarantinedLine] = []
            var bytes = 0
            while batch.count < options.batchMaxEvents && bytes < options.batchMaxBytes {
                let before = batch.count
                let readAny = try tailed.read(fileIndex: 0, eventBudget: options.batchMaxEvents - batch.count,
                                              byteBudget: options.batchMaxBytes - bytes, events: &batch, quarantined: &quarantined)
                for e in batch[before...] { bytes += e.bytes.count }
                if !readAny && tailed.reachedEnd {
                    tailed.flushPartialLine(fileIndex: 0, events: &batch, quarantined: &quarantined)
                    finished = true
                    break
                }
            }
            for q in quarantined {
                if q.reason == "not_an_event", let content = q.content, let unwrapped = unwrapEnvelope(content, at: "\(path):\(q.line)") {
                    batch.append(contentsOf: unwrapped.map { SourcedEvent(bytes: $0.0, summary: $0.1, fileIndex: 0, line: q.line) })
                    continue
                }
                summary.malformed += 1
                problem("\(path):\(q.line): \(q.reason): \(q.message)")
            }
            // Progress counts bytes on disk: a compressed file counts when it is done.
            progress.advance(bytes: compressed ? (finished ? fileSize(path) : 0) : tailed.bytesRead - lastBytes, events: 0)
            summary.bytesRead += tailed.bytesRead - lastBytes
            lastBytes = tailed.bytesRead
            let batchID = "\(key.prefix(16))-\(record.line)"
            record.offset = tailed.consumedOffset
            record.line = tailed.readLine
            if finished { record.complete = true }
            try await ship(&batch, path: path, batchID: batchID, key: key, then: record)
        }
    }

    func backfillDocument(_ path: String, key: String, record start: BackfillState.FileRecord) async throws {
        var record = start
        var bytes: [UInt8] = []
        var tooLarge = false
        try LogFileReader(path: path, maxLineBytes: options.maxDocumentBytes).forEachLine { piece in
            switch piece {
            case .line(let line, _, _):
                if bytes.count + line.count > options.maxDocumentBytes { tooLarge = true; return }
                bytes.append(contentsOf: line)
                bytes.append(0x0A)
            case .oversize:
                tooLarge = true
            }
        }
        summary.bytesRead += Int64(bytes.count)
        progress.advance(bytes: fileSize(path), events: 0)
        if tooLarge {
            summary.malformed += 1
            summary.problem("\(path): document larger than \(options.maxDocumentBytes) bytes; not read")
            return
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        let ranges: [Range<Int>]
        do {
            ranges = try EventListScanner.documentItems(bytes)
        } catch {
            summary.malformed += 1
            summary.problem("\(path): not JSON lines, and not a JSON document: \(error.message) (at byte \(error.offset))")
            record.complete = true
            state.files[key] = record
            try state.save(directory: options.stateDirectory)
            return
        }
        var index = Int(record.line)
        while index < ranges.count {
            if shouldStop() { throw Interrupted() }
            let end = min(ranges.count, index + options.batchMaxEvents)
            var batch: [SourcedEvent] = []
            for i in index..<end {
                let item = JSONText.compact(bytes[ranges[i]])
                do {
                    let summary = try EventScanner.scan(item)
                    batch.append(SourcedEvent(bytes: item, summary: summary, fileIndex: 0, line: Int64(i + 1)))
                } catch {
                    if error.code == .notAnEvent, let unwrapped = unwrapEnvelope(item, at: "\(path): item \(i + 1)") {
                        batch.append(contentsOf: unwrapped.map { SourcedEvent(bytes: $0.0, summary: $0.1, fileIndex: 0, line: Int64(i + 1)) })
                        continue
                    }
                    self.summary.malformed += 1
                    problem("\(path): item \(i + 1): \(error.code.rawValue): \(error.message)")
                }
            }
            let batchID = "\(key.prefix(16))-item-\(index)"
            index = end
            record.line = Int64(index)
            if index >= ranges.count { record.complete = true }
            try await ship(&batch, path: path, batchID: batchID, key: key, then: record)
        }
        if ranges.isEmpty {
            record.complete = true
            state.files[key] = record
            try state.save(directory: options.stateDirectory)
        }
    }

    /// The events inside an Azure diagnostic-log envelope (`{"records": [{"properties": {"log": "EVENT"}}]}`,
    /// or one record): `log` is a JSON string holding the apiserver's line, whose bytes are kept exactly.
    /// Nil when `bytes` is no such envelope. A record whose `log` is not an event is counted and reported.
    func unwrapEnvelope(_ bytes: [UInt8], at place: String) -> [([UInt8], EventSummary)]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return nil }
        let records: [Any]
        if let list = object["records"] as? [Any] {
            records = list
        } else if object["properties"] is [String: Any] {
            records = [object]
        } else {
            return nil
        }
        // Where each record's log is in the line: an object log is kept as the bytes it has there.
        let ranges = (try? bytes.withUnsafeBufferPointer { (p) throws(ScanError) in try AzureEnvelope.logValues(p) }) ?? nil
        var events: [([UInt8], EventSummary)] = []
        for (i, record) in records.enumerated() {
            let value = ((record as? [String: Any])?["properties"] as? [String: Any])?["log"]
            var line: [UInt8]
            if let log = value as? String {
                // The string is the apiserver's line, often with its newline: that terminator (and any
                // whitespace between tokens of a pretty-printed event) is not part of the event.
                line = Array(log.utf8)
            } else if value is [String: Any], let ranges, i < ranges.count, let range = ranges[i] {
                line = Array(bytes[range])
            } else {
                summary.malformed += 1
                problem("\(place): record \(i + 1): no properties.log (a string or an object) holding an event")
                continue
            }
            if line.contains(0x0A) || line.contains(0x0D) { line = JSONText.compact(line[...]) }
            do {
                events.append((line, try EventScanner.scan(line)))
            } catch {
                summary.malformed += 1
                problem("\(place): record \(i + 1): \(error.code.rawValue): \(error.message)")
            }
        }
        return events
    }

    /// Applies the time range and the policy, waits for the rate limit, and delivers; `record` is
    /// the file's record once this batch is acknowledged (saved in batch order, BackfillWindow.swift).
    func ship(_ batch: inout [SourcedEvent], path: String, batchID: String, key: String, then record: BackfillState.FileRecord) async throws {
        summary.eventsRead += batch.count
        var kept: [SourcedEvent] = []
        kept.reserveCapacity(batch.count)
        for var e in batch {
            let ts = e.summary.orderTimestamp
            if let since = options.since, ts < since { summary.skippedByTime += 1; continue }
            if let until = options.until, ts >= until { summary.skippedByTime += 1; continue }
            if let policy {
                switch try policy.apply(e.bytes, e.summary).0 {
                case .keep: break
                case .rewrite(let b): e.bytes = b
                case .drop: summary.droppedByPolicy += 1; continue
                }
            }
            kept.append(e)
        }
        progress.advance(bytes: 0, events: batch.count)
        guard !kept.isEmpty else {
            try await enqueueNothing(path: path, key: key, record: record)
            return
        }
        if let rate = options.rateLimit, rate > 0 {
            rateEvents += kept.count
            let due = Double(rateEvents) / rate
            let ahead = due - seconds(since: rateStarted)
            if ahead > 0 { try await Task.sleep(for: .milliseconds(Int(ahead * 1000))) }
        }
        try await enqueue(kept, batchID: batchID, path: path, key: key, record: record)
    }
}
