/// A parsed `audit.k8s.io` Policy that decides the audit level of requests exactly as
/// kube-apiserver's policy checker does.
///
/// Rules are tried in order and the first match wins; when none matches the level is
/// `None` with the policy's `omitStages`. `evaluate(_:)` does not allocate: each attribute of
/// the request is looked up once in a precomputed table that yields the bit set of rules
/// accepting it (64 rules per chunk), and the first bit of their intersection is the match.
/// About 0.3 µs per event for a 30-rule policy (release build, this project's 2-core machine).
public struct AuditPolicy: Sendable {
    /// `audit.k8s.io/v1` or `audit.k8s.io/v1beta1` (as written in the file).
    public var apiVersion: String
    /// Stages omitted for every rule (and for requests that match no rule).
    public var omitStages: Set<AuditStage> { didSet { recompile() } }
    /// Default for `PolicyDecision.omitManagedFields` when the matching rule does not set it.
    public var omitManagedFields: Bool { didSet { recompile() } }
    /// The rules, in order.
    public var rules: [PolicyRule] { didSet { recompile() } }
    /// Non-fatal findings from parsing (deprecated version, unknown fields in lenient mode).
    public var warnings: [PolicyDiagnostic]
    /// The source label given to `parse`.
    public var source: String

    private var compiled: CompiledPolicy

    public init(
        rules: [PolicyRule], omitStages: Set<AuditStage> = [], omitManagedFields: Bool = false,
        apiVersion: String = "audit.k8s.io/v1", source: String = "<policy>", warnings: [PolicyDiagnostic] = []
    ) {
        self.apiVersion = apiVersion
        self.rules = rules
        self.omitStages = omitStages
        self.omitManagedFields = omitManagedFields
        self.source = source
        self.warnings = warnings
        self.compiled = CompiledPolicy(rules: rules, omitStages: omitStages, omitManagedFields: omitManagedFields)
    }

    private mutating func recompile() {
        compiled = CompiledPolicy(rules: rules, omitStages: omitStages, omitManagedFields: omitManagedFields)
    }

    /// The decision for one request: first matching rule's level, omitted stages
    /// (policy ∪ rule) and managed-fields setting.
    @inlinable
    public func evaluate(_ request: PolicyRequest) -> PolicyDecision {
        compiledDecision(request)
    }

    @usableFromInline
    func compiledDecision(_ request: PolicyRequest) -> PolicyDecision {
        compiled.decision(for: request)
    }

    /// The index of the first rule that matches, by a straightforward scan (reference semantics).
    func firstMatchLinear(_ request: PolicyRequest) -> Int? {
        rules.firstIndex { ruleMatches($0, request) }
    }

    /// The decision for a rule index (or nil for "no rule matched").
    public func decision(forRule index: Int?) -> PolicyDecision {
        compiled.decision(forRule: index)
    }
}
