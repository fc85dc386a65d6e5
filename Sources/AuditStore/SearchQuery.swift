import AuditBlock

/// The search box's language, read into a query: `field:value` terms and one free-text phrase,
/// the way people type them in Kibana or GitHub.
///
///     user:alice verb:delete resource:secrets ns:prod code:4xx "kubectl-edit"
///
/// - A term is `field:value`; the field is split at the first colon, so values keep theirs
///   (`user:system:serviceaccount:kube-system:default`). A value in double quotes may hold spaces;
///   `\"` and `\\` escape inside quotes.
/// - Fields: `cluster`, `node`, `user`, `group`, `verb`, `resource` (`pods` or `pods/log`),
///   `apiGroup`, `ns` (or `namespace`), `name`, `code` (`404` or `4xx`), `stage`, `auditID`
///   (as the exact text `"auditID":"…"` in the event's bytes, which is how the apiserver writes it).
/// - Anything else is free text, matched case-sensitively in the event's bytes; quote a phrase.
/// - A list of values matches any of them (`verb:delete,patch`); `*` in an unquoted value matches
///   any run of characters (`user:system:*`); a leading `-` excludes (`-user:system:*`,
///   `-verb:get,list,watch`). These are checked on each event the index leaves (`FieldMatch`).
/// - Not taken yet, each refused with a message that names the term: a field given twice with
///   one plain value, lists, wildcards or exclusion for `cluster` and `auditID`, excluding free
///   text, and more than one free-text phrase.
public enum SearchQuery {
    /// One token of the search text.
    struct Token: Equatable {
        var negated: Bool
        var field: String?
        var value: String
        /// The token as typed, for messages.
        var text: String
    }

    /// Fills `query`'s filters from the search text.
    public static func apply(_ text: String, to query: inout EventQuery) throws(StoreError) {
        var phrase: String?
        var seen: Set<String> = []
        for token in try tokens(text) {
            guard let field = token.field else {
                guard !token.negated else {
                    throw StoreError("'\(token.text)': excluding free text is not supported yet; exclude a field's values (-user:…) instead")
                }
                if token.value.contains("*") && !token.text.hasPrefix("\"") {
                    throw StoreError("'\(token.text)': wildcards are not supported yet; free text matches anywhere in the event already")
                }
                guard phrase == nil else {
                    throw StoreError("'\(token.text)': one free-text phrase per search; put the words in double quotes to search for them together")
                }
                phrase = token.value
                continue
            }
            let key = canonical(field)
            guard let key else {
                throw StoreError("'\(token.text)': '\(field)' is not a field to search; use cluster, node, user, group, verb, resource, apiGroup, ns, name, code, stage or auditID (or quote the text)")
            }
            let v = token.value
            let quoted = token.text.contains("\"")
            let list = !quoted && v.contains(",")
            let wildcard = !quoted && v.contains("*")
            if token.negated || list || wildcard {
                guard let blockField = matchField(key) else {
                    throw StoreError("'\(token.text)': lists, wildcards and excluding are not supported for \(key) yet; give one whole value")
                }
                let values = list ? v.split(separator: ",", omittingEmptySubsequences: false).map(String.init) : [v]
                if values.contains(where: \.isEmpty) { throw StoreError("'\(token.text)': a list has an empty value") }
                if key == "code", let bad = values.first(where: { QueryParameters.code($0) == nil }) {
                    throw StoreError("'\(token.text)': '\(bad)' is not a response code like 404 or a class like 4xx")
                }
                query.matches.append(FieldMatch(field: blockField, values: values, wildcard: wildcard, negated: token.negated))
                continue
            }
            guard seen.insert(key).inserted else {
                throw StoreError("'\(token.text)': \(key) is given twice; give a list instead (\(field):a,b)")
            }
            switch key {
            case "cluster": query.cluster = v
            case "node": query.node = v
            case "user": query.user = v
            case "group": query.group = v
            case "verb": query.verb = v
            case "resource": query.resource = v
            case "apiGroup": query.apiGroup = v
            case "namespace": query.namespace = v
            case "name": query.name = v
            case "stage": query.stage = v
            case "code":
                guard let c = QueryParameters.code(v) else {
                    throw StoreError("'\(token.text)': '\(v)' is not a response code like 404 or a class like 4xx")
                }
                query.code = c.code
                query.codeClass = c.codeClass
            case "auditID":
                guard phrase == nil, query.text == nil else {
                    throw StoreError("'\(token.text)': auditID is searched as text, and this search has free text already")
                }
                query.text = #""auditID":""# + jsonEscaped(v) + "\""
            default:
                break
            }
        }
        if let phrase {
            guard query.text == nil else {
                throw StoreError("'\(phrase)': auditID is searched as text, and this search has free text already")
            }
            query.text = phrase
        }
    }

    /// The row field a list, wildcard or exclusion is checked on.
    static func matchField(_ key: String) -> BlockField? {
        switch key {
        case "node": .node
        case "user": .user
        case "group": .groups
        case "verb": .verb
        case "resource": .resource
        case "apiGroup": .apiGroup
        case "namespace": .namespace
        case "name": .name
        case "code": .code
        case "stage": .stage
        default: nil
        }
    }

    static func canonical(_ field: String) -> String? {
        switch field.lowercased() {
        case "cluster": "cluster"
        case "node": "node"
        case "user", "username": "user"
        case "group": "group"
        case "verb": "verb"
        case "resource": "resource"
        case "apigroup", "api": "apiGroup"
        case "ns", "namespace": "namespace"
        case "name": "name"
        case "code", "status": "code"
        case "stage": "stage"
        case "auditid": "auditID"
        default: nil
        }
    }

    /// The value as it appears inside a JSON string written by the apiserver.
    static func jsonEscaped(_ s: String) -> String {
        var out = ""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// Splits the text into tokens: whitespace separates them outside double quotes.
    static func tokens(_ text: String) throws(StoreError) -> [Token] {
        var out: [Token] = []
        let chars = Array(text)
        var i = 0
        func isSpace(_ c: Character) -> Bool { c == " " || c == "\t" || c == "\n" || c == "\r" }
        while i < chars.count {
            while i < chars.count, isSpace(chars[i]) { i += 1 }
            guard i < chars.count else { break }
            let start = i
            var negated = false
            if chars[i] == "-", i + 1 < chars.count, !isSpace(chars[i + 1]) {
                negated = true
                i += 1
            }
            var field: String?
            // A field name: letters, then a colon, outside quotes.
            var j = i
            while j < chars.count, chars[j].isLetter { j += 1 }
            if j > i, j < chars.count, chars[j] == ":" {
                field = String(chars[i..<j])
                i = j + 1
            }
            var value = ""
            if i < chars.count, chars[i] == "\"" {
                i += 1
                var closed = false
                while i < chars.count {
                    let c = chars[i]
                    if c == "\\", i + 1 < chars.count { value.append(chars[i + 1]); i += 2; continue }
                    if c == "\"" { closed = true; i += 1; break }
                    value.append(c)
                    i += 1
                }
                guard closed else { throw StoreError("'\(String(chars[start...]))': a quote is not closed") }
                if i < chars.count, !isSpace(chars[i]) {
                    throw StoreError("'\(String(chars[start..<min(chars.count, i + 1)]))': put a space after the closing quote")
                }
            } else {
                while i < chars.count, !isSpace(chars[i]) { value.append(chars[i]); i += 1 }
            }
            let typed = String(chars[start..<i])
            if field != nil && value.isEmpty { throw StoreError("'\(typed)': give a value after the colon") }
            out.append(Token(negated: negated, field: field, value: value, text: typed))
        }
        return out
    }
}
