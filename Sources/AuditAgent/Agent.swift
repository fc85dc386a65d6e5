import AuditModel
import AuditPolicy
import AuditWire
import Foundation
import Gzip
import Logging
import ProcessLock
#if canImport(Glibc)
import Glibc
#endif

/// The agent: tails audit files, batches their events, ships them, and
/// advances each file's checkpoint only after the aggregator acknowledged
/// the batch holding its events (at-least-once, never skipping).
///
/// The loop is plain synchronous code on one thread: read → batch → ship →
/// checkpoint. While a batch is being retried, reading pauses: the files
/// themselves are the buffer.
public final class Agent {
    public let configuration: AgentConfiguration
    let logger: Logger
    let shouldStop: () -> Bool
    var sources: [LogSource] = []
    /// Every open file by id (ids are what batches refer to).
    var filesByID: [Int: TailedFile] = [:]
    var fileIDs: [ObjectIdentifier: Int] = [:]
    var nextFileID = 0
    var knownRecords: [CheckpointRecord] = []
    /// Files already classified, by path, with the inode and size they had then, and their stamp
    /// (a verdict holds only while the stamp does: inodes are reused).
    var classified: [String: (device: UInt64, inode: UInt64, size: Int64, verdict: FileVerdict, stamp: FileStamp)] = [:]
    /// First bytes of files on disk, by path, for fingerprint matching (valid while device and inode match).
    var prefixes: [String: FilePrefix] = [:]
    var roundRobin = 0
    /// The state directory's lock, held for the agent's life (one process per state directory).
    let stateLock: ProcessLock
    let checkpointFile: CheckpointFile
    /// Set while the spool cannot be written (a full disk): since when, and why. Reading pauses
    /// behind the batch in hand, which is offered to the aggregator and the spool again.
    var spoolWriteFailing: (since: Date, error: String)?
    var spoolRetryAt = ContinuousClock.now
    /// Set while checkpoints cannot be written; logged when it starts and when it ends.
    var checkpointWriteFailing = false
    let quarantine: Quarantine
    var shipper: Shipper
    let spool: Spool
    var policy: PolicyFilter?
    public private(set) var stats = AgentStats()
    public let metrics = AgentMetrics()
    var metricsServer: MetricsServer?
    let stopClock: StopClock
    var checkpointWrites = 0
    var lastAcknowledgement: Date?
    let started = Date()

    public init(configuration: AgentConfiguration, logger: Logger, shouldStop: @escaping () -> Bool = { StopSignal.requested }) throws {
        self.configuration = configuration
        self.logger = logger
        self.shouldStop = shouldStop
        try FileManager.default.createDirectory(atPath: configuration.stateDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        // Before anything reads or writes the state: a second agent (a unit left running beside the
        // DaemonSet) or a backfill on the same directory would race on checkpoints and the spool.
        self.stateLock = try ProcessLock.acquire(stateDirectory: configuration.stateDirectory, role: "auditship agent")
        self.checkpointFile = CheckpointFile(directory: configuration.stateDirectory)
        self.quarantine = Quarantine(directory: configuration.stateDirectory, maxBytes: configuration.quarantineMaxBytes)
        self.spool = try Spool(directory: configuration.stateDirectory + "/spool", maxBytes: configuration.spoolMaxBytes)
        let stopClock = StopClock(timeout: .milliseconds(configuration.shutdownTimeoutMilliseconds), stopRequested: shouldStop)
        self.stopClock = stopClock
        self.shipper = try Shipper(configuration: configuration, logger: logger)
        if let file = configuration.policyFile {
            self.policy = try PolicyFilter(policy: Agent.loadPolicy(file))
        }
    }

    /// Reads and parses a policy file; errors name the file, line and column.
    public static func loadPolicy(_ path: String) throws -> AuditPolicy {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileError(path: path, operation: "read policy", errno: errno)
        }
        return try AuditPolicy.parse(yaml: String(decoding: data, as: UTF8.self), source: path)
    }

    func reloadPolicy() {
        guard let file = configuration.policyFile else {
            logger.info("SIGHUP: no --policy configured, nothing to reload")
            return
        }
        do {
            policy = try PolicyFilter(policy: Agent.loadPolicy(file))
            logger.info("policy reloaded", metadata: ["policy.file": "\(file)", "policy.rules": "\(policy?.policy.rules.count ?? 0)"])
        } catch {
            logger.error("new policy refused; the previous policy stays in force", metadata: ["policy.file": "\(file)", "error": "\(error)"])
        }
    }

    /// Applies the policy to events read in this pass (from index `from`).
    func applyPolicy(_ batch: inout [SourcedEvent], from: Int) {
        guard let policy, from < batch.count else { return }
        var kept: [SourcedEvent] = []
        kept.reserveCapacity(batch.count - from)
        for var e in batch[from...] {
            do {
                let (outcome, underLogged) = try policy.apply(e.bytes, e.summary)
                if underLogged { stats.underLogged += 1 }
                switch outcome {
                case .keep:
                    kept.append(e)
                case .rewrite(let bytes):
                    stats.policyBytesSaved += e.bytes.count - bytes.count
                    e.bytes = bytes
                    kept.append(e)
                case .drop(let rule, let reason):
                    stats.policyDropped += 1
                    stats.policyBytesSaved += e.bytes.count
                    stats.policyDroppedByRule[rule.map { String($0) } ?? "none", default: 0] += 1
                    logger.trace("event dropped by policy", metadata: ["rule": "\(rule.map { String($0) } ?? "none")", "reason": "\(reason.rawValue)"])
                }
            } catch {
                // Scanned once already; an edit failure means a bug, and the event is shipped unedited rather than lost.
                logger.error("policy could not edit an event; shipping it unedited", metadata: ["file.line": "\(e.line)", "error": "\(error)"])
                kept.append(e)
            }
        }
        batch.replaceSubrange(from..., with: kept)
    }

    /// Runs until stopped (or, with `exitWhenCaughtUp`, until every file is shipped to its end).
    public func run() throws {
        let loaded = checkpointFile.load()
        for w in loaded.warnings { logger.error("\(w)") }
        knownRecords = loaded.records
        if let listen = configuration.metricsListen {
            let (host, port) = try Agent.hostPort(listen)
            let metrics = self.metrics
            let server = try MetricsServer(host: host, port: port, metrics: metrics) {
                let s = metrics.snapshot
                let elapsed = ContinuousClock.now - s.lastLoopInstant
                let idle = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                return idle < 30 ? (true, "ok") : (false, "agent loop stalled for \(Int(idle)) s")
            }
            server.start()
            metricsServer = server
            logger.info("metrics listening", metadata: ["address": "\(host):\(server.port)"])
        }
        logger.info("agent starting", metadata: [
            "cluster": "\(configuration.cluster)", "node": "\(configuration.node)",
            "paths": "\(configuration.paths)", "checkpoints": "\(knownRecords.count)", "spool.batches": "\(spool.count)",
        ])
        var batch: [SourcedEvent] = []
        var batchBytes = 0
        var batchStarted: ContinuousClock.Instant?
        let linger = Duration.milliseconds(configuration.batchLingerMilliseconds)
        var spoolFullReported = false
        while true {
            if ReloadSignal.take() { reloadPolicy() }
            let stopping = shouldStop()
            discoverFiles()
            var discovered = ContinuousClock.now
            let rediscoverAfter = Duration.milliseconds(configuration.pollIntervalMilliseconds)
            var readAny = false
            var quarantined: [QuarantinedLine] = []
            // 1. Read, unless stopping or the spool is full (then the files are the buffer).
            //    While batches wait in the spool, reading keeps pace with the writer: every
            //    full batch goes to the spool at once, and reading goes on until caught up,
            //    so that rotation cannot delete what was not read.
            var spoolFull = spool.isFull
            if spoolFull && !spoolFullReported {
                logger.error("spool full: reading paused until the aggregator accepts batches again; rotated files may be deleted before they are read",
                             metadata: ["spool.bytes": "\(spool.bytes)", "spool.max_bytes": "\(spool.maxBytes)"])
            }
            spoolFullReported = spoolFull
            var rounds = 0
            while !stopping && !spoolFull && !sources.isEmpty && rounds < 64 {
                rounds += 1
                // Catching up can take seconds; meanwhile the writer may rotate several times and
                // delete backups. Look for new files as often as when idle, so that each one is
                // opened (and so kept readable) before rotation can delete it unseen.
                if ContinuousClock.now - discovered >= rediscoverAfter {
                    discoverFiles()
                    discovered = ContinuousClock.now
                }
                let readThisRound = readRound(&batch, &batchBytes, &quarantined)
                readAny = readAny || readThisRound
                let full = batch.count >= configuration.batchMaxEvents || batchBytes >= configuration.batchMaxBytes
                let behind = !sources.allSatisfy { $0.files.allSatisfy { $0.caughtUp } }
                guard full && readThisRound && (!spool.isEmpty || behind) else { break }
                // Behind the writer, or batches already waiting: spool the full batch and keep
                // reading, so that shipping (slow, or failing) never holds reading back.
                if !deliver(batch, spoolOnly: true) { break }
                batch.removeAll(keepingCapacity: true)
                batchBytes = 0
                batchStarted = nil
                advanceCheckpoints(toConsumed: true)
                spoolFull = spool.isFull
            }
            for q in quarantined { record(q) }
            if !batch.isEmpty && batchStarted == nil { batchStarted = .now }
            let full = batch.count >= configuration.batchMaxEvents || batchBytes >= configuration.batchMaxBytes
            let lingered = batchStarted.map { ContinuousClock.now - $0 >= linger } ?? false
            let allCaughtUp = sources.allSatisfy { $0.files.allSatisfy { $0.caughtUp } }
            // 2. Spooled batches are delivered in order, one attempt per pass, when their retry time has come.
            if !spool.isEmpty && ContinuousClock.now >= nextAttempt && !stopClock.expired {
                _ = drainSpoolHead()
            }
            // 3. Cut the batch: send it when nothing is spooled, else (or on failure) spool it.
            if !batch.isEmpty && (full || lingered || stopping || (configuration.exitWhenCaughtUp && allCaughtUp)) {
                if !deliver(batch) {
                    // Neither delivered nor spooled: while stopping it stays unacknowledged (read again at the
                    // next start); otherwise (the spool's disk is full) it is kept and offered again.
                    if stopping || spoolWriteFailing == nil { break }
                    publishSnapshot()
                    usleep(useconds_t(max(100, configuration.pollIntervalMilliseconds) * 1000))
                    continue
                }
                batch.removeAll(keepingCapacity: true)
                batchBytes = 0
                batchStarted = nil
                advanceCheckpoints(toConsumed: true)
                continue
            }
            if batch.isEmpty {
                // Quarantined or policy-dropped lines with nothing in flight can be passed by the checkpoint now.
                advanceCheckpoints(toConsumed: true)
            }
            publishSnapshot()
            if stopping && batch.isEmpty && (spool.isEmpty || stopClock.expired) { break }
            if configuration.exitWhenCaughtUp && batch.isEmpty && allCaughtUp && spool.isEmpty && !filesByID.isEmpty { break }
            if !readAny { usleep(useconds_t(configuration.pollIntervalMilliseconds * 1000)) }
        }
        publishSnapshot()
        saveCheckpoints()
        logger.info("agent stopped", metadata: [
            "events.read": "\(stats.eventsRead)", "events.shipped": "\(stats.eventsShipped)",
            "events.quarantined": "\(stats.quarantined)", "events.policy_dropped": "\(stats.policyDropped)",
            "batches": "\(shipper.batchesSent)", "retries": "\(shipper.retries)", "failovers": "\(shipper.failovers)", "spool.batches": "\(spool.count)",
        ])
    }

    /// One pass over the sources, reading into `batch` up to its limits. True when anything was read.
    func readRound(_ batch: inout [SourcedEvent], _ batchBytes: inout Int, _ quarantined: inout [QuarantinedLine]) -> Bool {
        var readAny = false
        // Sources take turns starting first, so that one busy file cannot starve the others.
        roundRobin = (roundRobin + 1) % sources.count
        for k in 0..<sources.count {
            let source = sources[(roundRobin + k) % sources.count]
            for f in source.files {
                let room = configuration.batchMaxEvents - batch.count
                let byteRoom = configuration.batchMaxBytes - batchBytes
                if room <= 0 || byteRoom <= 0 { break }
                let before = batch.count
                let id = fileID(f)
                let identityBefore = f.identity
                do {
                    if try f.read(fileIndex: id, eventBudget: room, byteBudget: byteRoom, events: &batch, quarantined: &quarantined) {
                        readAny = true
                    }
                } catch {
                    logger.error("cannot read audit file", metadata: ["file.path": "\(f.path)", "error": "\(error)"])
                }
                if f.truncation == nil, f.identity.fingerprintLength > identityBefore.fingerprintLength, identityBefore.fingerprintLength > 0 {
                    // A small file grew and its fingerprint widened: a record saved under the
                    // narrow fingerprint is this file's, and is replaced by the next save. Left
                    // behind, it would outlive the file and be reported as a loss.
                    knownRecords.removeAll {
                        $0.identity.fingerprint == identityBefore.fingerprint
                            && $0.identity.fingerprintLength == identityBefore.fingerprintLength && $0.beforeTruncation != true
                    }
                }
                if let t = f.truncation {
                    // copytruncate: a copy of the old content may already sit beside the file.
                    // Remember how far the old content was read, so that the copy is read from there.
                    f.truncation = nil
                    var r = CheckpointRecord(path: f.path, identity: t.identity, offset: t.offset, line: t.line)
                    r.beforeTruncation = true
                    knownRecords.append(r)
                    classified = classified.filter { $0.value.verdict != .ignored }
                }
                let isBackup = !isLive(f, of: source)
                if isBackup && f.reachedEnd && f.caughtUp == false {
                    // A rotated file ending without a newline: its last line is complete.
                    f.flushPartialLine(fileIndex: id, events: &batch, quarantined: &quarantined)
                }
                stats.eventsRead += batch.count - before
                applyPolicy(&batch, from: before)
                for e in batch[before...] { batchBytes += e.bytes.count }
                // Older files are read to their end before newer ones.
                if !(isBackup && f.reachedEnd && f.caughtUp) { break }
            }
        }
        return readAny
    }

    /// When the next delivery attempt may be made (backoff after a failure).
    var nextAttempt = ContinuousClock.now
    lazy var backoff = Backoff(initialMilliseconds: configuration.retryInitialMilliseconds, maxMilliseconds: configuration.retryMaxMilliseconds)
    var randomness = SystemRandomNumberGenerator()

    func scheduleRetry(_ why: String, misconfigured: Bool) {
        var ms = backoff.next(random: Double.random(in: 0...1, using: &randomness))
        // An aggregator that says when to come back (429, 503 with Retry-After) is believed, up to the longest backoff.
        if let seconds = shipper.lastRetryAfterSeconds, seconds > 0 {
            let capped = min(seconds, configuration.retryMaxMilliseconds / 1000 + 1)  // no overflow on any header
            ms = max(ms, min(capped * 1000, configuration.retryMaxMilliseconds))
        }
        nextAttempt = .now + .milliseconds(ms)
        shipper.retries += 1
        if misconfigured {
            logger.error("the aggregator refuses this agent or cannot be reached as configured; events are kept and retried, fix the configuration",
                         metadata: ["detail": "\(why)", "retry.in_ms": "\(ms)"])
        } else {
            logger.warning("aggregator unreachable; will retry", metadata: ["detail": "\(why)", "retry.in_ms": "\(ms)"])
        }
    }

    /// Delivers a freshly read batch, or spools it when it cannot be delivered now.
    /// Returns false only when stopping left it neither delivered nor spooled.
    func deliver(_ batch: [SourcedEvent], spoolOnly: Bool = false) -> Bool {
        let id = batchID(batch)
        let body: [UInt8]
        do {
            body = try shipper.compress(batch.map(\.bytes))
        } catch {
            logger.error("cannot compress a batch", metadata: ["error": "\(error)"])
            return false
        }
        if !spoolOnly && spool.isEmpty && ContinuousClock.now >= nextAttempt {
            switch shipper.attempt(body: body, eventCount: batch.count, batchID: id) {
            case .acknowledged(let answer):
                acknowledged(answer, sources: batch.map { (filesByID[$0.fileIndex]?.path ?? "?", $0.line, $0.bytes) })
                return true
            case .tooLarge where batch.count > 1:
                let half = batch.count / 2
                return deliver(Array(batch[..<half])) && deliver(Array(batch[half...]))
            case .tooLarge:
                quarantineBatch(batch.map { (filesByID[$0.fileIndex]?.path ?? "?", $0.line, Optional($0.bytes)) }, status: 413,
                                message: "a single event is larger than the aggregator accepts")
                return true
            case .refused(let status, let message):
                quarantineBatch(batch.map { (filesByID[$0.fileIndex]?.path ?? "?", $0.line, Optional($0.bytes)) }, status: status, message: message)
                return true
            case .retryLater(let why):
                scheduleRetry(why, misconfigured: false)
            case .misconfigured(let why):
                scheduleRetry(why, misconfigured: true)
            }
        }
        // Spool it: durable on disk, the files' checkpoints may then move past it.
        var paths: [String] = []
        var index: [String: Int] = [:]
        var sourcesList: [[Int64]] = []
        for e in batch {
            let p = filesByID[e.fileIndex]?.path ?? "?"
            let i = index[p] ?? { paths.append(p); index[p] = paths.count - 1; return paths.count - 1 }()
            sourcesList.append([Int64(i), e.line])
        }
        if spoolWriteFailing != nil && ContinuousClock.now < spoolRetryAt { return false }
        do {
            try spool.append(batchID: id, body: body, eventCount: batch.count, paths: paths, sources: sourcesList)
            stats.spooledBatches += 1
            if let failing = spoolWriteFailing {
                logger.notice("the spool is writable again: reading resumed", metadata: ["paused.since": "\(failing.since)"])
                spoolWriteFailing = nil
            }
            return true
        } catch {
            stats.spoolWriteFailures += 1
            spoolRetryAt = ContinuousClock.now + .milliseconds(max(100, configuration.pollIntervalMilliseconds))
            if spoolWriteFailing == nil {
                spoolWriteFailing = (Date(), "\(error)")
                logger.critical("cannot write to the spool (is the state directory's disk full?): reading is paused behind the batch in hand, which is offered to the aggregator and the spool again; the apiserver's files still hold every unacknowledged event",
                                metadata: ["error": "\(error)", "state.dir": "\(configuration.stateDirectory)"])
            }
            return false
        }
    }

    /// Tries to deliver the oldest spooled batch once. True when it left the spool.
    func drainSpoolHead() -> Bool {
        for name in spool.damaged.dropFirst(reportedDamaged) {
            stats.lostSpoolBatches.append(name)
            logger.error("a spooled batch is damaged and cannot be delivered; it was moved to spool/damaged", metadata: ["spool.file": "\(name)"])
        }
        reportedDamaged = spool.damaged.count
        guard let head = spool.head() else { return false }
        let sources = head.sources.map { s -> (String, Int64) in
            let i = Int(s.first ?? 0)
            return (head.paths.indices.contains(i) ? head.paths[i] : "?", s.count > 1 ? s[1] : 0)
        }
        switch shipper.attempt(body: head.body, eventCount: head.eventCount, batchID: head.batchID) {
        case .acknowledged(let answer):
            let lines = (try? WireCompression.decompress(head.body, limit: 1 << 30).split(separator: 0x0A, omittingEmptySubsequences: false)) ?? []
            acknowledged(answer, sources: sources.enumerated().map { i, s in (s.0, s.1, i < lines.count ? Array(lines[i]) : []) })
            popSpool()
            return true
        case .tooLarge where head.eventCount > 1:
            guard let plain = try? WireCompression.decompress(head.body, limit: 1 << 30) else { return false }
            let lines = plain.split(separator: 0x0A).map(Array.init)
            let half = lines.count / 2
            do {
                let parts = try [lines[..<half], lines[half...]].enumerated().map { i, part in
                    (batchID: head.batchID + "-\(i)", body: try shipper.compress(Array(part)), eventCount: part.count,
                     paths: head.paths, sources: Array(head.sources[(i == 0 ? 0 : half)..<(i == 0 ? half : head.sources.count)]))
                }
                try spool.splitHead(parts)
            } catch {
                logger.error("cannot split a spooled batch", metadata: ["error": "\(error)"])
                return false
            }
            return true
        case .tooLarge:
            quarantineSpoolHead(head, sources, status: 413, message: "a single event is larger than the aggregator accepts")
            return true
        case .refused(let status, let message):
            quarantineSpoolHead(head, sources, status: status, message: message)
            return true
        case .retryLater(let why):
            scheduleRetry(why, misconfigured: false)
        case .misconfigured(let why):
            scheduleRetry(why, misconfigured: true)
        }
        return false
    }

    func quarantineSpoolHead(_ head: SpooledBatch, _ sources: [(String, Int64)], status: Int, message: String) {
            let lines = (try? WireCompression.decompress(head.body, limit: 1 << 30).split(separator: 0x0A)) ?? []
            quarantineBatch(sources.enumerated().map { i, s in (s.0, s.1, i < lines.count ? Optional(Array(lines[i])) : nil) },
                            status: status, message: message)
            popSpool()
    }

    var reportedDamaged = 0

    func popSpool() {
        do {
            try spool.removeHead()
        } catch {
            logger.error("cannot delete a delivered spool file; it may be sent again", metadata: ["error": "\(error)"])
        }
    }

    /// Books an acknowledged batch: counters, and quarantine of the lines the aggregator refused.
    func acknowledged(_ answer: BatchResponse, sources: [(String, Int64, [UInt8])]) {
        backoff.reset()
        lastAcknowledgement = Date()
        stats.eventsShipped += answer.accepted
        stats.duplicatesAtAggregator += answer.duplicates
        for r in answer.rejected where r.line >= 1 && r.line <= sources.count {
            let (path, line, bytes) = sources[r.line - 1]
            record(QuarantinedLine(path: path, line: line, offset: -1, reason: r.code,
                                   message: "refused by the aggregator: \(r.message)", content: bytes))
        }
    }

    func quarantineBatch(_ events: [(String, Int64, [UInt8]?)], status: Int, message: String) {
        logger.error("aggregator refused a batch permanently; its events are quarantined",
                     metadata: ["status": "\(status)", "detail": "\(message)", "events": "\(events.count)"])
        for (path, line, bytes) in events {
            record(QuarantinedLine(path: path, line: line, offset: -1, reason: "batch_refused_\(status)", message: message, content: bytes))
        }
    }

    /// A deterministic id: the same events from the same place get the same id.
    func batchID(_ batch: [SourcedEvent]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ s: String) { for b in s.utf8 { h ^= UInt64(b); h = h &* 0x0000_0100_0000_01B3 } }
        mix(configuration.cluster); mix("/"); mix(configuration.node)
        if let first = batch.first, let last = batch.last {
            mix(filesByID[first.fileIndex]?.identity.description ?? "?"); mix(":\(first.line)")
            mix(filesByID[last.fileIndex]?.identity.description ?? "?"); mix(":\(last.line):\(batch.count)")
        }
        let a = FileIdentity.hex(h)
        mix("#")
        return a + FileIdentity.hex(h)
    }

    func record(_ q: QuarantinedLine) {
        stats.quarantined += 1
        stats.quarantinedByReason[q.reason, default: 0] += 1
        logger.warning("line quarantined", metadata: [
            "file.path": "\(q.path)", "file.line": "\(q.line)", "file.offset": "\(q.offset)",
            "reason": "\(q.reason)", "detail": "\(q.message)",
        ])
        quarantine.add(file: q.path, line: q.line, offset: q.offset, reason: q.reason, message: q.message, content: q.content)
    }

    func publishSnapshot() {
        var snap = AgentSnapshot()
        snap.stats = stats
        snap.batchesSent = shipper.batchesSent
        snap.bytesSent = shipper.bytesSent
        snap.retries = shipper.retries
        snap.failovers = shipper.failovers
        snap.checkpointWrites = checkpointWrites
        snap.spoolBatches = spool.count
        snap.spoolBytes = spool.bytes
        snap.lastAcknowledgement = lastAcknowledgement
        snap.started = started
        snap.lastLoop = Date()
        snap.lastLoopInstant = ContinuousClock.now
        let now = ContinuousClock.now
        for source in sources {
            for f in source.files {
                let behind: Duration = f.settled ? .zero : (now - f.lastCaughtUp)
                let seconds = Double(behind.components.seconds) + Double(behind.components.attoseconds) / 1e18
                snap.files.append(.init(path: f.path, bytesRead: f.bytesRead, unacknowledgedBytes: f.unacknowledgedBytes, lagSeconds: seconds))
            }
        }
        metrics.publish(snap)
    }

    static func hostPort(_ text: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw FileError(path: text, operation: "parse HOST:PORT", errno: EINVAL)
        }
        return (String(text[..<colon]), port)
    }

    func fileID(_ f: TailedFile) -> Int {
        if let id = fileIDs[ObjectIdentifier(f)] { return id }
        nextFileID += 1
        fileIDs[ObjectIdentifier(f)] = nextFileID
        filesByID[nextFileID] = f
        return nextFileID
    }

    /// Everything read so far is acknowledged (or quarantined): move the checkpoints
    /// there, and retire rotated files that are read to their end.
    func advanceCheckpoints(toConsumed: Bool) {
        var changed = false
        for source in sources {
            for f in source.files where f.consumedOffset != f.ackedOffset {
                f.ackedOffset = f.consumedOffset
                f.ackedLine = f.readLine
                changed = true
            }
            // A backup read to its end and acknowledged is complete.
            while let first = source.files.first, source.files.count > 1 || !isLive(first, of: source),
                  first.reachedEnd, first.settled {
                source.files.removeFirst()
                retire(first)
                changed = true
            }
            for f in source.files where f.settled { f.lastCaughtUp = .now }
        }
        if changed { saveCheckpoints() }
    }

    /// Records a file as complete and forgets it.
    func retire(_ f: TailedFile) {
        let record = f.checkpoint(complete: true)
        knownRecords.removeAll { $0.identity.fingerprint == record.identity.fingerprint && $0.identity.fingerprintLength == record.identity.fingerprintLength }
        knownRecords.append(record)
        if let id = fileIDs.removeValue(forKey: ObjectIdentifier(f)) { filesByID[id] = nil }
        logger.info("file shipped to its end", metadata: ["file.path": "\(f.path)", "file.lines": "\(f.ackedLine)"])
    }

    func saveCheckpoints() {
        var records: [CheckpointRecord] = []
        for source in sources { for f in source.files { records.append(f.checkpoint(complete: false)) } }
        for r in knownRecords where !records.contains(where: { $0.identity.fingerprint == r.identity.fingerprint && $0.identity.fingerprintLength == r.identity.fingerprintLength }) {
            records.append(r)
        }
        knownRecords = records
        do {
            try checkpointFile.save(records)
            checkpointWrites += 1
            if checkpointWriteFailing {
                checkpointWriteFailing = false
                logger.notice("checkpoints are written again")
            }
        } catch {
            stats.checkpointWriteFailures += 1
            if !checkpointWriteFailing {
                checkpointWriteFailing = true
                logger.error("cannot write the checkpoint (is the state directory's disk full?); until it can, events may be shipped again after a restart (stored once)",
                             metadata: ["error": "\(error)"])
            }
        }
    }

    /// Finds live files and their rotated backups; opens what has to be read.
    func discoverFiles() {
        let livePaths = expandPaths().filter { path in
            // A rotated backup that also matches a glob is not a live file of its own.
            !expandPathsCache.contains { live in live != path && isBackup(path, of: live) }
        }
        expandPathsCache = livePaths
        for live in livePaths where !sources.contains(where: { $0.livePath == live }) {
            sources.append(LogSource(livePath: live))
        }
        var present: Set<String> = []
        for source in sources {
            markRotatedAway(source)
            let names = directoryEntries(source.directory)
            let dirPrefix = source.directory.isEmpty ? "" : source.directory + "/"
            var candidates = BackupNaming.backups(of: source.liveName, among: names).map { dirPrefix + $0.name }
            candidates.append(source.livePath)
            for path in candidates {
                present.insert(path)
                classify(path, in: source)
            }
        }
        // Records whose file is gone: if it was not shipped to its end, that is a loss. A file
        // can look gone for a moment (a .gz twin still being written cannot be read yet), so a
        // record must stay unmatched for a while before it counts as lost.
        let before = knownRecords.count
        knownRecords.removeAll { record in
            let key = record.identity.fingerprint + "/\(record.identity.fingerprintLength)"
            let open = sources.contains { $0.files.contains { $0.identity.fingerprint == record.identity.fingerprint } }
            let stillThere = open || classified.contains { present.contains($0.key) && ($0.value.verdict == .done || $0.value.verdict == .ignored) && matchesRecord($0.key, record) }
            if stillThere { missingGrace.found(key); return false }
            guard missingGrace.missing(key) else { return false }
            if record.offset == 0 && record.identity.fingerprintLength == 0 {
                return true  // an empty file when it was recorded: nothing of it can be identified or was read
            }
            if record.beforeTruncation == true {
                // copytruncate without a copy we could find: what was written after our position
                // and before the truncation (if anything) exists nowhere we can read.
                stats.truncationsUnrecovered += 1
                logger.warning("a truncated file's copy was not found; lines written just before the truncation, if any, were not shipped", metadata: [
                    "file.path": "\(record.path)", "file.offset": "\(record.offset)", "file.line": "\(record.line)",
                ])
                return true
            }
            if record.complete != true {
                stats.lostFiles.append(record.path)
                logger.error("an audit file was deleted before it was shipped to its end; its remaining events are lost", metadata: [
                    "file.path": "\(record.path)", "file.offset": "\(record.offset)", "file.line": "\(record.line)",
                ])
            }
            return true
        }
        classified = classified.filter { present.contains($0.key) }
        prefixes = prefixes.filter { present.contains($0.key) }
        if knownRecords.count != before { saveCheckpoints() }
    }

    /// True for the file that is at the live path now (the one that still grows).
    func isLive(_ f: TailedFile, of source: LogSource) -> Bool {
        f.path == source.livePath && !f.rotatedAway
    }

    /// A file opened at the live path that is no longer there (renamed, then perhaps
    /// compressed and deleted before a scan saw its new name) is a backup from now on:
    /// otherwise reading would wait at its end as if it could still grow.
    func markRotatedAway(_ source: LogSource) {
        var st = stat()
        let exists = stat(source.livePath, &st) == 0
        for f in source.files where isLive(f, of: source) && !f.isCompressed {
            if !exists || UInt64(st.st_dev) != f.identity.device || UInt64(st.st_ino) != f.identity.inode {
                f.rotatedAway = true
                logger.info("file rotated; its new name was not seen, it is read to its end through the open descriptor",
                            metadata: ["file.path": "\(f.path)"])
            }
        }
    }

    var expandPathsCache: [String] = []
    /// Records not matched by any file on disk, and since when (by fingerprint).
    var missingGrace = MissingFileGrace(clock: ContinuousClock())

    func isBackup(_ path: String, of live: String) -> Bool {
        let dir = (live as NSString).deletingLastPathComponent
        guard (path as NSString).deletingLastPathComponent == dir else { return false }
        return !BackupNaming.backups(of: (live as NSString).lastPathComponent, among: [(path as NSString).lastPathComponent]).isEmpty
    }

    func matchesRecord(_ path: String, _ record: CheckpointRecord) -> Bool {
        guard let prefix = prefix(of: path) else { return false }
        return prefix.matches(record.identity.fingerprint, length: record.identity.fingerprintLength)
    }

    /// The file's first bytes, read once per file (by device and inode) and cached.
    func prefix(of path: String) -> FilePrefix? {
        var st = stat()
        guard stat(path, &st) == 0 else { prefixes[path] = nil; return nil }
        // Only while the file is the same and unchanged: a new file may reuse a deleted one's inode.
        if let p = prefixes[path], FileStamp(st).isUnchanged(since: p.stamp), p.size == Int64(st.st_size) {
            return p
        }
        let p = try? FilePrefix(path: path)
        prefixes[path] = p
        return p
    }

    /// Decides what a file on disk is, opening it when it has to be read.
    func classify(_ path: String, in source: LogSource) {
        var st = stat()
        guard stat(path, &st) == 0 else { return }
        let device = UInt64(st.st_dev), inode = UInt64(st.st_ino), size = Int64(st.st_size), stamp = FileStamp(st)
        // An open file renamed (rotation): follow it under its new name.
        for s in sources {
            for f in s.files where f.identity.device == device && f.identity.inode == inode && f.isCompressed {
                classified[path] = (device, inode, size, .open, stamp)
                return  // a compressed backup already being read
            }
            for f in s.files where f.identity.device == device && f.identity.inode == inode && !f.isCompressed {
                if f.path != path, f.path == s.livePath || !FileManager.default.fileExists(atPath: f.path) {
                    if f.path == s.livePath { logger.info("file rotated", metadata: ["file.path": "\(f.path)", "file.new_path": "\(path)"]) }
                    f.path = path
                }
                classified[path] = (device, inode, size, .open, stamp)
                return
            }
        }
        if let c = classified[path], stamp.isUnchanged(since: c.stamp), c.size == size, c.verdict != .open {
            if c.verdict == .done || c.verdict == .ignored { return }
        }
        if size == 0 && path == source.livePath {
            // An empty live file has no fingerprint yet; open it from the start.
            openFile(path, in: source, prefix: nil, record: nil)
            return
        }
        guard let prefix = prefix(of: path) else { return }
        guard !prefix.bytes.isEmpty else {
            if path == source.livePath { openFile(path, in: source, prefix: nil, record: nil) }
            return
        }
        // A copy of a file being read (a .gz twin of a backup still open): ignore it.
        for s in sources {
            for f in s.files where prefix.matches(f.identity.fingerprint, length: f.identity.fingerprintLength) && f.identity.fingerprintLength > 0 {
                classified[path] = (device, inode, size, .ignored, stamp)
                return
            }
        }
        let record = knownRecords.first { prefix.matches($0.identity.fingerprint, length: $0.identity.fingerprintLength) && $0.identity.fingerprintLength > 0 }
        if let record, record.complete == true {
            classified[path] = (device, inode, size, .done, stamp)
            return
        }
        openFile(path, in: source, prefix: prefix, record: record)
        classified[path] = (device, inode, size, .open, stamp)
    }

    func openFile(_ path: String, in source: LogSource, prefix: FilePrefix?, record: CheckpointRecord?) {
        do {
            let file = try OpenFile(path: path)
            let (plainIdentity, _) = try file.identity()
            let fileSource: FileSource
            var identity = plainIdentity
            if let prefix, prefix.isGzip {
                fileSource = .gzip(try GzipFileReader(file: file))
                identity = FileIdentity(device: plainIdentity.device, inode: plainIdentity.inode,
                                        fingerprint: prefix.fingerprint, fingerprintLength: prefix.bytes.count)
            } else {
                fileSource = .plain(file)
            }
            let offset = record?.offset ?? 0
            let line = record?.line ?? 0
            let f = TailedFile(path: path, source: fileSource, identity: identity, offset: offset, line: line,
                               maxLineBytes: configuration.maxLineBytes)
            if record != nil {
                logger.info("resuming file from checkpoint", metadata: ["file.path": "\(path)", "file.offset": "\(offset)", "file.line": "\(line)"])
            } else {
                logger.info("new file; reading from the start", metadata: ["file.path": "\(path)"])
            }
            // Keep the order: files already being read stay first; the others
            // follow oldest first (backups by their names), the live file last.
            source.files.append(f)
            let names = BackupNaming.backups(of: source.liveName, among: directoryEntries(source.directory)).map(\.name)
            func rank(_ g: TailedFile) -> Int {
                isLive(g, of: source) ? Int.max : (names.firstIndex(of: (g.path as NSString).lastPathComponent) ?? Int.max - 1)
            }
            // The live file is always last: it is the only one that still grows.
            let backups = source.files.filter { !isLive($0, of: source) }
            let live = source.files.filter { isLive($0, of: source) }
            let started = backups.filter { $0.bytesRead > 0 }
            // Stable: files of equal rank (rotated away before their new name was seen) keep the order they were opened in.
            let waiting = backups.filter { $0.bytesRead == 0 }.enumerated()
                .sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(\.element)
            source.files = started + waiting + live
            _ = fileID(f)
        } catch {
            if let fe = error as? FileError, fe.isNotFound { return }
            logger.error("cannot open audit file", metadata: ["file.path": "\(path)", "error": "\(error)"])
        }
    }

    func expandPaths() -> [String] {
        var out: [String] = []
        for pattern in configuration.paths {
            if pattern.contains(where: { "*?[".contains($0) }) {
                var g = glob_t()
                defer { globfree(&g) }
                if glob(pattern, 0, nil, &g) == 0 {
                    for i in 0..<Int(g.gl_pathc) {
                        if let p = g.gl_pathv[i] { out.append(String(cString: p)) }
                    }
                }
            } else {
                out.append(pattern)
            }
        }
        return out
    }
}

/// Counters the agent keeps.
public struct AgentStats: Sendable {
    public var eventsRead = 0
    /// Events the policy dropped (intentional: not failures).
    public var policyDropped = 0
    public var policyDroppedByRule: [String: Int] = [:]
    /// Bytes the policy removed (dropped events and stripped bodies).
    public var policyBytesSaved = 0
    /// Events the apiserver logged at a lower level than the agent's policy asks (kept as they are).
    public var underLogged = 0
    /// Files deleted before they were shipped to their end.
    public var lostFiles: [String] = []
    /// Truncations (copytruncate) whose copy was never found: a possible, unmeasurable loss.
    public var truncationsUnrecovered = 0
    /// Spooled batches that could not be read back (damaged on disk).
    public var lostSpoolBatches: [String] = []
    /// Batches written to the spool.
    public var spooledBatches = 0
    /// Spool writes that failed (a full or failing disk): the batch stayed in memory, reading paused.
    public var spoolWriteFailures = 0
    /// Checkpoint writes that failed (a full or failing disk).
    public var checkpointWriteFailures = 0
    public var eventsShipped = 0
    public var duplicatesAtAggregator = 0
    public var quarantined = 0
    public var quarantinedByReason: [String: Int] = [:]
}

/// Measures the shutdown grace period: once a stop is requested, shipping
/// may go on for `timeout`, then gives up (what was not acknowledged stays
/// unacknowledged and is read again at the next start).
final class StopClock: @unchecked Sendable {
    // Touched only from the agent thread.
    private let timeout: Duration
    private let stopRequested: () -> Bool
    private var since: ContinuousClock.Instant?

    init(timeout: Duration, stopRequested: @escaping () -> Bool) {
        self.timeout = timeout
        self.stopRequested = stopRequested
    }

    var expired: Bool {
        guard stopRequested() else { return false }
        let t = since ?? ContinuousClock.now
        since = t
        return ContinuousClock.now - t >= timeout
    }
}
