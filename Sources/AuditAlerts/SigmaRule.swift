// Sigma rules (https://sigmahq.io, specification v2) for `logsource: {product: kubernetes, service: audit}`,
// loaded natively next to our own rule format and compiled into `AlertRule`s the same engine evaluates.
//
// What a Sigma document becomes:
// - A rule (`detection:`) → an `AlertRule` named by its `title`, carrying its `id` (`AlertRule.ruleID`)
//   and `level` (`AlertRule.level`); the level maps onto our severity: informational → info, low,
//   medium, high, critical (no level: medium). Its message describes the request:
//   `{{user}} {{verb}} {{resource}} {{namespacedName}}` (the title is the rule's name).
// - A filter (`filter:`, Sigma Filters v2) → a site exception: for each rule it names (by `id` or
//   `title`) the rule fires only when its condition holds and the filter's does not.
// - Skipped, with a warning (`AlertRuleSet.warnings`): a log source other than product kubernetes +
//   service audit (category absent or application), and `status: deprecated` / `unsupported`.
// - Refused, as an error naming file:line:col and the feature: correlation rules, rule collections
//   (`action:`), keyword searches (values without a field name), `|expand` placeholders, aggregations
//   (`| count()`, `timeframe`), modifiers outside the supported set, and malformed values.
//
// Stage: no Sigma rule names one, so a Sigma rule is evaluated on `ResponseComplete` and `Panic` (the
// default stages): each request fires at most once, when it completes (exec, attach and portforward
// requests complete too, when their stream ends).
//
// Field names: see `SigmaFieldMapping` (short names) and `EventField.sigma` (dotted names). Values:
// see `SigmaValueMatch` (wildcards, escapes, case). Conditions: see `SigmaCondition`.
import AuditModel

/// A Sigma `level`.
public enum SigmaLevel: String, Sendable, Hashable, CaseIterable {
    case informational, low, medium, high, critical

    /// Our severity for the level.
    public var severity: AlertSeverity {
        switch self {
        case .informational: .info
        case .low: .low
        case .medium: .medium
        case .high: .high
        case .critical: .critical
        }
    }
}

/// One selection item: `field|mod|mod: values`, already turned into tests on the (unmapped) field.
struct SigmaItem: Sendable {
    /// The field as written (before mapping).
    var field: String
    /// One test per value.
    var tests: [AlertTest]
    /// True with `|all`: every value must match; else any.
    var all: Bool
    var location: SourceLoc
}

/// A search identifier: a list of maps (OR), each map a list of items (AND).
struct SigmaSearch: Sendable {
    var name: String
    var maps: [[SigmaItem]]
    var location: SourceLoc
}

/// A parsed condition over search identifiers (`1 of x*` already expanded to names).
indirect enum SigmaExpression: Sendable, Hashable {
    case identifier(String)
    case and([SigmaExpression])
    case or([SigmaExpression])
    case not(SigmaExpression)
}

/// The searches and the condition of a rule's `detection:` (or a filter's `filter:`).
struct SigmaDetection: Sendable {
    var searches: [String: SigmaSearch]
    var condition: SigmaExpression
}

/// A Sigma rule as parsed, before field mapping.
struct SigmaRuleSpec: Sendable {
    var title: String
    var id: String?
    var level: SigmaLevel
    var description: String
    var detection: SigmaDetection
    var location: SourceLoc
}

/// A Sigma filter as parsed: the rules it applies to (ids or titles) and its detection.
struct SigmaFilterSpec: Sendable {
    var title: String
    var targets: [(String, SourceLoc)]
    var detection: SigmaDetection
    var location: SourceLoc
}

/// What the Sigma documents of a set of files hold.
struct SigmaFileSpec: Sendable {
    var rules: [SigmaRuleSpec] = []
    var filters: [SigmaFilterSpec] = []
}
