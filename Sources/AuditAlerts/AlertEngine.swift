import Foundation

/// One alert: a rule that fired on an event.
public struct AlertFiring: Sendable, Hashable, Codable {
    public var rule: String
    public var severity: AlertSeverity
    /// The rule's message template rendered on the event (a field with no value renders as `<none>`).
    public var message: String
    public var auditID: String
    public var stage: String
    public var cluster: String
    public var node: String
    /// `field=value,…` of the threshold's `groupBy`; empty when the rule has none.
    public var groupKey: String
    /// The event's own time (stageTimestamp, else requestReceivedTimestamp, else timestamp).
    public var eventTime: Date?
    /// Matches counted when a threshold rule fired (1 for a rule without threshold).
    public var count: Int
    /// The rule's `AlertRule.ruleID` (a Sigma rule's id); nil for our rules.
    public var ruleID: String?
    /// The rule's `AlertRule.level` (a Sigma rule's level); nil for our rules.
    public var level: String?

    public init(
        rule: String, severity: AlertSeverity, message: String, auditID: String, stage: String, cluster: String,
        node: String, groupKey: String, eventTime: Date?, count: Int = 1, ruleID: String? = nil, level: String? = nil
    ) {
        self.rule = rule
        self.severity = severity
        self.message = message
        self.auditID = auditID
        self.stage = stage
        self.cluster = cluster
        self.node = node
        self.groupKey = groupKey
        self.eventTime = eventTime
        self.count = count
        self.ruleID = ruleID
        self.level = level
    }
}

/// Counters of an engine, per rule where it says so.
public struct AlertEngineStatistics: Sendable, Hashable {
    /// Events given to `evaluate`.
    public var events = 0
    /// Events that were not a JSON object (among those parsed).
    public var malformedEvents = 0
    /// Events not parsed: they hold none of the text any rule needs (`ByteNeeds`), so none can fire.
    public var unparsed = 0
    /// Firings returned, per rule.
    public var firings: [String: Int] = [:]
    /// Matches that did not fire because of `suppress`, per rule.
    public var suppressed: [String: Int] = [:]
    /// Matches that did not fire because the rule already fired for that auditID at another stage, per rule.
    public var duplicateStages: [String: Int] = [:]
    /// Groups dropped while still live because the rule reached `maxGroupsPerRule`, per rule.
    public var evictedGroups: [String: Int] = [:]
    /// Groups whose window and suppression had expired and were swept, per rule.
    public var expiredGroups: [String: Int] = [:]
    /// Groups held now, per rule.
    public var trackedGroups: [String: Int] = [:]
}

/// Evaluates rules on audit events, keeping threshold and suppression state.
///
/// Concurrency: the engine is a non-Sendable final class with mutable state; give it to one owner — an
/// actor (the aggregator's alert actor) or one task — and call it only from there. Several engines may
/// share one `AlertRuleSet` (which is Sendable).
///
/// Semantics:
/// - A rule is evaluated on the stages it lists (`stages:`), by default `ResponseComplete` and `Panic`
///   (see `AlertStage.defaultStages`). An event without `stage` counts as `ResponseComplete`. A rule that
///   lists `RequestReceived` or `ResponseStarted` with another stage fires at most once per auditID (the
///   last `recentAuditIDs` auditIDs are remembered per such rule), so exec's `ResponseStarted` and
///   `ResponseComplete` make one alert.
/// - Time is the `now` argument (arrival time), so windows and suppression follow the clock you inject.
/// - Threshold: each match is counted in its group (the threshold's `groupBy` values); when a group holds
///   `count` matches no older than `window`, the rule fires and the group's count restarts at zero.
/// - Suppression: after a rule fires for a group, it does not fire again for that group until `suppress`
///   has passed. The group is the `groupBy` values when the rule has a threshold with `groupBy`, else the
///   rendered message (so "the same alert" means the same text: the same user, object, …).
/// - Memory: state exists only for rules with a threshold or suppression. A sweep drops groups whose window
///   and suppression have expired (`expiredGroups`); past `maxGroupsPerRule` groups, the least recently
///   seen are dropped (`evictedGroups`). A threshold group holds at most `count` timestamps.
public final class AlertEngine {
    public struct Options: Sendable, Hashable {
        /// Live groups kept per rule before the least recently seen are evicted.
        public var maxGroupsPerRule: Int
        /// auditIDs remembered per multi-stage rule, to fire once per auditID.
        public var recentAuditIDs: Int

        public init(maxGroupsPerRule: Int = 10_000, recentAuditIDs: Int = 4096) {
            self.maxGroupsPerRule = max(1, maxGroupsPerRule)
            self.recentAuditIDs = max(1, recentAuditIDs)
        }
    }

    final class CompiledRule {
        let rule: AlertRule
        let condition: CompiledCondition
        /// Text the event's bytes must hold for the condition to be able to hold.
        let needs: ByteNeeds
        let stages: Set<AlertStage>
        let stateful: Bool
        /// True when one request can match at two of the rule's stages (RequestReceived or ResponseStarted,
        /// then ResponseComplete or Panic): fire once per auditID.
        let oncePerAuditID: Bool
        /// The longest time a group's state matters.
        let horizon: TimeInterval
        var groups: [String: GroupState] = [:]
        var lastSweep: Date?
        var recent: Set<String> = []
        var recentOrder: [String] = []
        var recentNext = 0

        init(rule: AlertRule, lists: [String: [String]]) {
            self.rule = rule
            condition = CompiledCondition.compile(rule.condition, lists: lists)
            needs = ByteNeeds.of(condition)
            stages = rule.effectiveStages
            oncePerAuditID = stages.count > 1 && (stages.contains(.requestReceived) || stages.contains(.responseStarted))
            stateful = rule.threshold.map { $0.count > 1 } == true || rule.suppress != nil
            horizon = max(rule.threshold?.window ?? 0, rule.suppress ?? 0)
        }
    }

    struct GroupState {
        var hits: [Date] = []
        var lastFired: Date?
        var lastSeen: Date
    }

    public let ruleSet: AlertRuleSet
    public let options: Options
    public private(set) var statistics = AlertEngineStatistics()

    let compiled: [CompiledRule]
    /// The rules' byte needs, each once; nil when every event is parsed (some rule has none, or
    /// there are too many to search).
    private let distinctNeeds: [ByteNeeds]?
    /// Distinct needs searched before parsing, at most.
    static let maxNeedsSearched = 3
    /// Per stage: rule indices for events of a given resource, and for other resources.
    private var indexByStage: [AlertStage: (byResource: [String: [Int]], other: [Int])] = [:]

    /// Names of enabled rules that can never fire as configured (e.g. `named-secret-access` while the
    /// `sensitive_secrets` list is empty).
    public let inactiveRules: [String]

    /// An engine for the enabled rules of `rules` (the built-in pack by default).
    public init(rules: AlertRuleSet = .builtin, options: Options = Options()) {
        ruleSet = rules
        self.options = options
        let all = rules.enabledRules.map { CompiledRule(rule: $0, lists: rules.lists) }
        inactiveRules = all.filter { if case .constant(false) = $0.condition { true } else { false } }.map(\.rule.name)
        compiled = all.filter { if case .constant(false) = $0.condition { false } else { true } }
        // Each needle is a pass over the event's bytes; parsing it (`JSONDocument`) costs about as
        // much as eight such passes. Measured on the generated events with the built-in pack (22
        // distinct needs): needles first 91,600 events/s, parsing every event 374,000. So the needles
        // are searched only for a few rules (a hunt's scan), and never when a rule has none.
        var seen = Set<ByteNeeds>()
        let distinct = compiled.map(\.needs).filter { seen.insert($0).inserted }
        if compiled.contains(where: { $0.needs.clauses.isEmpty }) || distinct.count > Self.maxNeedsSearched {
            distinctNeeds = nil
        } else {
            distinctNeeds = distinct
        }
        for stage in AlertStage.allCases {
            var byResource: [String: [Int]] = [:]
            var other: [Int] = []
            var resourceBound: [(Int, Set<String>)] = []
            for (i, rule) in compiled.enumerated() where rule.stages.contains(stage) {
                if let resources = rule.condition.requiredResources {
                    resourceBound.append((i, resources))
                } else {
                    other.append(i)
                }
            }
            let allResources = Set(resourceBound.flatMap(\.1))
            for resource in allResources {
                let indices = other + resourceBound.filter { $0.1.contains(resource) }.map(\.0)
                byResource[resource] = indices.sorted()
            }
            indexByStage[stage] = (byResource, other)
        }
    }

    /// Evaluates one event (its JSON bytes, parsed once). Returns the rules that fire, in rule order.
    public func evaluate(event: [UInt8], cluster: String, node: String, now: Date) -> [AlertFiring] {
        // An event that holds no rule's needles cannot fire one: it is not parsed.
        let possible = event.withUnsafeBufferPointer { b in
            guard let needs = distinctNeeds else { return true }
            return needs.contains { $0.admits(b, escaped: false) } || ByteNeeds.mayBeEscaped(b)
        }
        guard possible else {
            statistics.events += 1
            statistics.unparsed += 1
            return []
        }
        guard let view = AuditEventView(bytes: event) else {
            statistics.events += 1
            statistics.malformedEvents += 1
            return []
        }
        return evaluate(view: view, cluster: cluster, node: node, now: now)
    }

    /// Evaluates an already-parsed event.
    public func evaluate(view event: AuditEventView, cluster: String, node: String, now: Date) -> [AlertFiring] {
        statistics.events += 1
        let stage = event.stage.flatMap(AlertStage.init(rawValue:)) ?? .responseComplete
        guard let index = indexByStage[stage] else { return [] }
        let candidates = event.resource.flatMap { index.byResource[$0] } ?? index.other
        var firings: [AlertFiring] = []
        for i in candidates {
            let rule = compiled[i]
            guard rule.condition.evaluate(event) else { continue }
            if let firing = fire(rule, event, cluster: cluster, node: node, now: now) { firings.append(firing) }
        }
        return firings
    }

    /// The names of the rules whose condition holds for the event at its stage, ignoring thresholds,
    /// suppression and state (for explaining, and for tests).
    public func matchingRules(view event: AuditEventView) -> [String] {
        let stage = event.stage.flatMap(AlertStage.init(rawValue:)) ?? .responseComplete
        return compiled.filter { $0.stages.contains(stage) && $0.condition.evaluate(event) }.map(\.rule.name)
    }

    private func fire(_ rule: CompiledRule, _ event: AuditEventView, cluster: String, node: String, now: Date) -> AlertFiring? {
        let name = rule.rule.name
        let auditID = event.auditID ?? ""
        if rule.oncePerAuditID, !auditID.isEmpty {
            if rule.recent.contains(auditID) {
                statistics.duplicateStages[name, default: 0] += 1
                return nil
            }
            remember(auditID, in: rule)
        }
        let message = render(rule.rule.message, event)
        var groupKey = ""
        if let groupBy = rule.rule.threshold?.groupBy, !groupBy.isEmpty {
            groupKey = groupBy.map { "\($0.text)=\(event.render($0) ?? "")" }.joined(separator: ",")
        }
        var count = 1
        if rule.stateful {
            // The group: groupBy values; one group for a threshold without groupBy; else the message.
            let key = rule.rule.threshold == nil ? message : groupKey
            sweepIfDue(rule, now: now)
            var state = rule.groups[key] ?? GroupState(lastSeen: now)
            state.lastSeen = now
            if let threshold = rule.rule.threshold, threshold.count > 1 {
                let cutoff = now.addingTimeInterval(-threshold.window)
                state.hits.removeAll { $0 <= cutoff }
                state.hits.append(now)
                if state.hits.count > threshold.count { state.hits.removeFirst(state.hits.count - threshold.count) }
                guard state.hits.count >= threshold.count else {
                    store(rule, key, state)
                    return nil
                }
                count = state.hits.count
                state.hits.removeAll()
            }
            if let suppress = rule.rule.suppress, let last = state.lastFired, now.timeIntervalSince(last) < suppress {
                statistics.suppressed[name, default: 0] += 1
                store(rule, key, state)
                return nil
            }
            state.lastFired = now
            store(rule, key, state)
        }
        statistics.firings[name, default: 0] += 1
        return AlertFiring(
            rule: name, severity: rule.rule.severity, message: message, auditID: auditID, stage: event.stage ?? "",
            cluster: cluster, node: node, groupKey: groupKey, eventTime: event.timestamp, count: count,
            ruleID: rule.rule.ruleID, level: rule.rule.level)
    }

    private func store(_ rule: CompiledRule, _ key: String, _ state: GroupState) {
        rule.groups[key] = state
        if rule.groups.count > options.maxGroupsPerRule {
            sweep(rule, now: state.lastSeen)
            if rule.groups.count > options.maxGroupsPerRule {
                // Drop the least recently seen tenth (at least one) of the groups.
                let target = max(0, options.maxGroupsPerRule - max(1, options.maxGroupsPerRule / 10))
                let victims = rule.groups.sorted { $0.value.lastSeen < $1.value.lastSeen }.prefix(rule.groups.count - target)
                for (k, _) in victims { rule.groups[k] = nil }
                statistics.evictedGroups[rule.rule.name, default: 0] += victims.count
            }
        }
        statistics.trackedGroups[rule.rule.name] = rule.groups.count
    }

    private func sweepIfDue(_ rule: CompiledRule, now: Date) {
        guard let last = rule.lastSweep else {
            rule.lastSweep = now
            return
        }
        if now.timeIntervalSince(last) >= max(rule.horizon, 1) { sweep(rule, now: now) }
    }

    private func sweep(_ rule: CompiledRule, now: Date) {
        rule.lastSweep = now
        let window = rule.rule.threshold?.window ?? 0
        let suppress = rule.rule.suppress ?? 0
        let before = rule.groups.count
        rule.groups = rule.groups.filter { _, state in
            let liveHits = state.hits.last.map { now.timeIntervalSince($0) < window } ?? false
            let liveSuppress = state.lastFired.map { now.timeIntervalSince($0) < suppress } ?? false
            return liveHits || liveSuppress
        }
        let removed = before - rule.groups.count
        if removed > 0 { statistics.expiredGroups[rule.rule.name, default: 0] += removed }
        statistics.trackedGroups[rule.rule.name] = rule.groups.count
    }

    private func remember(_ auditID: String, in rule: CompiledRule) {
        if rule.recentOrder.count < options.recentAuditIDs {
            rule.recentOrder.append(auditID)
        } else {
            rule.recent.remove(rule.recentOrder[rule.recentNext])
            rule.recentOrder[rule.recentNext] = auditID
            rule.recentNext = (rule.recentNext + 1) % options.recentAuditIDs
        }
        rule.recent.insert(auditID)
    }

    func render(_ template: MessageTemplate, _ event: AuditEventView) -> String {
        var out = ""
        for part in template.parts {
            switch part {
            case .text(let t): out += t
            case .field(let f): out += event.render(f) ?? "<none>"
            }
        }
        return out
    }
}
