import AuditWire
import Foundation
import Logging

/// Where one event of a batch came from: an index into the batch's paths, and its line.
struct EventSource: Sendable, Equatable {
    var path: Int32
    var line: Int64

    /// The spool's form, `[index into paths, line]`.
    static func spooled(_ sources: [EventSource]) -> [[Int64]] { sources.map { [Int64($0.path), $0.line] } }

    /// From the spool's form (validated when the record was decoded).
    static func fromSpool(_ sources: [[Int64]]) -> [EventSource] {
        sources.map { EventSource(path: Int32(clamping: $0.first ?? 0), line: $0.count > 1 ? $0[1] : 0) }
    }
}

/// A batch as the reading stage cuts it: the events' bytes and where each came from.
struct CutBatch: Sendable {
    /// Its place in the order (also its spool sequence, should it be spooled).
    var sequence: UInt64
    var batchID: String
    /// The events as NDJSON (each line and its newline), built on the reading thread so that
    /// the lines' buffers are freed where they were allocated.
    var ndjson: [UInt8]
    var eventCount: Int
    /// The files its events came from, and per event `[index into paths, line]`.
    var paths: [String]
    var sources: [EventSource]
    var byteCount: Int
}

/// A compressed batch waiting in memory for the delivery thread.
struct OutboxBatch: Sendable {
    var sequence: UInt64
    var batchID: String
    var body: [UInt8]
    var eventCount: Int
    var paths: [String]
    var sources: [EventSource]
}

/// What shipping reports back to the reading stage, in the order it happened.
enum ShippingOutcome: Sendable {
    /// The batch is durable: checkpoints may move past it once the batches before it are too.
    case durable(sequence: UInt64)
    /// Written to the spool (counted; `durable` follows).
    case spooled
    /// An aggregator stored the batch; `rejected` holds the lines it refused, with their source.
    case acknowledged(accepted: Int, duplicates: Int, rejected: [(path: String, line: Int64, bytes: [UInt8], code: String, message: String)])
    /// The aggregator refused the batch for good: its events go to quarantine.
    case refused(events: [(path: String, line: Int64, bytes: [UInt8]?)], status: Int, message: String)
    /// A spooled batch could not be read back and was set aside.
    case spoolDamaged(name: String)
    /// The spool could not be written (a full disk): the batch stays in memory.
    case spoolWriteFailed(error: String)
    /// The spool is writable again.
    case spoolWritable
}

/// Counters of the shipping threads, for metrics and the summary.
struct ShippingCounters: Sendable {
    var batchesSent = 0
    var bytesSent = 0
    var retries = 0
    var failovers = 0
}

/// Compression and delivery, on two threads of their own, between the reading
/// stage and the aggregators.
///
///     reading ─cut batches─▶ [queue] ─▶ compressing ─▶ [outbox] ─▶ delivery ─▶ aggregator
///                                            │                        │
///                                            └───────▶ spool ◀────────┘ (failed, too large)
///
/// Both queues are bounded; reading pauses when the first is full (the files are
/// the buffer), never because of the network: when delivery backs off or one
/// attempt runs long, compressed batches go to the durable spool instead of the
/// outbox (``ShippingRoute``). Delivery takes the lowest sequence of the outbox
/// and the spool, one batch at a time, so a file's events go out in order.
/// Outcomes flow back through ``takeOutcomes()``; the reading stage owns every
/// checkpoint and counter.
final class ShippingStage: @unchecked Sendable {
    // Immutable, or touched only by the delivery thread (shipper, backoff, randomness).
    private let configuration: AgentConfiguration
    private let logger: Logger
    private let spool: Spool
    private let shipper: Shipper
    private var backoff: Backoff
    private var randomness = SystemRandomNumberGenerator()
    private var reportedDamaged = 0
    /// Limits of the queues (bytes of cut batches; bytes and batches of compressed bodies).
    let queueLimitBytes: Int
    let outboxLimitBytes: Int
    let outboxLimitBatches: Int
    /// How long one attempt may run before new batches go to the spool instead of waiting.
    let spoolAfter: Duration

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var queue: [CutBatch] = []
    private var queueBytes = 0
    private var compressing = false
    private var outbox: [OutboxBatch] = []
    private var outboxBytes = 0
    private var attemptStarted: ContinuousClock.Instant?
    private var nextAttempt = ContinuousClock.now
    private var outcomes: [ShippingOutcome] = []
    private var counters = ShippingCounters()
    private var spoolFailing = false
    private var readAhead = false
    /// Counts the times the queue to compression shrank, so that a waiting reader wakes for room.
    private var roomGeneration = 0
    private var stopping = false
    private var running = 0
    /// NDJSON buffers compression has finished with, for the reading stage's next batches: the
    /// batch-sized buffers are reused instead of mapped, faulted in and unmapped for each batch.
    /// Two, so that a compression finishing just before a cut does not push one out.
    private var spareBuffers: [[UInt8]] = []
    private static let spareBufferLimit = 2

    init(configuration: AgentConfiguration, logger: Logger, spool: Spool) throws {
        self.configuration = configuration
        self.logger = logger
        self.spool = spool
        self.shipper = try Shipper(configuration: configuration, logger: logger)
        self.backoff = Backoff(initialMilliseconds: configuration.retryInitialMilliseconds, maxMilliseconds: configuration.retryMaxMilliseconds)
        // Enough cut batches for compression to overlap reading (reading waits beyond a quarter of
        // the largest batch, or 1 MiB: a default batch is about 0.8 MB); the outbox holds a few
        // compressed bodies before new ones go to the spool. Both bound the agent's memory.
        self.queueLimitBytes = max(configuration.batchMaxBytes / 4, 1 << 20)
        self.outboxLimitBytes = max(configuration.batchMaxBytes / 4, 1 << 20)
        self.outboxLimitBatches = 4
        self.spoolAfter = .milliseconds(max(250, min(configuration.batchLingerMilliseconds, 2_000)))
    }

    /// Starts the compressing and delivery threads.
    func start() {
        condition.withLock { running = 2 }
        for name in ["auditship-compress", "auditship-deliver"] {
            let thread = Thread { [self] in
                if name == "auditship-compress" { compressLoop() } else { deliverLoop() }
                condition.withLock {
                    running -= 1
                    condition.broadcast()
                }
            }
            thread.name = name
            thread.start()
        }
    }

    /// Stops both threads after what each is doing now (an attempt in flight runs to its
    /// answer or timeout) and waits for them. Batches still queued were not made durable:
    /// their events are read again at the next start.
    func finish() {
        condition.withLock {
            stopping = true
            condition.broadcast()
            while running > 0 { condition.wait() }
        }
    }

    // MARK: The reading stage's side

    /// Whether reading may go on: the queue to the compressing thread has room.
    var hasRoom: Bool { condition.withLock { queueBytes < queueLimitBytes } }

    /// Nothing queued, compressing, waiting in the outbox or being sent (the spool aside).
    var isIdle: Bool {
        condition.withLock { queue.isEmpty && !compressing && outbox.isEmpty && attemptStarted == nil }
    }

    var shippingCounters: ShippingCounters { condition.withLock { counters } }

    /// Whether reading must stay ahead of delivery (rotated backups wait to be read, and
    /// rotation may delete them): then full outboxes overflow into the spool.
    func setReadAhead(_ value: Bool) {
        condition.withLock {
            if readAhead != value {
                readAhead = value
                condition.broadcast()
            }
        }
    }

    /// Hands a cut batch over. Always accepted; callers check ``hasRoom`` before reading more.
    func submit(_ batch: CutBatch) {
        condition.withLock {
            queue.append(batch)
            queueBytes += batch.byteCount
            condition.broadcast()
        }
    }

    /// A buffer for the next batch's events (emptied, its capacity kept), when one is spare.
    func takeSpareBuffer() -> [UInt8]? {
        condition.withLock {
            spareBuffers.popLast()
        }
    }

    /// The outcomes since the last call, in order.
    func takeOutcomes() -> [ShippingOutcome] {
        condition.withLock {
            defer { outcomes.removeAll(keepingCapacity: true) }
            return outcomes
        }
    }

    /// Waits until an outcome is reported, the queue to compression has room again, or `timeout` passed.
    func waitForOutcome(timeout: Duration) {
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        condition.withLock {
            let generation = roomGeneration
            while outcomes.isEmpty && !stopping && roomGeneration == generation {
                if !condition.wait(until: deadline) { break }
            }
        }
    }

    private func report(_ outcome: ShippingOutcome...) {
        condition.withLock {
            outcomes.append(contentsOf: outcome)
            condition.broadcast()
        }
    }

    // MARK: Compressing thread

    private func compressLoop() {
        while true {
            var next: CutBatch? = condition.withLock {
                while queue.isEmpty && !stopping { condition.wait() }
                guard !stopping, !queue.isEmpty else { return nil }
                compressing = true
                return queue.removeFirst()
            }
            // Moved out of `next`, so that the batch's buffer is referenced once and can be reused.
            guard var batch = next.take() else { return }
            defer { condition.withLock { compressing = false; condition.broadcast() } }
            guard let body = compress(batch) else { return }
            var spare: [UInt8] = []
            swap(&spare, &batch.ndjson)
            spare.removeAll(keepingCapacity: true)
            condition.withLock { if spareBuffers.count < Self.spareBufferLimit { spareBuffers.append(spare) } }
            let item = OutboxBatch(sequence: batch.sequence, batchID: batch.batchID, body: body, eventCount: batch.eventCount,
                                   paths: batch.paths, sources: batch.sources)
            if !place(item) { return }
            condition.withLock {
                queueBytes -= batch.byteCount
                roomGeneration &+= 1
                condition.broadcast()
            }
        }
    }

    /// Compresses a batch; retried while it fails (only memory exhaustion makes zlib fail). Nil when stopping.
    private func compress(_ batch: CutBatch) -> [UInt8]? {
        while true {
            do {
                return try shipper.compress(ndjson: batch.ndjson)
            } catch {
                logger.error("cannot compress a batch; trying again in a second", metadata: ["error": "\(error)"])
                if stoppingWithin(.seconds(1)) { return nil }
            }
        }
    }

    /// Puts a compressed batch in the outbox or the spool. False when stopping left it in neither.
    private func place(_ item: OutboxBatch) -> Bool {
        while true {
            let route = condition.withLock {
                ShippingRoute.decide(backingOff: ContinuousClock.now < nextAttempt,
                                     attemptRunning: attemptStarted.map { ContinuousClock.now - $0 }, spoolAfter: spoolAfter,
                                     readAhead: readAhead,
                                     outboxBytes: outboxBytes, outboxBatches: outbox.count,
                                     outboxLimitBytes: outboxLimitBytes, outboxLimitBatches: outboxLimitBatches)
            }
            if route == .wait {
                // The outbox is full and nothing is at risk: wait for delivery (it signals).
                let stop = condition.withLock {
                    _ = condition.wait(until: Date().addingTimeInterval(0.05))
                    return stopping
                }
                if stop { return false }
                continue
            }
            if route == .spool {
                // What waits in the outbox would wait as long: make it durable too, so that the
                // checkpoints (which pass batches in order) are not held behind it.
                if !condition.withLock({ spoolFailing }) { spoolOutbox() }
                if spoolAppend(item) { return true }
            }
            // The outbox, chosen, or else the spool cannot be written: memory, up to twice the outbox's limit.
            let placed = condition.withLock {
                guard route == .outbox || (outboxBytes < 2 * outboxLimitBytes && outbox.count < 2 * outboxLimitBatches) else { return false }
                let at = outbox.firstIndex { $0.sequence > item.sequence } ?? outbox.endIndex
                outbox.insert(item, at: at)
                outboxBytes += item.body.count
                condition.broadcast()
                return true
            }
            if placed { return true }
            if stoppingWithin(.milliseconds(max(100, configuration.pollIntervalMilliseconds))) { return false }
        }
    }

    /// Moves every batch waiting in the outbox to the spool (in their places in the order).
    private func spoolOutbox() {
        let waiting: [OutboxBatch] = condition.withLock {
            defer { outbox.removeAll(); outboxBytes = 0 }
            return outbox
        }
        var kept: [OutboxBatch] = []
        for item in waiting where !spoolAppend(item) { kept.append(item) }
        guard !kept.isEmpty else { return }
        condition.withLock {
            outbox.insert(contentsOf: kept, at: 0)
            outbox.sort { $0.sequence < $1.sequence }
            outboxBytes = outbox.reduce(0) { $0 + $1.body.count }
        }
    }

    /// Writes a batch to the spool; reports it. False when the spool cannot be written.
    private func spoolAppend(_ item: OutboxBatch) -> Bool {
        do {
            try spool.append(sequence: item.sequence, batchID: item.batchID, body: item.body, eventCount: item.eventCount,
                             paths: item.paths, sources: EventSource.spooled(item.sources))
            let recovered = condition.withLock { defer { spoolFailing = false }; return spoolFailing }
            if recovered { report(.spoolWritable) }
            report(.spooled, .durable(sequence: item.sequence))
            return true
        } catch {
            let first = condition.withLock { defer { spoolFailing = true }; return !spoolFailing }
            if first {
                logger.critical("cannot write to the spool (is the state directory's disk full?): batches wait in memory, reading pauses when they fill it; the apiserver's files still hold every unacknowledged event",
                                metadata: ["error": "\(error)", "state.dir": "\(configuration.stateDirectory)"])
            }
            report(.spoolWriteFailed(error: "\(error)"))
            return false
        }
    }

    /// Sleeps up to `duration`; true when a stop was requested.
    private func stoppingWithin(_ duration: Duration) -> Bool {
        let deadline = Date().addingTimeInterval(Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
        return condition.withLock {
            while !stopping { if !condition.wait(until: deadline) { break } }
            return stopping
        }
    }

    // MARK: Delivery thread

    private enum Work {
        case spoolHead
        case fresh(OutboxBatch)
        /// Backing off with batches in the outbox: they go to the spool rather than wait.
        case spoolOutbox
    }

    private func deliverLoop() {
        while let work = nextWork() {
            switch work {
            case .spoolHead: drainSpoolHead()
            case .fresh(let item): deliver(item)
            case .spoolOutbox: spoolOutbox()
            }
        }
    }

    /// Waits for something to send and for the backoff to pass; nil when stopping.
    private func nextWork() -> Work? {
        condition.withLock {
            while !stopping {
                let spoolHead = spool.headSequence
                if spoolHead != nil || !outbox.isEmpty {
                    if ContinuousClock.now >= nextAttempt {
                        if let s = spoolHead, outbox.first.map({ s < $0.sequence }) ?? true { return .spoolHead }
                        let item = outbox.removeFirst()
                        outboxBytes -= item.body.count
                        attemptStarted = .now
                        return .fresh(item)
                    }
                    if !outbox.isEmpty && !spoolFailing { return .spoolOutbox }
                    let wait = nextAttempt - ContinuousClock.now
                    _ = condition.wait(until: Date().addingTimeInterval(Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18))
                } else {
                    // The compressing thread signals when it adds to the outbox or the spool.
                    _ = condition.wait(until: Date().addingTimeInterval(1))
                }
            }
            return nil
        }
    }

    private func attempt(body: [UInt8], eventCount: Int, batchID: String) -> AttemptOutcome {
        condition.withLock { attemptStarted = .now }
        let outcome = shipper.attempt(body: body, eventCount: eventCount, batchID: batchID)
        condition.withLock {
            attemptStarted = nil
            counters.batchesSent = shipper.batchesSent
            counters.bytesSent = shipper.bytesSent
            counters.failovers = shipper.failovers
            condition.broadcast()
        }
        return outcome
    }

    /// Sends a batch from the outbox; spools it when it cannot be delivered now.
    private func deliver(_ item: OutboxBatch) {
        switch attempt(body: item.body, eventCount: item.eventCount, batchID: item.batchID) {
        case .acknowledged(let answer):
            report(acknowledged(answer, paths: item.paths, sources: item.sources, body: item.body), .durable(sequence: item.sequence))
            return
        case .refused(let status, let message):
            report(refused(item.paths, item.sources, item.body, status: status, message: message), .durable(sequence: item.sequence))
            return
        case .tooLarge:
            // Split from the spool, where the halves keep its place in the order.
            break
        case .retryLater(let why):
            scheduleRetry(why, misconfigured: false)
        case .misconfigured(let why):
            scheduleRetry(why, misconfigured: true)
        }
        if !spoolAppend(item) {
            // Neither delivered nor spooled: back at the front of the outbox, offered again.
            condition.withLock {
                outbox.insert(item, at: 0)
                outboxBytes += item.body.count
                if ContinuousClock.now >= nextAttempt {
                    nextAttempt = .now + .milliseconds(max(100, configuration.pollIntervalMilliseconds))
                }
            }
        }
    }

    private func scheduleRetry(_ why: String, misconfigured: Bool) {
        var ms = backoff.next(random: Double.random(in: 0...1, using: &randomness))
        // An aggregator that says when to come back (429, 503 with Retry-After) is believed, up to the longest backoff.
        if let seconds = shipper.lastRetryAfterSeconds, seconds > 0 {
            let capped = min(seconds, configuration.retryMaxMilliseconds / 1000 + 1)  // no overflow on any header
            ms = max(ms, min(capped * 1000, configuration.retryMaxMilliseconds))
        }
        condition.withLock {
            nextAttempt = .now + .milliseconds(ms)
            counters.retries += 1
        }
        if misconfigured {
            logger.error("the aggregator refuses this agent or cannot be reached as configured; events are kept and retried, fix the configuration",
                         metadata: ["detail": "\(why)", "retry.in_ms": "\(ms)"])
        } else {
            logger.warning("aggregator unreachable; will retry", metadata: ["detail": "\(why)", "retry.in_ms": "\(ms)"])
        }
    }

    /// Tries to deliver the oldest spooled batch once.
    private func drainSpoolHead() {
        let damaged = spool.damaged
        for name in damaged.dropFirst(reportedDamaged) {
            logger.error("a spooled batch is damaged and cannot be delivered; it was moved to spool/damaged", metadata: ["spool.file": "\(name)"])
            report(.spoolDamaged(name: name))
        }
        reportedDamaged = damaged.count
        guard let head = spool.head() else { return }
        switch attempt(body: head.body, eventCount: head.eventCount, batchID: head.batchID) {
        case .acknowledged(let answer):
            report(acknowledged(answer, paths: head.paths, sources: EventSource.fromSpool(head.sources), body: head.body))
            popSpool()
        case .tooLarge where head.eventCount > 1:
            guard let plain = try? WireCompression.decompress(head.body, limit: 1 << 30) else { return }
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
                scheduleRetry("a spooled batch too large for the aggregator could not be split", misconfigured: false)
            }
        case .tooLarge:
            report(refused(head.paths, EventSource.fromSpool(head.sources), head.body, status: 413, message: "a single event is larger than the aggregator accepts"))
            popSpool()
        case .refused(let status, let message):
            report(refused(head.paths, EventSource.fromSpool(head.sources), head.body, status: status, message: message))
            popSpool()
        case .retryLater(let why):
            scheduleRetry(why, misconfigured: false)
        case .misconfigured(let why):
            scheduleRetry(why, misconfigured: true)
        }
    }

    private func popSpool() {
        do {
            try spool.removeHead()
        } catch {
            logger.error("cannot delete a delivered spool file; it may be sent again", metadata: ["error": "\(error)"])
        }
    }

    /// Where a batch's n-th event came from.
    private static func source(_ paths: [String], _ sources: [EventSource], _ i: Int) -> (String, Int64) {
        guard i < sources.count else { return ("?", 0) }
        let p = Int(sources[i].path)
        return (paths.indices.contains(p) ? paths[p] : "?", sources[i].line)
    }

    private func acknowledged(_ answer: BatchResponse, paths: [String], sources: [EventSource], body: [UInt8]) -> ShippingOutcome {
        backoff.reset()
        var rejected: [(path: String, line: Int64, bytes: [UInt8], code: String, message: String)] = []
        if !answer.rejected.isEmpty {
            // Only then are the lines needed: decompress the body once.
            let lines = (try? WireCompression.decompress(body, limit: 1 << 30).split(separator: 0x0A, omittingEmptySubsequences: false)) ?? []
            for r in answer.rejected where r.line >= 1 && r.line <= sources.count {
                let (path, line) = Self.source(paths, sources, r.line - 1)
                rejected.append((path, line, r.line - 1 < lines.count ? Array(lines[r.line - 1]) : [], r.code, r.message))
            }
        }
        return .acknowledged(accepted: answer.accepted, duplicates: answer.duplicates, rejected: rejected)
    }

    private func refused(_ paths: [String], _ sources: [EventSource], _ body: [UInt8], status: Int, message: String) -> ShippingOutcome {
        let lines = (try? WireCompression.decompress(body, limit: 1 << 30).split(separator: 0x0A)) ?? []
        let events = sources.indices.map { i -> (path: String, line: Int64, bytes: [UInt8]?) in
            let (path, line) = Self.source(paths, sources, i)
            return (path, line, i < lines.count ? Array(lines[i]) : nil)
        }
        return .refused(events: events, status: status, message: message)
    }
}
