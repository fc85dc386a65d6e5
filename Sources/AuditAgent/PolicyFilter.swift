import AuditModel
import AuditPolicy

/// Applies a Kubernetes audit Policy to events at the agent, with the
/// apiserver's semantics: the first matching rule's level decides; None
/// and omitted stages drop the event; lower levels remove bodies; an event
/// already logged below the rule's level is kept as it is.
public struct PolicyFilter: Sendable {
    public let policy: AuditPolicy

    public init(policy: AuditPolicy) { self.policy = policy }

    /// What the policy did to one event.
    public enum Outcome: Sendable, Equatable {
        /// Unchanged: ship the original bytes.
        case keep
        /// Ship these bytes instead.
        case rewrite([UInt8])
        /// Dropped by the rule at this index (nil: no rule matched).
        case drop(rule: Int?, reason: DropReason)
    }

    public enum DropReason: String, Sendable {
        case levelNone = "level_none"
        case omittedStage = "omitted_stage"
    }

    /// The attributes the policy matches on, read from an event.
    public static func request(for e: EventSummary) -> PolicyRequest {
        // The path without its query; found in the UTF-8 bytes ("?" is ASCII, so the index is a
        // character boundary), which costs nothing like a Character-wise split.
        let uri = e.requestURI
        let path = uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { String(uri[..<$0]) } ?? uri
        return PolicyRequest(user: e.username, groups: e.groups, verb: e.verb, isResourceRequest: e.hasObjectRef,
                             apiGroup: e.apiGroup, resource: e.resource, subresource: e.subresource,
                             namespace: e.namespace, name: e.name, path: path)
    }

    /// The decision for an event.
    public func decide(_ e: EventSummary) -> PolicyDecision {
        policy.evaluate(PolicyFilter.request(for: e))
    }

    /// Applies the policy to an event.
    /// - Returns: the outcome, and whether the event was logged at a lower level than the rule asks (counted, kept).
    public func apply(_ bytes: [UInt8], _ e: EventSummary) throws(ScanError) -> (Outcome, underLogged: Bool) {
        try bytes.withUnsafeBufferPointer { buf throws(ScanError) in try apply(buf, e) }
    }

    /// ``apply(_:_:)`` over borrowed bytes (the agent reads events in place).
    public func apply(_ bytes: UnsafeBufferPointer<UInt8>, _ e: EventSummary) throws(ScanError) -> (Outcome, underLogged: Bool) {
        let d = decide(e)
        if d.level == .none { return (.drop(rule: d.ruleIndex, reason: .levelNone), false) }
        if let stage = AuditStage(rawValue: e.stage), d.omitStages.contains(stage) {
            return (.drop(rule: d.ruleIndex, reason: .omittedStage), false)
        }
        let logged = AuditLevel(rawValue: e.level)
        let underLogged = logged.map { $0 < d.level } ?? false
        var edit = EventEditor.Edit()
        if let logged, d.level < logged {
            edit.level = d.level.rawValue
            if d.level < .request { edit.removeRequestObject = e.requestObjectMember != nil }
            if d.level < .requestResponse { edit.removeResponseObject = e.responseObjectMember != nil }
        }
        if d.omitManagedFields && (e.requestObjectMember != nil || e.responseObjectMember != nil) {
            edit.omitManagedFields = true
        }
        if edit.isEmpty { return (.keep, underLogged) }
        let edited = try EventEditor.apply(edit, to: bytes)
        return (edited.elementsEqual(bytes) ? .keep : .rewrite(edited), underLogged)
    }
}
