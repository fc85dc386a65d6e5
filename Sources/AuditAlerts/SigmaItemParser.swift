// One Sigma selection item, `field|modifier|…: value or [values]`, into tests on the field.
//
// - No modifier: each value is a wildcard pattern matched against the whole value (`SigmaValueMatch`).
//   `|contains`, `|startswith`, `|endswith` put `*` around it; `|cased` makes it case-sensitive.
// - A value that is only `*` matches any present, non-null value (a string, number, mapping or list),
//   as SigmaHQ's rules use it for "the field is there". `null` matches an absent or null field.
// - Numbers and booleans compare as text in their canonical form (`403`, `1.5`, `true`), so the rule's
//   `403` and `'403'` both match the event's number 403 and its string "403".
// - `|all`: every value must match (else any). `|exists: true|false`. `|re` (`|i`, `|m`, `|s` after it).
//   `|cidr`. `|gt`, `|gte`, `|lt`, `|lte`: numbers (a JSON number or a numeric string in the event).
import AuditModel
import Foundation
import Yams

enum SigmaItemParser {
    static func parse(key: String, value: Node, at: SourceLoc, parser: inout SigmaParser) -> SigmaItem? {
        let parts = key.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        let field = parts[0]
        let modifiers = Array(parts.dropFirst())
        if field.isEmpty {
            parser.refuse(at: at, "keyword search ('\(key)' has no field name)")
            return nil
        }
        for m in modifiers where !SigmaParser.supportedModifiers.contains(m) {
            if m == "expand" {
                parser.refuse(at: at, "placeholders ('|expand' on '\(field)')")
            } else if SigmaParser.refusedModifiers.contains(m) {
                parser.refuse(at: at, "modifier '|\(m)' on '\(field)'")
            } else {
                var message = "unknown modifier '|\(m)' on '\(field)'"
                if let s = nearest(m, in: SigmaParser.supportedModifiers) { message += "; did you mean '\(s)'?" }
                parser.refuse(at: at, message)
            }
            return nil
        }
        // Values.
        var nodes: [Node] = []
        if case .sequence(let seq) = value { nodes = Array(seq) } else { nodes = [value] }
        if nodes.isEmpty {
            parser.error(.invalidValue, value.mark, "'\(key)' has an empty list of values")
            return nil
        }
        var scalars: [(String?, Tag.Name?, Mark?)] = []
        for node in nodes {
            guard case .scalar(let s) = node else {
                parser.error(.wrongType, node.mark, "'\(key)': a value must be a string, number, boolean or null, got \(AlertRulesParser.describe(node)); "
                             + "write nested fields as one dotted name")
                return nil
            }
            let tag = AlertRulesParser.plainTag(node)
            scalars.append((tag == .null ? nil : s.string, tag, node.mark))
        }
        let has = Set(modifiers)
        let all = has.contains("all")
        if all, scalars.count < 2 {
            parser.error(.invalidValue, at: at, "'|all' on '\(field)' needs a list of two or more values")
            return nil
        }
        func fail(_ message: String, _ m: Mark? = nil) -> SigmaItem? {
            if let m { parser.error(.invalidValue, m, "'\(key)': \(message)") } else { parser.error(.invalidValue, at: at, "'\(key)': \(message)") }
            return nil
        }
        let shapes = has.intersection(["contains", "startswith", "endswith"])
        let numeric = has.intersection(["gt", "gte", "lt", "lte"])
        let families = [!shapes.isEmpty, !numeric.isEmpty, has.contains("re"), has.contains("cidr"), has.contains("exists")].filter { $0 }.count
        if families > 1 || shapes.count > 1 || numeric.count > 1 { return fail("these modifiers cannot be combined") }
        if let re = modifiers.firstIndex(of: "re") {
            if modifiers[..<re].contains(where: { ["i", "m", "s"].contains($0) }) { return fail("'|i', '|m' and '|s' go after '|re'") }
        } else if !has.intersection(["i", "m", "s"]).isEmpty {
            return fail("'|i', '|m' and '|s' are flags of '|re'")
        }
        if has.contains("cased"), has.contains("re") || has.contains("cidr") || has.contains("exists") || !numeric.isEmpty {
            return fail("'|cased' applies to string matches only")
        }
        var tests: [AlertTest] = []
        for (text, tag, m) in scalars {
            if has.contains("exists") {
                guard scalars.count == 1, tag == .bool, let text else { return fail("'|exists' takes true or false", m) }
                tests.append(.exists(["true", "yes", "on", "y"].contains(text.lowercased())))
                continue
            }
            guard let text else {
                if scalars.count > 1 { return fail("null cannot be one of several values; use a separate selection", m) }
                if !has.isEmpty { return fail("null takes no modifier", m) }
                tests.append(.exists(false))
                continue
            }
            let literal = (tag == .int || tag == .float) ? (Double(text).map(canonicalNumber) ?? text)
                : tag == .bool ? (["true", "yes", "on", "y"].contains(text.lowercased()) ? "true" : "false") : text
            if let op = numeric.first {
                guard let d = Double(text) else { return fail("'|\(op)' takes a number, got '\(text)'", m) }
                tests.append(op == "gt" ? .greaterThan(d) : op == "gte" ? .greaterOrEqual(d) : op == "lt" ? .lessThan(d) : .lessOrEqual(d))
            } else if has.contains("re") {
                guard (try? NSRegularExpression(pattern: text)) != nil else { return fail("invalid regular expression '\(text)'", m) }
                tests.append(.sigma(SigmaValueMatch(kind: .regex(text, caseInsensitive: has.contains("i"), multiLine: has.contains("m"), dotAll: has.contains("s")))))
            } else if has.contains("cidr") {
                guard IPNetwork(text) != nil else { return fail("'\(text)' is not a network such as 10.0.0.0/8 or fd00::/8", m) }
                tests.append(.sigma(SigmaValueMatch(kind: .cidr(text))))
            } else {
                var tokens = tag == nil || tag == .str ? SigmaValueMatch.tokens(literal) : [.literal(literal)]
                if tokens == [.anyRun] {
                    tests.append(.exists(true))
                    continue
                }
                if shapes.contains("contains") || shapes.contains("endswith"), tokens.first != .anyRun { tokens.insert(.anyRun, at: 0) }
                if shapes.contains("contains") || shapes.contains("startswith"), tokens.last != .anyRun { tokens.append(.anyRun) }
                tests.append(.sigma(SigmaValueMatch(kind: .pattern(tokens), cased: has.contains("cased"))))
            }
        }
        return SigmaItem(field: field, tests: tests, all: all, location: at)
    }
}
