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
/// advances each file's checkpoint only after the batch holding its events is
/// durable: acknowledged by an aggregator (or quarantined), or in the spool
/// (at-least-once, never skipping).
///
/// A staged pipeline. This thread reads: discovery and rotation
/// (`Agent+Discovery`), files → lines → events with the policy
/// (`Agent+Reading`), the batch cut (``BatchCutter``), and checkpoints from the
/// outcomes flowing back (``CheckpointLedger``, `Agent+Checkpoints`).
/// Compression and delivery run on threads of their own (``ShippingStage``),
/// so reading never waits for the network; it pauses only when the queue to
/// compression is full or the spool is, and then the files are the buffer.
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
    /// Set while the spool cannot be written (a full disk): since when. Batches wait in memory,
    /// offered to the aggregator and the spool again; reading pauses when they fill it.
    var spoolWriteFailing: Date?
    /// Set while checkpoints cannot be written; logged when it starts and when it ends.
    var checkpointWriteFailing = false
    /// Acknowledged positions moved and are not saved yet.
    var checkpointsDirty = false
    /// When the checkpoints were last saved (nil: not yet); moved positions wait up to `checkpointSpacing`.
    var lastCheckpointSave: ContinuousClock.Instant?
    /// How often moved positions are saved at most while acknowledgements keep coming: each save
    /// is an fsync of a file and of its directory (the bench's run: 400 saves were 8 % of the CPU).
    static let checkpointSpacing = Duration.milliseconds(250)
    let quarantine: Quarantine
    let spool: Spool
    /// Compression and delivery (threads of their own while `run` runs).
    let shipping: ShippingStage
    /// Batches cut and not yet durable, with the read positions at each cut.
    var ledger = CheckpointLedger<Int, FilePosition>()
    var policy: PolicyFilter?
    public internal(set) var stats = AgentStats()
    public let metrics = AgentMetrics()
    var metricsServer: MetricsServer?
    let stopClock: StopClock
    var checkpointWrites = 0
    var lastAcknowledgement: Date?
    let started = Date()
    var expandPathsCache: [String] = []
    /// Records not matched by any file on disk, and since when (by fingerprint).
    var missingGrace = MissingFileGrace(clock: ContinuousClock())

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
        self.shipping = try ShippingStage(configuration: configuration, logger: logger, spool: spool)
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

    /// Runs until stopped (or, with `exitWhenCaughtUp`, until every file is shipped to its end).
    public func run() throws {
        HeapTrimming.install()
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
        shipping.start()
        var batch = BatchInHand()
        var cutter = BatchCutter<ContinuousClock>(maxEvents: configuration.batchMaxEvents, maxBytes: configuration.batchMaxBytes,
                                                  linger: .milliseconds(configuration.batchLingerMilliseconds))
        var spoolFullReported = false
        while true {
            if ReloadSignal.take() { reloadPolicy() }
            let stopping = shouldStop()
            takeOutcomes()
            discoverFiles()
            var discovered = ContinuousClock.now
            let rediscoverAfter = Duration.milliseconds(configuration.pollIntervalMilliseconds)
            var readAny = false
            var quarantined: [QuarantinedLine] = []
            // 1. Read, unless stopping, the spool is full, or compression is behind (then the
            //    files are the buffer). Full batches are handed over at once and reading goes
            //    on until caught up, so that rotation cannot delete what was not read.
            let spoolFull = spool.isFull
            if spoolFull && !spoolFullReported {
                logger.error("spool full: reading paused until the aggregator accepts batches again; rotated files may be deleted before they are read",
                             metadata: ["spool.bytes": "\(spool.bytes)", "spool.max_bytes": "\(spool.maxBytes)"])
            }
            spoolFullReported = spoolFull
            var rounds = 0
            while !stopping && !spoolFull && !sources.isEmpty && rounds < 64 && shipping.hasRoom {
                rounds += 1
                // Catching up can take seconds; meanwhile the writer may rotate several times and
                // delete backups. Look for new files as often as when idle, so that each one is
                // opened (and so kept readable) before rotation can delete it unseen.
                if ContinuousClock.now - discovered >= rediscoverAfter {
                    discoverFiles()
                    discovered = ContinuousClock.now
                }
                let readThisRound = readRound(&batch, &quarantined)
                readAny = readAny || readThisRound
                cutter.holding(events: batch.count, now: .now)
                guard cutter.isFull(events: batch.count, bytes: batch.byteCount) && readThisRound else { break }
                for q in quarantined { record(q) }
                quarantined.removeAll()
                cut(&batch)
                cutter.cut()
            }
            for q in quarantined { record(q) }
            cutter.holding(events: batch.count, now: .now)
            let allCaughtUp = sources.allSatisfy { $0.files.allSatisfy { $0.caughtUp } }
            // Backups waiting to be read (or the file being read was rotated away): rotation may delete
            // them, so reading must stay ahead of a slower aggregator, through the spool.
            shipping.setReadAhead(sources.contains { source in source.files.count > 1 || source.files.contains { !isLive($0, of: source) } })
            // 2. Cut the batch in hand: full, lingered, or at once when everything is read and
            //    shipping is idle (no latency is added then; under load batches grow instead).
            if cutter.decide(events: batch.count, bytes: batch.byteCount, now: .now, caughtUp: allCaughtUp,
                             shippingIdle: shipping.isIdle, stopping: stopping, exitWhenCaughtUp: configuration.exitWhenCaughtUp) != nil {
                cut(&batch)
                cutter.cut()
            }
            if batch.isEmpty && ledger.isEmpty {
                // Quarantined or policy-dropped lines with nothing in flight can be passed by the checkpoint now.
                advanceToConsumed()
            }
            retireShippedBackups()
            publishSnapshot()
            let shipped = batch.isEmpty && ledger.isEmpty && shipping.isIdle
            if stopping && batch.isEmpty && ((shipped && spool.isEmpty) || stopClock.expired) { break }
            if configuration.exitWhenCaughtUp && shipped && allCaughtUp && spool.isEmpty && !filesByID.isEmpty { break }
            if !readAny || !shipping.hasRoom { shipping.waitForOutcome(timeout: .milliseconds(configuration.pollIntervalMilliseconds)) }
        }
        shipping.finish()
        takeOutcomes()
        retireShippedBackups()
        publishSnapshot()
        saveCheckpoints()
        let counters = shipping.shippingCounters
        logger.info("agent stopped", metadata: [
            "events.read": "\(stats.eventsRead)", "events.shipped": "\(stats.eventsShipped)",
            "events.quarantined": "\(stats.quarantined)", "events.policy_dropped": "\(stats.policyDropped)",
            "batches": "\(counters.batchesSent)", "retries": "\(counters.retries)", "failovers": "\(counters.failovers)", "spool.batches": "\(spool.count)",
        ])
    }
}
