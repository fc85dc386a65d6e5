import AuditAlerts
import AuditBlock
import AuditStore

/// Which stored events a hunt reads, and with which rules: the rules' prefilters grouped so that
/// each group is one scan of the store's index. Pure: no store, no clock.
///
/// Rules with the same prefilter share a scan, and each rule is in exactly one scan, so its
/// thresholds and suppression see exactly the events it could match, in timestamp order: the
/// firings are those of one engine over every event. A store that reads all scans in one pass
/// (`ScanningStore`) keeps them apart even when one of them is open (a rule that can fire on any
/// event): each event goes to the rules of the scans it passes, so the narrow rules do not look at
/// (nor parse) every event. A source read scan by scan (an aggregator) reads `pagedScans`, where
/// an open scan takes every rule, so that no event is read twice.
public struct HuntPlan: Sendable {
    public struct Scan: Sendable {
        /// What the scan's events must hold.
        public var prefilter: AlertPrefilter
        /// The rules evaluated on them, in rule order.
        public var rules: [String]
    }

    public var scans: [Scan]
    /// Enabled rules that can never fire as configured (an empty list), not hunted.
    public var inactiveRules: [String]

    /// The scans for a source read scan by scan: `scans`, or one scan of every event with every
    /// rule when some scan is open.
    public var pagedScans: [Scan] {
        guard scans.contains(where: { $0.prefilter.isOpen }) else { return scans }
        return [Scan(prefilter: AlertPrefilter(), rules: scans.flatMap(\.rules))]
    }

    public init(rules: AlertRuleSet) {
        let engine = AlertEngine(rules: rules)
        inactiveRules = engine.inactiveRules
        let prefilters = engine.prefilters.filter { !$0.prefilter.matchesNothing }
        var order: [AlertPrefilter] = []
        var byPrefilter: [AlertPrefilter: [String]] = [:]
        for (rule, p) in prefilters {
            if byPrefilter[p] == nil { order.append(p) }
            byPrefilter[p, default: []].append(rule)
        }
        scans = order.map { Scan(prefilter: $0, rules: byPrefilter[$0] ?? []) }
    }

    /// The filters of a store query for a prefilter (every event a rule of the scan can fire on passes).
    public static func matches(_ p: AlertPrefilter) -> [FieldMatch] {
        p.constraints.sorted { $0.key < $1.key }.map { field, v in
            FieldMatch(field: blockField(field), values: v.values.sorted(), caseInsensitive: v.caseInsensitive)
        }
    }

    /// The prefilter as search-box text (`resource:secrets verb:get,list`) for an aggregator's
    /// `q=` parameter. The search box has no case-insensitive match and no quoting inside a list:
    /// such constraints are left out (the scan reads more, the firings are the same).
    public static func searchText(_ p: AlertPrefilter) -> String {
        var terms: [String] = []
        for (field, v) in p.constraints.sorted(by: { $0.key < $1.key }) {
            guard !v.caseInsensitive, !v.values.isEmpty, v.values.allSatisfy(plain) else { continue }
            let name = field == .namespace ? "ns" : field.rawValue
            if field == .subresource { continue }  // the search box takes it only as resource/subresource
            terms.append("\(name):\(v.values.sorted().joined(separator: ","))")
        }
        return terms.joined(separator: " ")
    }

    /// Values the search box reads back unchanged inside a list.
    static func plain(_ s: String) -> Bool {
        !s.isEmpty && !s.hasPrefix("-") && s.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == 0x2E || b == 0x5F || b == 0x3A || b == 0x2F || b == 0x40 || b == 0x2D
        }
    }

    static func blockField(_ f: AlertPrefilter.Field) -> BlockField {
        switch f {
        case .user: .user
        case .verb: .verb
        case .resource: .resource
        case .subresource: .subresource
        case .namespace: .namespace
        case .code: .code
        }
    }
}
