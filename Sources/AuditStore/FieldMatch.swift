import AuditBlock

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
        return Self.glob(Array(value.utf8), Array(pattern.utf8))
    }

    /// `*` matches any run of bytes; everything else matches itself.
    static func glob(_ s: [UInt8], _ p: [UInt8]) -> Bool {
        var i = 0, j = 0
        var star = -1, mark = 0
        let asterisk = UInt8(ascii: "*")
        while i < s.count {
            if j < p.count, p[j] != asterisk, p[j] == s[i] {
                i += 1
                j += 1
            } else if j < p.count, p[j] == asterisk {
                star = j
                mark = i
                j += 1
            } else if star >= 0 {
                j = star + 1
                mark += 1
                i = mark
            } else {
                return false
            }
        }
        while j < p.count, p[j] == asterisk { j += 1 }
        return j == p.count
    }
}
