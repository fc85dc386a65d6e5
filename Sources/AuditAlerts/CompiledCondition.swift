import AuditModel
import Foundation

/// NSRegularExpression is immutable and documented thread-safe.
final class RegexBox: @unchecked Sendable {
    let regex: NSRegularExpression?
    init(_ pattern: String, options: NSRegularExpression.Options = []) {
        regex = try? NSRegularExpression(pattern: pattern, options: options)
    }

    func matches(_ s: String) -> Bool {
        guard let regex else { return false }
        let range = NSRange(s.startIndex..<s.endIndex, in: s)
        return regex.firstMatch(in: s, options: [], range: range) != nil
    }
}

/// A condition with named lists resolved and constant parts folded, ready to evaluate.
indirect enum CompiledCondition {
    enum Comparison { case gt, gte, lt, lte }

    enum Op {
        case equals(String)
        case oneOf(Set<String>)
        case prefix([String])
        case glob([[UInt8]])
        case exists(Bool)
        case compare(Comparison, Double)
        case contains(String)
        case matches(RegexBox)
        case sigma(SigmaMatcher)
    }

    case constant(Bool)
    case all([CompiledCondition])
    case any([CompiledCondition])
    case not(CompiledCondition)
    case test(EventField, Op)

    static func compile(_ c: AlertCondition, lists: [String: [String]]) -> CompiledCondition {
        switch c {
        case .all(let items):
            var out: [CompiledCondition] = []
            for item in items {
                let compiled = compile(item, lists: lists)
                if case .constant(let v) = compiled {
                    if !v { return .constant(false) }
                    continue
                }
                out.append(compiled)
            }
            if out.isEmpty { return .constant(true) }
            return out.count == 1 ? out[0] : .all(out)
        case .any(let items):
            var out: [CompiledCondition] = []
            for item in items {
                let compiled = compile(item, lists: lists)
                if case .constant(let v) = compiled {
                    if v { return .constant(true) }
                    continue
                }
                out.append(compiled)
            }
            if out.isEmpty { return .constant(false) }
            return out.count == 1 ? out[0] : .any(out)
        case .not(let inner):
            let compiled = compile(inner, lists: lists)
            if case .constant(let v) = compiled { return .constant(!v) }
            return .not(compiled)
        case .test(let field, let test):
            switch test {
            case .equals(let v): return .test(field, .equals(v))
            case .oneOf(let list):
                let values = resolve(list, lists)
                if values.isEmpty { return .constant(false) }
                if values.count == 1 { return .test(field, .equals(values[0])) }
                return .test(field, .oneOf(Set(values)))
            case .prefix(let list):
                let p = resolve(list, lists)
                return p.isEmpty ? .constant(false) : .test(field, .prefix(p))
            case .glob(let list):
                let g = resolve(list, lists)
                return g.isEmpty ? .constant(false) : .test(field, .glob(g.map { Array($0.utf8) }))
            case .exists(let b): return .test(field, .exists(b))
            case .greaterThan(let d): return .test(field, .compare(.gt, d))
            case .greaterOrEqual(let d): return .test(field, .compare(.gte, d))
            case .lessThan(let d): return .test(field, .compare(.lt, d))
            case .lessOrEqual(let d): return .test(field, .compare(.lte, d))
            case .contains(let s): return .test(field, .contains(s))
            case .matches(let p): return .test(field, .matches(RegexBox(p)))
            case .sigma(let m): return .test(field, .sigma(SigmaMatcher(m)))
            }
        }
    }

    static func resolve(_ list: AlertValueList, _ lists: [String: [String]]) -> [String] {
        switch list {
        case .literal(let v): v
        case .named(let name): lists[name] ?? []
        }
    }

    /// The `resource` values an event must have for this condition to hold, when the condition says so
    /// (used to index rules by resource); nil when any resource may match.
    var requiredResources: Set<String>? {
        switch self {
        case .test(let field, let op):
            guard case .named(.resource) = field.kind else { return nil }
            switch op {
            case .equals(let v): return [v]
            case .oneOf(let s): return s
            default: return nil
            }
        case .all(let items):
            var result: Set<String>?
            for item in items {
                if let r = item.requiredResources { result = result.map { $0.intersection(r) } ?? r }
            }
            return result
        case .any(let items):
            var result: Set<String> = []
            for item in items {
                guard let r = item.requiredResources else { return nil }
                result.formUnion(r)
            }
            return result
        case .constant(false): return []
        default: return nil
        }
    }

    func evaluate(_ event: AuditEventView) -> Bool {
        switch self {
        case .constant(let v): return v
        case .all(let items):
            for item in items where !item.evaluate(event) { return false }
            return true
        case .any(let items):
            for item in items where item.evaluate(event) { return true }
            return false
        case .not(let inner): return !inner.evaluate(event)
        case .test(let field, let op): return Self.test(field, op, event)
        }
    }

    static func test(_ field: EventField, _ op: Op, _ event: AuditEventView) -> Bool {
        switch op {
        case .exists(let want):
            let present = event.anyValue(field, expandLists: false) { _, _ in true }
            return present == want
        case .equals(let expected):
            return event.anyValue(field) { v, _ in v.text == expected }
        case .oneOf(let set):
            return event.anyValue(field) { v, _ in v.text.map { set.contains($0) } ?? false }
        case .prefix(let prefixes):
            return event.anyValue(field) { v, _ in
                guard case .string(let s) = v else { return false }
                return prefixes.contains { s.hasPrefix($0) }
            }
        case .glob(let patterns):
            return event.anyValue(field) { v, _ in
                guard case .string(let s) = v else { return false }
                let bytes = Array(s.utf8)
                return patterns.contains { globMatch($0, bytes) }
            }
        case .compare(let cmp, let bound):
            return event.anyValue(field) { v, _ in
                guard let d = v.number else { return false }
                switch cmp {
                case .gt: return d > bound
                case .gte: return d >= bound
                case .lt: return d < bound
                case .lte: return d <= bound
                }
            }
        case .contains(let needle):
            return event.anyValue(field) { v, fromList in
                if fromList { return v.text == needle }
                if case .string(let s) = v { return s.contains(needle) }
                return false
            }
        case .matches(let box):
            return event.anyValue(field) { v, _ in
                guard case .string(let s) = v else { return false }
                return box.matches(s)
            }
        case .sigma(let matcher):
            return event.anyValue(field) { v, _ in
                guard let text = v.text else { return false }
                return matcher.matches(text)
            }
        }
    }
}

/// Glob over UTF-8 bytes: `*` matches any run (including `/`), `?` one character.
func globMatch(_ pattern: [UInt8], _ text: [UInt8]) -> Bool {
    Glob.matches(pattern, text, questionMark: true)
}
