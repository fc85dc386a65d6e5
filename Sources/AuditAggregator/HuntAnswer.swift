import AuditAlerts
import AuditHunt
import AuditModel
import AuditStore
import AuditWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// At most one hunt at a time per server: a hunt reads as much of the store as its rules need,
/// which may be most of it.
public final class HuntGate: Sendable {
    let busy = Atomic<Bool>(false)

    public init() {}

    /// True when the caller may hunt now (then it must `leave()`).
    func enter() -> Bool { busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged }
    func leave() { busy.store(false, ordering: .releasing) }
}

/// Where a hunt runs: a thread of its own (a Dispatch queue), not Swift's cooperative pool. Reading
/// the store's blocks is synchronous and may take seconds; on the pool it would hold one of the few
/// threads that every request shares.
final class HuntExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = HuntExecutor()
    let queue = DispatchQueue(label: "auditship.hunt")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// The answer of `POST /v1/hunt`: what would have fired, and what was read.
public struct HuntResponse: Codable, Sendable {
    public struct Firing: Codable, Sendable {
        public var rule: String
        public var severity: String
        /// A Sigma rule's `id` and `level`; absent for the built-in pack and our own rules.
        public var ruleID: String?
        public var level: String?
        public var auditID: String
        public var stage: String
        public var cluster: String
        public var node: String
        public var eventTime: String?
        public var message: String
    }

    public struct Scan: Codable, Sendable {
        /// What the scan's events must hold (`verb:get,list resource:secrets`, or `every event`).
        public var prefilter: String
        public var rules: [String]
    }

    public var firings: [Firing]
    /// True when more than `QueryAnswers.maxHuntFirings` would have fired (the first ones are answered).
    public var truncated: Bool
    public var eventsRead: Int
    /// JSON parses made (an event two scans pass is parsed for each; one holding none of the text
    /// its rules need, by none).
    public var parsed: Int
    public var seconds: Double
    public var scans: [Scan]
    /// What loading the rules reported without failing, and rules that cannot fire as configured.
    public var warnings: [String]
}

extension QueryAnswers {
    /// The largest rules text a hunt takes.
    public static let maxHuntBody = 1 << 20
    /// Firings answered at most (the answer says `truncated`).
    public static let maxHuntFirings = 5_000

    /// `POST /v1/hunt?since=24h&until=…&cluster=…&builtins=false`, the body rules text (ours or
    /// Sigma): runs the rules over the stored events of the window as `auditship alerts hunt` does,
    /// recording and sending nothing. A reader limited to clusters hunts each of its clusters
    /// (thresholds count within a cluster), the firings merged by event time.
    ///
    /// The rules and the events are the caller's text: neither is logged.
    public func hunt(_ request: Request, gate: HuntGate) async -> Response {
        do {
            let p = request.uri.queryParameters
            let now = QueryParameters.now
            let sinceText = p["since"].map(String.init) ?? "24h"
            guard let since = QueryParameters.time(sinceText, now: now) else {
                throw Refusal(status: 400, code: "bad_parameter", message: "since='\(sinceText)' is not an RFC 3339 time or a time ago like 15m, 1h or 7d")
            }
            var until: Timestamp?
            if let text = p["until"].map(String.init), !text.isEmpty {
                guard let t = QueryParameters.time(text, now: now) else {
                    throw Refusal(status: 400, code: "bad_parameter", message: "until='\(text)' is not an RFC 3339 time or a time ago like 15m, 1h or 7d")
                }
                until = t
            }
            if let until, until <= since {
                throw Refusal(status: 400, code: "bad_parameter", message: "until must be after since")
            }
            let builtinsText = p["builtins"].map(String.init) ?? "false"
            guard builtinsText == "true" || builtinsText == "false" else {
                throw Refusal(status: 400, code: "bad_parameter", message: "builtins='\(builtinsText)' is neither true nor false")
            }
            let builtins = builtinsText == "true"
            let requested = p["cluster"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
            let clusterQueries = try scope(EventQuery(cluster: requested))

            var request = request
            let buffer: ByteBuffer
            do {
                buffer = try await request.collectBody(upTo: Self.maxHuntBody)
            } catch {
                throw Refusal(status: 413, code: "too_large", message: "the rules exceed \(Self.maxHuntBody) bytes")
            }
            guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
                throw Refusal(status: 400, code: "bad_rules", message: "the rules are not UTF-8 text")
            }
            let rules: AlertRuleSet
            if text.allSatisfy(\.isWhitespace) {
                guard builtins else { throw Refusal(status: 400, code: "bad_rules", message: "no rules given (send rules, or builtins=true)") }
                rules = .builtin
            } else {
                do {
                    rules = try AlertRuleSet.load(yaml: text, source: "request", includeBuiltins: builtins)
                } catch {
                    throw Refusal(status: 400, code: "bad_rules", message: error.description)
                }
            }
            let plan = HuntPlan(rules: rules)
            var warnings = rules.warnings.map(\.description)
            if !plan.inactiveRules.isEmpty {
                warnings.append("inactive (an empty list), not hunted: " + plan.inactiveRules.joined(separator: ", "))
            }
            if plan.scans.isEmpty { warnings.append("no enabled rule can fire: nothing was read") }

            guard gate.enter() else {
                var busy = Self.json(ErrorResponse(error: "hunt_busy", message: "another hunt is running on this server; try again when it is done", retryable: true),
                                     status: .tooManyRequests)
                busy.headers[.retryAfter] = "5"
                return busy
            }
            defer { gate.leave() }
            let start = ContinuousClock.now
            var firings: [AlertFiring] = []
            var read = 0, parsed = 0
            var usedScans = plan.scans
            for q in clusterQueries where !plan.scans.isEmpty {
                let source = StoreHuntSource(store: store, cluster: q.cluster)
                let report = try await withTaskExecutorPreference(HuntExecutor.shared) {
                    try await Hunter.run(rules: rules, plan: plan, source: source, since: since, until: until)
                }
                firings += report.firings
                usedScans = report.scanPlan
                read += report.eventsRead
                parsed += report.parsed
            }
            if clusterQueries.count > 1 {
                // Each cluster's firings are in order already; a stable merge by event time.
                firings = firings.enumerated().sorted { a, b in
                    let ta = a.element.eventTime ?? .distantPast, tb = b.element.eventTime ?? .distantPast
                    return ta != tb ? ta < tb : a.offset < b.offset
                }.map(\.element)
            }
            let elapsed = ContinuousClock.now - start
            let answer = HuntResponse(
                firings: firings.prefix(Self.maxHuntFirings).map(HuntResponse.Firing.init),
                truncated: firings.count > Self.maxHuntFirings,
                eventsRead: read,
                parsed: parsed,
                seconds: ((Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) * 1_000).rounded() / 1_000,
                scans: usedScans.map { HuntResponse.Scan(prefilter: $0.prefilter.description, rules: $0.rules) },
                warnings: warnings)
            var response = Self.json(answer, status: .ok)
            response.headers[Self.resultsHeader] = String(firings.count)
            return response
        } catch let refusal as Refusal {
            return Self.json(ErrorResponse(error: refusal.code, message: refusal.message, retryable: refusal.retryable), status: .init(code: refusal.status))
        } catch {
            return Self.json(ErrorResponse(error: "internal", message: "the hunt failed: \(error)", retryable: true), status: .internalServerError)
        }
    }
}

extension HuntResponse.Firing {
    init(_ f: AlertFiring) {
        rule = f.rule
        severity = f.severity.rawValue
        ruleID = f.ruleID
        level = f.level
        auditID = f.auditID
        stage = f.stage
        cluster = f.cluster
        node = f.node
        eventTime = f.eventTime.map { Timestamp(microseconds: Int64(($0.timeIntervalSince1970 * 1_000_000).rounded())).rfc3339 }
        message = f.message
    }
}
