/// The attributes of one API request that an audit policy looks at.
///
/// Built from an audit event: `user.username`, `user.groups`, `verb`,
/// `objectRef.{apiGroup,resource,subresource,namespace,name}` and the path of `requestURI`.
/// `isResourceRequest` is true when the event has an `objectRef` with a resource.
public struct PolicyRequest: Sendable, Hashable {
    /// The authenticated user name; `nil` when the request carries no user info at all
    /// (such a request matches no rule that names `users` or `userGroups`).
    public var user: String?
    /// The user's groups (ignored when `user` is nil).
    public var groups: [String]
    /// The lowercase API verb (`get`, `list`, `watch`, `create`, …) or HTTP method for non-resource requests.
    public var verb: String
    /// True for requests against API resources, false for non-resource URLs such as `/healthz`.
    public var isResourceRequest: Bool
    /// The API group; `""` is the core group.
    public var apiGroup: String
    /// The resource (plural, lowercase), e.g. `pods`.
    public var resource: String
    /// The subresource, e.g. `log` or `status`; `""` when none.
    public var subresource: String
    /// The namespace; `""` for cluster-scoped resources.
    public var namespace: String
    /// The object name; `""` for collections.
    public var name: String
    /// The request path without query string, matched against `nonResourceURLs`.
    public var path: String

    public init(
        user: String?, groups: [String] = [], verb: String, isResourceRequest: Bool,
        apiGroup: String = "", resource: String = "", subresource: String = "",
        namespace: String = "", name: String = "", path: String = ""
    ) {
        self.user = user
        self.groups = groups
        self.verb = verb
        self.isResourceRequest = isResourceRequest
        self.apiGroup = apiGroup
        self.resource = resource
        self.subresource = subresource
        self.namespace = namespace
        self.name = name
        self.path = path
    }

    /// A resource request.
    public static func resource(
        user: String?, groups: [String] = [], verb: String, apiGroup: String = "",
        resource: String, subresource: String = "", namespace: String = "", name: String = "", path: String = ""
    ) -> PolicyRequest {
        PolicyRequest(
            user: user, groups: groups, verb: verb, isResourceRequest: true, apiGroup: apiGroup,
            resource: resource, subresource: subresource, namespace: namespace, name: name, path: path)
    }

    /// A non-resource request such as `GET /healthz`.
    public static func nonResource(user: String?, groups: [String] = [], verb: String, path: String) -> PolicyRequest {
        PolicyRequest(user: user, groups: groups, verb: verb, isResourceRequest: false, path: path)
    }
}

/// What a policy decides for one request.
public struct PolicyDecision: Sendable, Hashable {
    /// The level of the first matching rule, or `.none` when no rule matches.
    public var level: AuditLevel
    /// The union of the policy's and the matching rule's `omitStages` (the policy's alone when no rule matches).
    public var omitStages: Set<AuditStage>
    /// The matching rule's `omitManagedFields` when set, else the policy's.
    public var omitManagedFields: Bool
    /// Index (0-based, into `AuditPolicy.rules`) of the matching rule; nil when no rule matched.
    public var ruleIndex: Int?

    public init(level: AuditLevel, omitStages: Set<AuditStage>, omitManagedFields: Bool, ruleIndex: Int?) {
        self.level = level
        self.omitStages = omitStages
        self.omitManagedFields = omitManagedFields
        self.ruleIndex = ruleIndex
    }

    /// True when an event of `stage` would be written: level is not None and the stage is not omitted.
    @inlinable
    public func records(stage: AuditStage) -> Bool {
        level != .none && !omitStages.contains(stage)
    }
}
