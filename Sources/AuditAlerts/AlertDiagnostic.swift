/// One problem found in a rules file, printed as `file:line:col: message`.
public struct AlertDiagnostic: Sendable, Hashable, CustomStringConvertible {
    /// A bounded classification, usable as a metric label.
    public struct Code: Sendable, Hashable, CustomStringConvertible, RawRepresentable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Not valid YAML (or duplicate keys).
        public static let yamlSyntax = Code(rawValue: "yaml_syntax")
        /// Not an `auditship.io/v1` `AlertRules` document.
        public static let notAlertRules = Code(rawValue: "not_alert_rules")
        /// A key the schema does not have.
        public static let unknownField = Code(rawValue: "unknown_field")
        /// A value of the wrong YAML type.
        public static let wrongType = Code(rawValue: "wrong_type")
        /// A required field is absent.
        public static let missingField = Code(rawValue: "missing_field")
        /// A condition key that is not an operator (`equals`, `in`, …) or combinator (`all`, `any`, `not`).
        public static let unknownOperator = Code(rawValue: "unknown_operator")
        /// A field name that is neither a named field nor a valid path.
        public static let unknownEventField = Code(rawValue: "unknown_event_field")
        /// A value outside its allowed set or syntax (severity, duration, stage, regex, …).
        public static let invalidValue = Code(rawValue: "invalid_value")
        /// Two rules with the same name.
        public static let duplicateRule = Code(rawValue: "duplicate_rule")
        /// The file is over the size or rule-count limit.
        public static let tooLarge = Code(rawValue: "too_large")
        /// `disable:` or a list reference names something that does not exist.
        public static let unknownName = Code(rawValue: "unknown_name")
        /// A Sigma feature we do not implement (correlation, keywords, `|expand`, an unknown modifier, …).
        public static let unsupportedSigma = Code(rawValue: "unsupported_sigma")
        /// A warning: a Sigma rule skipped (another log source, deprecated) or a filter naming no loaded rule.
        public static let skippedSigma = Code(rawValue: "skipped_sigma")
    }

    public var code: Code
    /// The file name (or other label) given to the parser.
    public var source: String
    public var line: Int
    public var column: Int
    /// The message, without location.
    public var message: String

    public init(code: Code, source: String, line: Int, column: Int, message: String) {
        self.code = code
        self.source = source
        self.line = line
        self.column = column
        self.message = message
    }

    /// `file:line:col: message`.
    public var description: String { "\(source):\(line):\(column): \(message)" }
}

/// Every error found while loading rules (loading does not stop at the first).
public struct AlertRulesError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The errors, in file order.
    public var diagnostics: [AlertDiagnostic]

    public init(diagnostics: [AlertDiagnostic]) { self.diagnostics = diagnostics }

    /// One `file:line:col: message` line per error.
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }

    /// True when some diagnostic has `code`.
    public func contains(_ code: AlertDiagnostic.Code) -> Bool { diagnostics.contains { $0.code == code } }
}
