/// A position in a policy file (1-based line and column).
public struct SourceLocation: Sendable, Hashable, Codable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
    public var description: String { "\(line):\(column)" }
}

/// Resource kinds in one API group (`audit.k8s.io` `GroupResources`).
public struct GroupResources: Sendable, Hashable {
    /// The API group; `""` is the core group. Matched exactly (kube has no group wildcard).
    public var group: String
    /// `pods`, `pods/log`, `*` (all, with subresources), `pods/*`, `*/scale`. Empty: every resource in the group.
    public var resources: [String]
    /// Object names; empty means every name. Requires `resources`.
    public var resourceNames: [String]

    public init(group: String = "", resources: [String] = [], resourceNames: [String] = []) {
        self.group = group
        self.resources = resources
        self.resourceNames = resourceNames
    }
}

/// One rule of a policy (`audit.k8s.io` `PolicyRule`). Empty lists mean "no restriction".
public struct PolicyRule: Sendable, Hashable {
    public var level: AuditLevel
    public var users: [String]
    public var userGroups: [String]
    public var verbs: [String]
    public var resources: [GroupResources]
    public var namespaces: [String]
    public var nonResourceURLs: [String]
    /// The rule's own omitted stages (the policy's are added at evaluation).
    public var omitStages: Set<AuditStage>
    /// Overrides the policy's `omitManagedFields` when set.
    public var omitManagedFields: Bool?
    /// Where the rule starts in its file, when parsed.
    public var location: SourceLocation?

    public init(
        level: AuditLevel, users: [String] = [], userGroups: [String] = [], verbs: [String] = [],
        resources: [GroupResources] = [], namespaces: [String] = [], nonResourceURLs: [String] = [],
        omitStages: Set<AuditStage> = [], omitManagedFields: Bool? = nil, location: SourceLocation? = nil
    ) {
        self.level = level
        self.users = users
        self.userGroups = userGroups
        self.verbs = verbs
        self.resources = resources
        self.namespaces = namespaces
        self.nonResourceURLs = nonResourceURLs
        self.omitStages = omitStages
        self.omitManagedFields = omitManagedFields
        self.location = location
    }

    /// True when the rule selects on resources (has `resources` or `namespaces`); such a rule
    /// never matches a non-resource request and its `nonResourceURLs` are ignored.
    public var selectsResources: Bool { !resources.isEmpty || !namespaces.isEmpty }

    /// True when the rule has no selector at all and so matches every request.
    public var isCatchAll: Bool {
        users.isEmpty && userGroups.isEmpty && verbs.isEmpty && resources.isEmpty && namespaces.isEmpty
            && nonResourceURLs.isEmpty
    }
}
