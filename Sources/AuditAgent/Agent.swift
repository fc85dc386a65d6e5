import AuditModel
import AuditPolicy
import AuditWire
import Foundation
import Logging
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
    var files: [TailedFile] = []
    var knownRecords: [CheckpointRecord] = []
    let checkpointFile: CheckpointFile
    let quarantine: Quarantine
    var shipper: Shipper
    var policy: PolicyFilter?
    public private(set) var stats = AgentStats()

    public init(configuration: AgentConfiguration, logger: Logger, shouldStop: @escaping () -> Bool = { StopSignal.requested }) throws {
        self.configuration = configuration
        self.logger = logger
        self.shouldStop = shouldStop
        try FileManager.default.createDirectory(atPath: configuration.stateDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        self.checkpointFile = CheckpointFile(directory: configuration.stateDirectory)
        self.quarantine = Quarantine(directory: configuration.stateDirectory, maxBytes: configuration.quarantineMaxBytes)
        self.shipper = try Shipper(configuration: configuration, logger: logger, shouldStop: shouldStop)
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
        logger.info("agent starting", metadata: [
            "cluster": "\(configuration.cluster)", "node": "\(configuration.node)",
            "paths": "\(configuration.paths)", "checkpoints": "\(knownRecords.count)",
        ])
        var batch: [SourcedEvent] = []
        var batchBytes = 0
        var batchStarted: ContinuousClock.Instant?
        let linger = Duration.milliseconds(configuration.batchLingerMilliseconds)
        while true {
            if ReloadSignal.take() { reloadPolicy() }
            discoverFiles()
            var readAny = false
            var quarantined: [QuarantinedLine] = []
            if !shouldStop() {
                for (i, f) in files.enumerated() {
                    let room = configuration.batchMaxEvents - batch.count
                    let byteRoom = configuration.batchMaxBytes - batchBytes
                    if room <= 0 || byteRoom <= 0 { break }
                    let before = batch.count
                    do {
                        if try f.read(fileIndex: i, eventBudget: room, byteBudget: byteRoom, events: &batch, quarantined: &quarantined) {
                            readAny = true
                        }
                    } catch {
                        logger.error("cannot read audit file", metadata: ["file.path": "\(f.path)", "error": "\(error)"])
                    }
                    stats.eventsRead += batch.count - before
                    applyPolicy(&batch, from: before)
                    for e in batch[before...] { batchBytes += e.bytes.count }
                }
            }
            for q in quarantined { record(q) }
            if !batch.isEmpty && batchStarted == nil { batchStarted = .now }
            let full = batch.count >= configuration.batchMaxEvents || batchBytes >= configuration.batchMaxBytes
            let lingered = batchStarted.map { ContinuousClock.now - $0 >= linger } ?? false
            let allCaughtUp = files.allSatisfy { $0.caughtUp }
            let stopping = shouldStop()
            if !batch.isEmpty && (full || lingered || stopping || (configuration.exitWhenCaughtUp && allCaughtUp)) {
                let acked = ship(batch)
                if !acked { break }  // stopping before acknowledgement: the checkpoint stays where it was
                batch.removeAll(keepingCapacity: true)
                batchBytes = 0
                batchStarted = nil
                advanceCheckpoints(toConsumed: true)
                continue
            }
            if batch.isEmpty {
                // Quarantined lines with nothing in flight can be passed by the checkpoint now.
                advanceCheckpoints(toConsumed: true)
            }
            if stopping { break }
            if configuration.exitWhenCaughtUp && batch.isEmpty && allCaughtUp && !files.isEmpty { break }
            if !readAny { usleep(useconds_t(configuration.pollIntervalMilliseconds * 1000)) }
        }
        saveCheckpoints()
        logger.info("agent stopped", metadata: [
            "events.read": "\(stats.eventsRead)", "events.shipped": "\(stats.eventsShipped)",
            "events.quarantined": "\(stats.quarantined)", "events.policy_dropped": "\(stats.policyDropped)", "batches": "\(shipper.batchesSent)", "retries": "\(shipper.retries)",
        ])
    }

    /// Ships a batch (splitting on 413); true when every event was acknowledged or quarantined.
    func ship(_ batch: [SourcedEvent]) -> Bool {
        let id = batchID(batch)
        switch shipper.ship(lines: batch.map(\.bytes), batchID: id) {
        case .acknowledged(let answer):
            stats.eventsShipped += answer.accepted
            stats.duplicatesAtAggregator += answer.duplicates
            for r in answer.rejected where r.line >= 1 && r.line <= batch.count {
                let e = batch[r.line - 1]
                record(QuarantinedLine(path: files[e.fileIndex].path, line: e.line, offset: -1, reason: r.code,
                                       message: "refused by the aggregator: \(r.message)", content: e.bytes))
            }
            return true
        case .refused(let status, _, _) where status == 413 && batch.count > 1:
            let half = batch.count / 2
            return ship(Array(batch[..<half])) && ship(Array(batch[half...]))
        case .refused(let status, let reason, let message):
            logger.error("aggregator refused a batch permanently; its events are quarantined",
                         metadata: ["batch.id": "\(id)", "status": "\(status)", "reason": "\(reason)", "detail": "\(message)"])
            for e in batch {
                record(QuarantinedLine(path: files[e.fileIndex].path, line: e.line, offset: -1, reason: "batch_refused_\(status)",
                                       message: message, content: e.bytes))
            }
            return true
        case .interrupted:
            return false
        }
    }

    /// A deterministic id: the same events from the same place get the same id.
    func batchID(_ batch: [SourcedEvent]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ s: String) { for b in s.utf8 { h ^= UInt64(b); h = h &* 0x0000_0100_0000_01B3 } }
        mix(configuration.cluster); mix("/"); mix(configuration.node)
        if let first = batch.first, let last = batch.last {
            mix(files[first.fileIndex].identity.description); mix(":\(first.line)")
            mix(files[last.fileIndex].identity.description); mix(":\(last.line):\(batch.count)")
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

    /// Everything read so far is acknowledged (or quarantined): move the checkpoints there.
    func advanceCheckpoints(toConsumed: Bool) {
        var changed = false
        for f in files where f.consumedOffset != f.ackedOffset {
            f.ackedOffset = f.consumedOffset
            f.ackedLine = f.readLine
            changed = true
        }
        if changed { saveCheckpoints() }
    }

    func saveCheckpoints() {
        var records = files.map(\.checkpoint)
        // Keep records of files not open now (a path that went away), until they are pruned.
        for r in knownRecords where !records.contains(where: { $0.identity == r.identity }) {
            records.append(r)
        }
        knownRecords = records
        do {
            try checkpointFile.save(records)
        } catch {
            logger.error("cannot write the checkpoint; events may be shipped again after a restart", metadata: ["error": "\(error)"])
        }
    }

    /// Opens configured files not open yet, and follows a rename+create rotation.
    func discoverFiles() {
        for path in expandPaths() {
            if let existing = files.first(where: { $0.path == path }) {
                // Same path, new file (rotated): finish the old one first.
                guard existing.caughtUp, existing.consumedOffset == existing.ackedOffset,
                      let fresh = try? OpenFile(path: path), let (id, _) = try? fresh.identity(),
                      id.device != existing.identity.device || id.inode != existing.identity.inode else { continue }
                logger.info("file rotated; continuing with the new file", metadata: ["file.path": "\(path)"])
                existing.reopen(fresh, identity: id)
                saveCheckpoints()
                continue
            }
            do {
                let file = try OpenFile(path: path)
                let (id, _) = try file.identity()
                var offset: Int64 = 0
                var line: Int64 = 0
                if let r = knownRecords.first(where: { $0.identity.device == id.device && $0.identity.inode == id.inode }),
                   (try? file.fingerprint(length: r.identity.fingerprintLength)) == r.identity.fingerprint {
                    offset = r.offset
                    line = r.line
                    logger.info("resuming file from checkpoint", metadata: ["file.path": "\(path)", "file.offset": "\(offset)", "file.line": "\(line)"])
                } else {
                    logger.info("new file; reading from the start", metadata: ["file.path": "\(path)"])
                }
                files.append(TailedFile(path: path, file: file, identity: id, offset: offset, line: line,
                                        maxLineBytes: configuration.maxLineBytes))
            } catch {
                if error.isNotFound { continue }  // not there yet; looked for again at the next poll
                logger.error("cannot open audit file", metadata: ["file.path": "\(path)", "error": "\(error)"])
            }
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
    public var eventsShipped = 0
    public var duplicatesAtAggregator = 0
    public var quarantined = 0
    public var quarantinedByReason: [String: Int] = [:]
}
