// Sigma's condition grammar, over the search identifiers of a detection:
//
//     or    := and ("or" and)*
//     and   := not ("and" not)*
//     not   := "not" not | of
//     of    := ("1" | "all") "of" (PATTERN | "them") | group
//     group := "(" or ")" | IDENTIFIER
//
// So precedence, loosest first: `or`, `and`, `not`, `x of`, parentheses; `not a and b` is
// `(not a) and b`. Keywords are case-insensitive. A PATTERN is an identifier with `*` wildcards;
// `them` is every identifier not starting with `_`. `1 of` is any of the matched searches, `all of`
// every one. An identifier that is not defined, or a pattern matching none, is an error; an
// aggregation (`| count() …`, Sigma v1) is refused. A list of conditions means any of them
// (see `SigmaParser.parseDetection`).
import AuditModel

/// Why a condition did not parse.
struct SigmaConditionFailure: Error, Sendable {
    var message: String
    /// True for a Sigma feature we refuse (aggregations), false for a malformed condition.
    var unsupported = false
}

enum SigmaConditionParser {
    static func parse(_ text: String, identifiers: [String]) -> Result<SigmaExpression, SigmaConditionFailure> {
        if text.contains("|") {
            return .failure(SigmaConditionFailure(message: "aggregation in the condition ('| …'; Sigma v2 moved it to correlation rules)", unsupported: true))
        }
        var state = State(tokens: tokenize(text), identifiers: identifiers)
        do throws(SigmaConditionFailure) {
            let e = try state.parseOr()
            if let extra = state.peek { throw SigmaConditionFailure(message: "unexpected '\(extra)'") }
            return .success(e)
        } catch {
            return .failure(error)
        }
    }

    static func tokenize(_ text: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        for c in text {
            if c == "(" || c == ")" || c.isWhitespace {
                if !current.isEmpty { tokens.append(current) }
                current = ""
                if !c.isWhitespace { tokens.append(String(c)) }
            } else {
                current.append(c)
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    struct State {
        var tokens: [String]
        var position = 0
        let identifiers: [String]

        init(tokens: [String], identifiers: [String]) {
            self.tokens = tokens
            self.identifiers = identifiers
        }

        var peek: String? { position < tokens.count ? tokens[position] : nil }

        func isKeyword(_ word: String) -> Bool { peek?.lowercased() == word }

        mutating func next() -> String? {
            defer { position += 1 }
            return peek
        }

        mutating func parseOr() throws(SigmaConditionFailure) -> SigmaExpression {
            var items = [try parseAnd()]
            while isKeyword("or") {
                position += 1
                items.append(try parseAnd())
            }
            return items.count == 1 ? items[0] : .or(items)
        }

        mutating func parseAnd() throws(SigmaConditionFailure) -> SigmaExpression {
            var items = [try parseNot()]
            while isKeyword("and") {
                position += 1
                items.append(try parseNot())
            }
            return items.count == 1 ? items[0] : .and(items)
        }

        mutating func parseNot() throws(SigmaConditionFailure) -> SigmaExpression {
            if isKeyword("not") {
                position += 1
                return .not(try parseNot())
            }
            return try parseOf()
        }

        mutating func parseOf() throws(SigmaConditionFailure) -> SigmaExpression {
            if let word = peek?.lowercased(), word == "1" || word == "all" || word == "any" {
                position += 1
                guard isKeyword("of") else { throw SigmaConditionFailure(message: "expected 'of' after '\(word)'") }
                position += 1
                guard let target = next(), target != "(", target != ")" else {
                    throw SigmaConditionFailure(message: "expected a pattern or 'them' after '\(word) of'")
                }
                if word == "any" { throw SigmaConditionFailure(message: "'any of' is not Sigma; write '1 of'") }
                let names = try expand(target)
                let refs = names.map(SigmaExpression.identifier)
                if refs.count == 1 { return refs[0] }
                return word == "1" ? .or(refs) : .and(refs)
            }
            return try parseGroup()
        }

        mutating func parseGroup() throws(SigmaConditionFailure) -> SigmaExpression {
            guard let token = next() else { throw SigmaConditionFailure(message: "the condition ends too early") }
            if token == "(" {
                let inner = try parseOr()
                guard next() == ")" else { throw SigmaConditionFailure(message: "missing ')'") }
                return inner
            }
            if token == ")" { throw SigmaConditionFailure(message: "unexpected ')'") }
            if ["and", "or", "of", "them"].contains(token.lowercased()) {
                throw SigmaConditionFailure(message: "unexpected '\(token)'")
            }
            guard identifiers.contains(token) else {
                var message = "unknown search identifier '\(token)'"
                if let s = nearest(token, in: identifiers) { message += "; did you mean '\(s)'?" }
                throw SigmaConditionFailure(message: message)
            }
            return .identifier(token)
        }

        /// The identifiers a `x of` target names, in detection order.
        func expand(_ target: String) throws(SigmaConditionFailure) -> [String] {
            let names: [String]
            if target.lowercased() == "them" {
                names = identifiers.filter { !$0.hasPrefix("_") }
            } else {
                let pattern = Array(target.utf8)
                names = identifiers.filter { Glob.matches(pattern, Array($0.utf8), questionMark: false) }
            }
            guard !names.isEmpty else { throw SigmaConditionFailure(message: "'\(target)' matches no search identifier") }
            return names
        }
    }
}
