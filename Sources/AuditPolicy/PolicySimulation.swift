#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the policy did to one event in a simulation.
public enum SimulatedOutcome: Sendable, Hashable {
    /// The event is not written (level None, or its stage is omitted).
    case dropped
    /// The event is written, possibly trimmed, at `bytesAfter` bytes.
    case kept(bytesAfter: Int)
}

/// Accumulates `policy simulate` statistics, one event at a time.
///
/// Feed every event of a log with `record(...)`, then call `report()`. The caller decides the
/// outcome (it does the byte editing); this type only counts. Memory grows with the number
/// of distinct (user, verb, resource) talkers and of distinct minutes, not with events.
public struct PolicySimulation: Sendable {
    struct Counter: Sendable {
        var events = 0
        var bytes = 0
    }
    struct RuleCounter: Sendable {
        var hits = 0
        var dropped = 0
        var bytesBefore = 0
        var bytesAfter = 0
    }
    struct TalkerKey: Hashable, Sendable {
        var user: String
        var verb: String
        var resource: String
    }

    /// Labels for rules, `#n Level: summary`, in rule order.
    let ruleLabels: [String]
    let topN: Int
    var before = Counter()
    var after = Counter()
    var dropped = 0
    var perRule: [RuleCounter]
    var noRule = RuleCounter()
    var levelsBefore: [String: Counter] = [:]
    var levelsAfter: [AuditLevel: Counter] = [:]
    var stagesBefore: [String: Int] = [:]
    var stagesAfter: [String: Int] = [:]
    var talkers: [TalkerKey: Counter] = [:]
    var minutes: [Int64: (before: Int, after: Int)] = [:]

    /// - Parameters:
    ///   - policy: the policy being simulated (for rule labels).
    ///   - topTalkers: how many talkers the report lists.
    public init(policy: AuditPolicy, topTalkers: Int = 10) {
        ruleLabels = policy.rules.enumerated().map { "#\($0 + 1) \($1.level.rawValue): \($1.summary)" }
        perRule = Array(repeating: RuleCounter(), count: policy.rules.count)
        topN = max(0, topTalkers)
    }

    /// Records one event.
    ///
    /// - Parameters:
    ///   - request: the event's attributes.
    ///   - stage: the event's stage (nil if the event has none or an unknown one).
    ///   - originalLevel: the event's `level` as written by the API server.
    ///   - minute: the event time as whole minutes since the Unix epoch.
    ///   - bytesBefore: the event's size as read.
    ///   - outcome: dropped, or kept with its new size.
    ///   - decision: what the policy decided for `request`.
    public mutating func record(
        request: PolicyRequest, stage: AuditStage?, originalLevel: String, minute: Int64, bytesBefore: Int,
        outcome: SimulatedOutcome, decision: PolicyDecision
    ) {
        before.events += 1
        before.bytes += bytesBefore
        levelsBefore[originalLevel, default: Counter()].events += 1
        levelsBefore[originalLevel, default: Counter()].bytes += bytesBefore
        let stageName = stage?.rawValue ?? "unknown"
        stagesBefore[stageName, default: 0] += 1

        var rc = RuleCounter()
        rc.hits = 1
        rc.bytesBefore = bytesBefore
        var slot = minutes[minute] ?? (0, 0)
        slot.before += 1
        switch outcome {
        case .dropped:
            dropped += 1
            rc.dropped = 1
        case .kept(let bytesAfter):
            after.events += 1
            after.bytes += bytesAfter
            rc.bytesAfter = bytesAfter
            slot.after += 1
            levelsAfter[decision.level, default: Counter()].events += 1
            levelsAfter[decision.level, default: Counter()].bytes += bytesAfter
            stagesAfter[stageName, default: 0] += 1
            if topN > 0 {
                let key = TalkerKey(
                    user: request.user ?? "<anonymous>", verb: request.verb, resource: Self.resourceLabel(request))
                talkers[key, default: Counter()].events += 1
                talkers[key, default: Counter()].bytes += bytesAfter
            }
        }
        minutes[minute] = slot
        if let index = decision.ruleIndex, perRule.indices.contains(index) {
            perRule[index].hits += rc.hits
            perRule[index].dropped += rc.dropped
            perRule[index].bytesBefore += rc.bytesBefore
            perRule[index].bytesAfter += rc.bytesAfter
        } else {
            noRule.hits += rc.hits
            noRule.dropped += rc.dropped
            noRule.bytesBefore += rc.bytesBefore
            noRule.bytesAfter += rc.bytesAfter
        }
    }

    /// Records one event, bucketing `timestamp` to its minute.
    public mutating func record(
        request: PolicyRequest, stage: AuditStage?, originalLevel: String, timestamp: Date, bytesBefore: Int,
        outcome: SimulatedOutcome, decision: PolicyDecision
    ) {
        let seconds = timestamp.timeIntervalSince1970
        let minute = seconds.isFinite ? Int64((seconds / 60).rounded(.down)) : 0
        record(
            request: request, stage: stage, originalLevel: originalLevel, minute: minute, bytesBefore: bytesBefore,
            outcome: outcome, decision: decision)
    }

    /// `group/resource/subresource` (core group shown as `core`), or the path for non-resource requests.
    static func resourceLabel(_ r: PolicyRequest) -> String {
        guard r.isResourceRequest else { return r.path.isEmpty ? "<non-resource>" : r.path }
        var label = (r.apiGroup.isEmpty ? "core" : r.apiGroup) + "/" + r.resource
        if !r.subresource.isEmpty { label += "/" + r.subresource }
        return label
    }

    /// The report so far.
    public func report() -> SimulationReport {
        var rules: [SimulationReport.RuleStats] = perRule.enumerated().map { i, c in
            .init(rule: i + 1, label: ruleLabels[i], hits: c.hits, dropped: c.dropped, bytesSaved: c.bytesBefore - c.bytesAfter)
        }
        rules.append(.init(rule: nil, label: "(no rule matched: None)", hits: noRule.hits, dropped: noRule.dropped, bytesSaved: noRule.bytesBefore - noRule.bytesAfter))

        var levels: [SimulationReport.LevelStats] = []
        let levelNames = AuditLevel.allCases.map(\.rawValue) + levelsBefore.keys.filter { AuditLevel(rawValue: $0) == nil }.sorted()
        for name in levelNames {
            let b = levelsBefore[name] ?? Counter()
            let a = AuditLevel(rawValue: name).flatMap { levelsAfter[$0] } ?? Counter()
            if b.events == 0 && a.events == 0 { continue }
            levels.append(.init(level: name, eventsBefore: b.events, bytesBefore: b.bytes, eventsAfter: a.events, bytesAfter: a.bytes))
        }

        let stageNames = AuditStage.allCases.map(\.rawValue) + ["unknown"]
        let stages: [SimulationReport.StageStats] = stageNames.compactMap { name in
            let b = stagesBefore[name] ?? 0
            guard b > 0 else { return nil }
            return .init(stage: name, eventsBefore: b, eventsAfter: stagesAfter[name] ?? 0)
        }

        let top = talkers.sorted { lhs, rhs in
            if lhs.value.events != rhs.value.events { return lhs.value.events > rhs.value.events }
            if lhs.value.bytes != rhs.value.bytes { return lhs.value.bytes > rhs.value.bytes }
            return (lhs.key.user, lhs.key.verb, lhs.key.resource) < (rhs.key.user, rhs.key.verb, rhs.key.resource)
        }.prefix(topN).map {
            SimulationReport.Talker(user: $0.key.user, verb: $0.key.verb, resource: $0.key.resource, events: $0.value.events, bytes: $0.value.bytes)
        }

        var series: [SimulationReport.MinuteCount] = []
        if let first = minutes.keys.min(), let last = minutes.keys.max() {
            // Every minute of the span, including quiet ones, when the span is not absurd.
            if last - first < 100_000 {
                var m = first
                while m <= last {
                    let slot = minutes[m] ?? (0, 0)
                    series.append(.init(minute: m, before: slot.before, after: slot.after))
                    m += 1
                }
            } else {
                series = minutes.keys.sorted().map { .init(minute: $0, before: minutes[$0]?.before ?? 0, after: minutes[$0]?.after ?? 0) }
            }
        }
        func rate(_ values: [Int]) -> SimulationReport.Rate {
            guard let lo = values.min(), let hi = values.max() else { return .init(min: 0, avg: 0, max: 0) }
            return .init(min: lo, avg: Double(values.reduce(0, +)) / Double(values.count), max: hi)
        }
        let perMinute = SimulationReport.PerMinute(
            minutes: series.count, before: rate(series.map(\.before)), after: rate(series.map(\.after)), series: series)

        let totals = SimulationReport.Totals(
            eventsBefore: before.events, eventsAfter: after.events, eventsDropped: dropped,
            bytesBefore: before.bytes, bytesAfter: after.bytes, bytesSaved: before.bytes - after.bytes)
        let ruleHits = rules.reduce(0) { $0 + $1.hits }
        let ruleDropped = rules.reduce(0) { $0 + $1.dropped }
        let ruleSaved = rules.reduce(0) { $0 + $1.bytesSaved }
        let reconciles = totals.eventsBefore == totals.eventsAfter + totals.eventsDropped
            && totals.bytesBefore == totals.bytesAfter + totals.bytesSaved
            && ruleHits == totals.eventsBefore && ruleDropped == totals.eventsDropped && ruleSaved == totals.bytesSaved
            && series.reduce(0, { $0 + $1.before }) == totals.eventsBefore
            && series.reduce(0, { $0 + $1.after }) == totals.eventsAfter
        return SimulationReport(
            totals: totals, reconciles: reconciles, rules: rules, levels: levels, stages: stages,
            topTalkers: Array(top), perMinute: perMinute)
    }
}
