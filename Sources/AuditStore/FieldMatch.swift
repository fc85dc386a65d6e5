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

    public init(field: BlockField, values: [String], wildcard: Bool = false, negated: Bool = false) {
        self.field = field
        self.values = values
        self.wildcard = wildcard
        self.negated = negated
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

    func like(_ value: String, _ pattern: String) -> Bool {
        guard wildcard, pattern.contains("*") else { return value == pattern }
        return Glob.matches(Array(pattern.utf8), Array(value.utf8), questionMark: false)
    }
}
