import Foundation

/// How serious an alert is. Ordered: `info < low < medium < high < critical`.
public enum AlertSeverity: String, Sendable, Hashable, CaseIterable, Comparable, Codable {
    case info, low, medium, high, critical

    var rank: Int {
        switch self {
        case .info: 0
        case .low: 1
        case .medium: 2
        case .high: 3
        case .critical: 4
        }
    }

    public static func < (lhs: AlertSeverity, rhs: AlertSeverity) -> Bool { lhs.rank < rhs.rank }
}

/// The audit stages a rule may be evaluated on.
public enum AlertStage: String, Sendable, Hashable, CaseIterable, Codable {
    case requestReceived = "RequestReceived"
    case responseStarted = "ResponseStarted"
    case responseComplete = "ResponseComplete"
    case panic = "Panic"

    /// The stages a rule is evaluated on when it does not say `stages:`.
    ///
    /// `ResponseComplete` carries the final response code and is what Falco's k8saudit rules
    /// evaluate; `Panic` is the apiserver failing mid-request, rare and worth seeing. `RequestReceived`
    /// has no response yet and would double every alert; `ResponseStarted` is emitted only for
    /// long-running requests (watch, exec, attach, portforward), so rules about those (the built-in
    /// `pod-exec`, `pod-attach`, `pod-portforward`) list it explicitly and fire once per auditID.
    public static let defaultStages: Set<AlertStage> = [.responseComplete, .panic]
}

/// "N matches within a window, counted per group".
public struct AlertThreshold: Sendable, Hashable {
    /// Matches needed to fire (at least 1).
    public var count: Int
    /// The sliding window, in seconds.
    public var window: TimeInterval
    /// Fields whose values form the group key; empty means one group for the whole rule.
    public var groupBy: [EventField]

    public init(count: Int, window: TimeInterval, groupBy: [EventField] = []) {
        self.count = count
        self.window = window
        self.groupBy = groupBy
    }
}

/// A condition over one audit event.
///
/// Leaf tests read a field, which may yield several values: list fields (`groups`, `sourceIP`),
/// a path whose last step is a JSON list, and paths that fan out with `[*]`.
/// **A leaf test is true when ANY of the values satisfies it** (and false when there is none),
/// like Falco's `intersects`. So `{field: requestObject.spec.containers[*].securityContext.privileged,
/// equals: true}` is true when at least one container is privileged. Use `not:` around an `any`
/// test to say "none", e.g. `not: {field: …[*].image, prefix: registry.corp/}` is "no image from the registry".
public indirect enum AlertCondition: Sendable, Hashable {
    /// True when every condition is (an empty `all` is true).
    case all([AlertCondition])
    /// True when at least one condition is (an empty `any` is false).
    case any([AlertCondition])
    case not(AlertCondition)
    /// A test on one field.
    case test(EventField, AlertTest)
}

/// A set of values for `in:`: written out, or a named list (`in: {list: NAME}`) from `lists:`.
public enum AlertValueList: Sendable, Hashable {
    case literal([String])
    case named(String)
}

/// A leaf test. Values compare as text: a JSON number compares as its shortest decimal form
/// (`403`, `1.5`), a boolean as `true`/`false`, so `equals: 403` and `equals: "403"` are the same.
public enum AlertTest: Sendable, Hashable {
    /// Some value equals the text.
    case equals(String)
    /// Some value is one of the set.
    case oneOf(AlertValueList)
    /// Some string value starts with one of the prefixes (one string, a list, or `{list: NAME}`).
    case prefix(AlertValueList)
    /// Some string value matches one of the glob patterns (`*` any run, `?` one character; one pattern,
    /// a list, or `{list: NAME}`).
    case glob(AlertValueList)
    /// The field is present and not null (an empty list is present) — or, with false, it is not.
    case exists(Bool)
    /// Some numeric value (a JSON number or a numeric string) compares so.
    case greaterThan(Double)
    case greaterOrEqual(Double)
    case lessThan(Double)
    case lessOrEqual(Double)
    /// For a list (a list field or a path ending in a JSON list): some element equals the text.
    /// For a string value: the string contains the text.
    case contains(String)
    /// Some string value matches the regular expression (ICU syntax, unanchored; `(?i)` for case-insensitive).
    case matches(String)
    /// A Sigma value match (wildcards, case-insensitive by default, `|re`, `|cidr`; see `SigmaValueMatch`).
    case sigma(SigmaValueMatch)
}

/// A `{{field}}` message template.
public struct MessageTemplate: Sendable, Hashable, CustomStringConvertible {
    enum Part: Sendable, Hashable {
        case text(String)
        case field(EventField)
    }

    let parts: [Part]
    /// The template as written.
    public let source: String

    init(parts: [Part], source: String) {
        self.parts = parts
        self.source = source
    }

    public var description: String { source }

    /// Parses `text`, or returns an error message (unknown field, unclosed `{{`).
    public static func parse(_ text: String) -> Result<MessageTemplate, EventFieldError> {
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.text(String(rest[..<open.lowerBound]))) }
            let after = rest[open.upperBound...]
            guard let close = after.range(of: "}}") else {
                return .failure(EventFieldError(message: "unclosed '{{' in message template"))
            }
            let name = after[..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            switch EventField.parse(name) {
            case .success(let field): parts.append(.field(field))
            case .failure(let error):
                return .failure(EventFieldError(message: "in message template: \(error.message)"))
            }
            rest = after[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        return .success(MessageTemplate(parts: parts, source: text))
    }

    /// The fields the template reads.
    public var fields: [EventField] {
        parts.compactMap { if case .field(let f) = $0 { f } else { nil } }
    }
}

/// One alert rule, fully resolved (a built-in, a user rule, or a built-in overridden by a user).
public struct AlertRule: Sendable, Hashable {
    /// Unique name (`kebab-case` for the built-ins).
    public var name: String
    public var description: String
    public var severity: AlertSeverity
    public var condition: AlertCondition
    public var threshold: AlertThreshold?
    /// Fire at most once per this many seconds for the same group (see `AlertEngine`).
    public var suppress: TimeInterval?
    public var message: MessageTemplate
    public var enabled: Bool
    /// The stages evaluated; `nil` means `AlertStage.defaultStages`.
    public var stages: Set<AlertStage>?
    /// Where the effective definition came from (`file:line:col`; `builtin:line:col` for the pack).
    public var origin: String
    /// True for a rule of the built-in pack (also when a user file overrode some of its fields).
    public var isBuiltin: Bool
    /// A Sigma rule's `id` (nil for our rules, and for a Sigma rule without one).
    public var ruleID: String?
    /// A Sigma rule's `level` as Sigma names it (`informational`, `low`, …); nil for our rules.
    public var level: String?

    public init(
        name: String, description: String = "", severity: AlertSeverity, condition: AlertCondition,
        threshold: AlertThreshold? = nil, suppress: TimeInterval? = nil, message: MessageTemplate,
        enabled: Bool = true, stages: Set<AlertStage>? = nil, origin: String = "", isBuiltin: Bool = false,
        ruleID: String? = nil, level: String? = nil
    ) {
        self.name = name
        self.description = description
        self.severity = severity
        self.condition = condition
        self.threshold = threshold
        self.suppress = suppress
        self.message = message
        self.enabled = enabled
        self.stages = stages
        self.origin = origin
        self.isBuiltin = isBuiltin
        self.ruleID = ruleID
        self.level = level
    }

    /// The stages this rule is evaluated on.
    public var effectiveStages: Set<AlertStage> { stages ?? AlertStage.defaultStages }
}
