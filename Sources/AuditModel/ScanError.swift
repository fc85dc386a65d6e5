/// Why a line or body could not be read as an audit event.
///
/// `code` is bounded (it becomes a metric label and a quarantine reason);
/// `message` says what was wrong and `offset` where, in bytes from the start
/// of the scanned text. Callers add the file and line.
public struct ScanError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Bounded reason codes.
    public enum Code: String, Sendable, CaseIterable {
        /// Not valid JSON.
        case invalidJSON = "invalid_json"
        /// Valid JSON, but not an object.
        case notAnObject = "not_an_object"
        /// An object that is not an audit event (no auditID, wrong kind).
        case notAnEvent = "not_an_event"
        /// Nested deeper than the configured limit.
        case tooDeep = "too_deep"
        /// Larger than the configured limit.
        case tooLarge = "too_large"
        /// A field has the wrong type or an unparseable value.
        case badField = "bad_field"
    }

    public var code: Code
    /// Byte offset in the scanned text where the problem was found.
    public var offset: Int
    public var message: String

    public init(code: Code, offset: Int, message: String) {
        self.code = code
        self.offset = offset
        self.message = message
    }

    public var description: String { "\(code.rawValue) at byte \(offset): \(message)" }
}
