/// One problem found in a policy file, printed as `file:line:col: message`.
public struct PolicyDiagnostic: Sendable, Hashable, CustomStringConvertible, Codable {
    /// A bounded classification, usable as a metric label.
    public struct Code: Sendable, Hashable, Codable, CustomStringConvertible, RawRepresentable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The text is not valid YAML (or has duplicate keys).
        public static let yamlSyntax = Code(rawValue: "yaml_syntax")
        /// The document is not an `audit.k8s.io` Policy.
        public static let notAPolicy = Code(rawValue: "not_a_policy")
        /// `apiVersion` is not `audit.k8s.io/v1` or `audit.k8s.io/v1beta1`.
        public static let unsupportedVersion = Code(rawValue: "unsupported_version")
        /// A key that the Policy schema does not have.
        public static let unknownField = Code(rawValue: "unknown_field")
        /// A value of the wrong YAML type (a string where a list is expected, …).
        public static let wrongType = Code(rawValue: "wrong_type")
        /// A required field is absent.
        public static let missingField = Code(rawValue: "missing_field")
        /// A `level` that is not None, Metadata, Request or RequestResponse.
        public static let unknownLevel = Code(rawValue: "unknown_level")
        /// A stage that is not RequestReceived, ResponseStarted, ResponseComplete or Panic.
        public static let unknownStage = Code(rawValue: "unknown_stage")
        /// A value kube-apiserver's validation rejects.
        public static let invalidValue = Code(rawValue: "invalid_value")
        /// A policy with no rules (kube-apiserver refuses to load it).
        public static let noRules = Code(rawValue: "no_rules")
        /// The document is over the size or rule-count limit.
        public static let tooLarge = Code(rawValue: "too_large")
        /// A deprecated API version (warning).
        public static let deprecated = Code(rawValue: "deprecated")
    }

    public enum Severity: String, Sendable, Hashable, Codable {
        case error, warning
    }

    public var severity: Severity
    public var code: Code
    /// The file name (or other source label) given to the parser.
    public var source: String
    public var line: Int
    public var column: Int
    /// The message, without location.
    public var message: String

    public init(severity: Severity = .error, code: Code, source: String, line: Int, column: Int, message: String) {
        self.severity = severity
        self.code = code
        self.source = source
        self.line = line
        self.column = column
        self.message = message
    }

    public var location: SourceLocation { SourceLocation(line: line, column: column) }

    /// `file:line:col: message` (warnings say `warning: ` before the message).
    public var description: String {
        "\(source):\(line):\(column): \(severity == .warning ? "warning: " : "")\(message)"
    }
}

/// Every error found while parsing a policy (parsing does not stop at the first).
///
/// Prints one `file:line:col: message` line per error.
public struct PolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The errors, in file order.
    public var diagnostics: [PolicyDiagnostic]

    public init(diagnostics: [PolicyDiagnostic]) {
        self.diagnostics = diagnostics
    }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }

    /// True when some diagnostic has `code`.
    public func contains(_ code: PolicyDiagnostic.Code) -> Bool { diagnostics.contains { $0.code == code } }
}
