import AuditAlerts
import AuditModel
import AuditStore
import Foundation

/// One stored event as a hunt reads it.
public struct HuntEvent: Sendable {
    public var cluster: String
    public var node: String
    public var bytes: [UInt8]
    /// The event's order timestamp (stageTimestamp).
    public var timestamp: Timestamp

    public init(cluster: String, node: String, bytes: [UInt8], timestamp: Timestamp) {
        self.cluster = cluster
        self.node = node
        self.bytes = bytes
        self.timestamp = timestamp
    }
}

/// Where a hunt reads events: a store, or an aggregator's HTTPS API.
public protocol HuntSource: Sendable {
    /// One page of the events passing `prefilter` in `since..<until`, in timestamp order, after
    /// `cursor` (nil: from the start), and the cursor of the next page (nil: no more).
    func page(_ prefilter: AlertPrefilter, since: Timestamp?, until: Timestamp?, after cursor: String?, limit: Int)
        async throws -> (events: [HuntEvent], next: String?)
}

/// What a hunt found and what it read.
public struct HuntReport: Sendable {
    /// What would have fired, by event time (then rule order); nothing is recorded or sent.
    public var firings: [AlertFiring]
    /// Events the index handed over and the engines evaluated (through an aggregator, an event two
    /// scans need is read, and counted, twice).
    public var eventsRead: Int
    /// Events that could not be parsed as JSON.
    public var malformed: Int
    /// JSON parses the engines made (an event that two scans pass is parsed by each; one that holds
    /// none of the text its rules need, `ByteNeeds`, by none).
    public var parsed: Int
    /// Scans of the store (one per distinct prefilter; one for every rule when read page by page
    /// with an open scan).
    public var scans: Int
    /// Those scans.
    public var scanPlan: [HuntPlan.Scan]
    public var seconds: Double
}

/// Runs rules over stored events, as the aggregator's engine would have on arrival: each event with
/// `now` = its own timestamp, in timestamp order.
public enum Hunter {
    /// Events a store's reading thread hands over at a time.
    static let handoffBatch = 512

    public static func run(rules: AlertRuleSet, plan: HuntPlan, source: any HuntSource, since: Timestamp?, until: Timestamp?,
                           pageSize: Int = 5_000) async throws -> HuntReport {
        let start = ContinuousClock.now
        var firings: [(order: Int, firing: AlertFiring)] = []
        var read = 0
        let ruleOrder = Dictionary(rules.enabledRules.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        let singlePass = (source as? StoreHuntSource).map { $0.store is any ScanningStore } ?? false
        let scans = singlePass ? plan.scans : plan.pagedScans
        let engines = scans.map { AlertEngine(rules: rules.keeping(only: Set($0.rules))) }
        if let s = source as? StoreHuntSource, let scanning = s.store as? any ScanningStore {
            // One pass over the union of the scans' blocks; each event to the engines of the scans it
            // passes. The store reads (projections, decompression) on a thread of its own while this
            // one evaluates, in the order the store hands the events over.
            let handoff = Handoff<[(ScannedEvent, [Int])]>(capacity: 8)
            let matches = plan.scans.map { HuntPlan.matches($0.prefilter) }
            let cluster = s.cluster
            let reader = Thread {
                do {
                    var batch: [(ScannedEvent, [Int])] = []
                    batch.reserveCapacity(Self.handoffBatch)
                    try scanning.scan(matches, cluster: cluster, since: since, until: until) { e, scans in
                        batch.append((e, scans))
                        if batch.count == Self.handoffBatch {
                            try handoff.put(batch)
                            batch.removeAll(keepingCapacity: true)
                        }
                    }
                    if !batch.isEmpty { try handoff.put(batch) }
                    handoff.finish(nil)
                } catch {
                    handoff.finish(error)
                }
            }
            reader.start()
            defer {
                // The reader stops at its next hand-over and leaves its read transaction before the hunt returns.
                handoff.cancel()
                handoff.waitUntilFinished()
            }
            while let batch = try handoff.take() {
                if Task.isCancelled { throw CancellationError() }
                for (e, scans) in batch {
                    let now = Date(timeIntervalSince1970: Double(e.timestamp.microseconds) / 1_000_000)
                    for i in scans {
                        for f in engines[i].evaluate(event: e.bytes, cluster: e.cluster, node: e.node, now: now) {
                            firings.append((ruleOrder[f.rule] ?? Int.max, f))
                        }
                    }
                }
                read += batch.count
            }
        } else {
            try await paged(scans, engines, source, since, until, pageSize, &firings, &read, ruleOrder)
        }
        let malformed = engines.reduce(0) { $0 + $1.statistics.malformedEvents }
        let parsed = engines.reduce(0) { $0 + $1.statistics.events - $1.statistics.unparsed }
        // Stable: within one scan firings come in event order already.
        let sorted = firings.enumerated().sorted { a, b in
            let ta = a.element.firing.eventTime ?? .distantPast, tb = b.element.firing.eventTime ?? .distantPast
            if ta != tb { return ta < tb }
            if a.element.order != b.element.order { return a.element.order < b.element.order }
            return a.offset < b.offset
        }.map(\.element.firing)
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return HuntReport(firings: sorted, eventsRead: read, malformed: malformed, parsed: parsed, scans: scans.count, scanPlan: scans, seconds: seconds)
    }

    /// Scan after scan, page after page (a store without a single-pass scan, or an aggregator).
    static func paged(_ scans: [HuntPlan.Scan], _ engines: [AlertEngine], _ source: any HuntSource, _ since: Timestamp?, _ until: Timestamp?,
                      _ pageSize: Int, _ firings: inout [(order: Int, firing: AlertFiring)], _ read: inout Int,
                      _ ruleOrder: [String: Int]) async throws {
        for (scan, engine) in zip(scans, engines) {
            var cursor: String?
            repeat {
                try Task.checkCancellation()
                let page = try await source.page(scan.prefilter, since: since, until: until, after: cursor, limit: pageSize)
                for e in page.events {
                    let now = Date(timeIntervalSince1970: Double(e.timestamp.microseconds) / 1_000_000)
                    for f in engine.evaluate(event: e.bytes, cluster: e.cluster, node: e.node, now: now) {
                        firings.append((ruleOrder[f.rule] ?? Int.max, f))
                    }
                }
                read += page.events.count
                cursor = page.next
            } while cursor != nil
        }
    }
}

/// Hunting over a store directly: its index chooses the blocks (`FieldMatch` lists of exact values
/// are looked up in `block_terms`), each candidate's columns choose the events.
public struct StoreHuntSource: HuntSource {
    public let store: any EventStore
    public let cluster: String?

    public init(store: any EventStore, cluster: String? = nil) {
        self.store = store
        self.cluster = cluster
    }

    public func page(_ prefilter: AlertPrefilter, since: Timestamp?, until: Timestamp?, after cursor: String?, limit: Int)
        async throws -> (events: [HuntEvent], next: String?) {
        var q = EventQuery(cluster: cluster, since: since, until: until, limit: limit, after: cursor.flatMap(EventCursor.init))
        q.matches = HuntPlan.matches(prefilter)
        let events = try await store.events(q)
        let next = events.count < limit ? nil : events.last?.cursor.description
        return (events.map { HuntEvent(cluster: $0.cluster, node: $0.node, bytes: $0.bytes, timestamp: $0.timestamp) }, next)
    }
}
