import AuditBlock
import AuditModel

/// A filter beyond one exact value: a list of values (any may match), values with `*`
/// wildcards, or the exclusion of values (`-user:system:*` in the search box). It is checked on
/// each event's row, after the index chose the candidate blocks.
public struct FieldMatch: Sendable, Hashable {
    public var field: BlockField
    /// Any of these matches (for `resource`, `pods` matches every subresource of pods, `pods/log`
    /// only that one; for `code`, `4xx` matches a class).
    public var values: [String]
    /// `*` in a value matches any run of characters (a quoted value in the search box is literal).
    public var wildcard: Bool
    /// Keep the events none of whose values match.
    public var negated: Bool
    /// Compare `value.lowercased()` with the values, lowercased here (Sigma's default when hunting;
    /// not in the search box). The index cannot choose blocks for such a match: rows are checked.
    public var caseInsensitive: Bool

    public init(field: BlockField, values: [String], wildcard: Bool = false, negated: Bool = false, caseInsensitive: Bool = false) {
        self.field = field
        self.values = caseInsensitive ? values.map { $0.lowercased() } : values
        self.wildcard = wildcard
        self.negated = negated
        self.caseInsensitive = caseInsensitive
    }

    /// The exact values the index can look up (for `resource`, the part before `/`; for `code`, the
    /// codes), when any matching event must hold one of them; nil when the index cannot help
    /// (exclusion, wildcards, case-insensitive, code classes, fields the blocks do not index).
    public var indexTerms: [String]? {
        guard !negated, !caseInsensitive, !values.isEmpty, BlockField.indexed.contains(field) else { return nil }
        if wildcard, values.contains(where: { $0.contains("*") }) { return nil }
        switch field {
        case .code:
            var out: [String] = []
            for v in values {
                guard let c = QueryParameters.code(v), let code = c.code else { return nil }
                out.append(String(code))
            }
            return out
        case .resource:
            return values.map { String($0.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first ?? "") }
        default:
            return values
        }
    }

    /// True when the event's row passes this filter.
    public func matches(_ row: BlockRow) -> Bool {
        let any = values.contains { pattern in
            switch field {
            case .code:
                if let c = QueryParameters.code(pattern) {
                    if let code = c.code { return row.code == code }
                    if let cls = c.codeClass { return row.codeClass == cls }
                }
                return false
            case .resource:
                let parts = pattern.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                guard like(row.resource, parts[0]) else { return false }
                return parts.count == 1 || like(row.subresource, parts[1])
            default:
                return field.values(of: row).contains { like($0, pattern) }
            }
        }
        return negated ? !any : any
    }

    /// This match on one value of a one-value column (the value as stored; a resource pattern is
    /// compared with the resource column alone).
    public func matches(value: String) -> Bool {
        let any = values.contains { like(value, $0) }
        return negated ? !any : any
    }

    /// This match on a response code (nil: none).
    public func matches(code: Int?) -> Bool {
        let any = values.contains { pattern in
            guard let c = QueryParameters.code(pattern) else { return false }
            if let want = c.code { return code == want }
            if let cls = c.codeClass, let code, code >= 100, code < 600 { return code / 100 == cls }
            return false
        }
        return negated ? !any : any
    }

    func like(_ value: String, _ pattern: String) -> Bool {
        if caseInsensitive {
            let folded = value.lowercased()
            guard wildcard, pattern.contains("*") else { return folded == pattern }
            return Glob.matches(Array(pattern.utf8), Array(folded.utf8), questionMark: false)
        }
        guard wildcard, pattern.contains("*") else { return value == pattern }
        return Glob.matches(Array(pattern.utf8), Array(value.utf8), questionMark: false)
    }
}
