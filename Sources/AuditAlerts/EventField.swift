import AuditModel
/// Why a field name or template is invalid.
public struct EventFieldError: Error, Sendable, Hashable {
    public var message: String
}

/// A field of an audit event that conditions, templates and `groupBy` read.
///
/// Named fields:
/// `user` (user.username), `groups` (user.groups, a list), `verb`, `resource`, `subresource`,
/// `apiGroup` (objectRef.apiGroup; `""` for the core group when objectRef is present), `apiVersion`
/// (objectRef.apiVersion), `namespace`, `name` (objectRef.name, else requestObject.metadata.name, else
/// responseObject.metadata.name: a create has no name in objectRef), `namespacedName`
/// (`namespace/name`, or `name` for a cluster-scoped object), `code` (responseStatus.code),
/// `decision` (annotations["authorization.k8s.io/decision"]), `reason`
/// (annotations["authorization.k8s.io/reason"]), `stage`, `userAgent`, `sourceIP` (every entry of
/// sourceIPs, a list), `level`, `requestURI`, `auditID`, `impersonatedUser` (impersonatedUser.username).
///
/// Paths: a root — `requestObject`, `responseObject`, `annotations`, `objectRef`, `responseStatus`,
/// `impersonatedUser` or `event` (the whole event) — then steps: `.key`, `["key.with.dots"]`, `[N]` (a
/// list index), `[*]` (every element of a list, or every value of a mapping: fans out) and `[keys]`
/// (every key of a mapping). Examples: `requestObject.spec.containers[*].securityContext.privileged`,
/// `requestObject.roleRef.name`, `annotations["authorization.k8s.io/reason"]`, `requestObject.data[keys]`,
/// `event.user.extra`.
public struct EventField: Sendable, Hashable, CustomStringConvertible {
    enum Named: String, CaseIterable, Sendable {
        case user, groups, verb, resource, subresource, apiGroup, apiVersion, namespace, name, namespacedName
        case code, decision, reason, stage, userAgent, sourceIP, level, requestURI, auditID, impersonatedUser
    }

    enum Root: String, CaseIterable, Sendable {
        case requestObject, responseObject, annotations, objectRef, responseStatus, impersonatedUser, event
    }

    enum Step: Sendable, Hashable {
        case key(String)
        case index(Int)
        case each
        case keys
    }

    enum Kind: Sendable, Hashable {
        case named(Named)
        case path(Root, [Step])
        /// A Sigma field name split at its dots, resolved over the whole event (see `SigmaFieldMapping`).
        case dotted([String])
    }

    /// The field as written.
    public let text: String
    let kind: Kind

    public var description: String { text }

    /// Every named field, for documentation and suggestions.
    public static var namedFields: [String] { Named.allCases.map(\.rawValue) }
    /// Every path root.
    public static var pathRoots: [String] { Root.allCases.map(\.rawValue) }

    /// Parses a field name or path.
    public static func parse(_ text: String) -> Result<EventField, EventFieldError> {
        if let named = Named(rawValue: text) { return .success(EventField(text: text, kind: .named(named))) }
        // The root runs to the first '.' or '['.
        let rootEnd = text.firstIndex { $0 == "." || $0 == "[" } ?? text.endIndex
        let rootName = String(text[..<rootEnd])
        guard let root = Root(rawValue: rootName) else {
            var message = "unknown field '\(text)'"
            let candidates = namedFields + pathRoots
            if let s = nearest(rootName, in: candidates) {
                message += "; did you mean '\(rootEnd == text.endIndex ? s : s + text[rootEnd...])'?"
            } else if rootEnd == text.endIndex {
                message += "; fields are \(namedFields.joined(separator: ", ")), or a path under \(pathRoots.joined(separator: ", "))"
            } else {
                message += "; a path starts with one of \(pathRoots.joined(separator: ", "))"
            }
            return .failure(EventFieldError(message: message))
        }
        var steps: [Step] = []
        var i = rootEnd
        let chars = text
        func fail(_ why: String) -> Result<EventField, EventFieldError> {
            .failure(EventFieldError(message: "invalid path '\(text)': \(why)"))
        }
        while i < chars.endIndex {
            let c = chars[i]
            if c == "." {
                let start = chars.index(after: i)
                let end = chars[start...].firstIndex { $0 == "." || $0 == "[" } ?? chars.endIndex
                if start == end { return fail("empty step after '.'") }
                steps.append(.key(String(chars[start..<end])))
                i = end
            } else if c == "[" {
                let start = chars.index(after: i)
                guard start < chars.endIndex else { return fail("unclosed '['") }
                if chars[start] == "\"" {
                    // ["quoted key"]
                    let keyStart = chars.index(after: start)
                    guard let quote = chars[keyStart...].firstIndex(of: "\"") else { return fail("unclosed quote") }
                    let afterQuote = chars.index(after: quote)
                    guard afterQuote < chars.endIndex, chars[afterQuote] == "]" else { return fail("expected ']' after the quoted key") }
                    steps.append(.key(String(chars[keyStart..<quote])))
                    i = chars.index(after: afterQuote)
                } else {
                    guard let close = chars[start...].firstIndex(of: "]") else { return fail("unclosed '['") }
                    let inner = String(chars[start..<close])
                    if inner == "*" {
                        steps.append(.each)
                    } else if inner == "keys" {
                        steps.append(.keys)
                    } else if let n = Int(inner), n >= 0 {
                        steps.append(.index(n))
                    } else {
                        return fail("'[\(inner)]' is not [*], [keys], [N] or [\"key\"]")
                    }
                    i = chars.index(after: close)
                }
            } else {
                return fail("unexpected '\(c)'")
            }
        }
        if root == .event, steps.isEmpty { return fail("'event' needs a step, such as event.user.extra") }
        if let k = steps.firstIndex(of: .keys), k != steps.count - 1 { return fail("[keys] must be the last step") }
        return .success(EventField(text: text, kind: .path(root, steps)))
    }

    /// A Sigma field name (`objectRef.resource`, `annotations.authorization.k8s.io/decision`), resolved
    /// from the event's root: at each level the longest run of dot-separated parts that is a key of the
    /// mapping is tried first, then shorter runs (so a literal key containing dots wins over nesting,
    /// and both are tried); a list on the way fans out to its elements.
    static func sigma(_ name: String) -> EventField {
        EventField(text: name, kind: .dotted(name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)))
    }

    init(text: String, kind: Kind) {
        self.text = text
        self.kind = kind
    }

    public static func == (lhs: EventField, rhs: EventField) -> Bool { lhs.kind == rhs.kind }
    public func hash(into hasher: inout Hasher) { hasher.combine(kind) }
}
