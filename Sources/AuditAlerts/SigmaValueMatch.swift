// Sigma value matching: one value of a selection item, compiled once, tested against the text of a
// scalar of the event (a string, a number in its shortest decimal form, `true`/`false`).
//
// - Plain values and `|contains` / `|startswith` / `|endswith` are patterns with Sigma's wildcards:
//   `*` any run, `?` one character; `\*`, `\?` and `\\` are a literal `*`, `?` and `\`; a backslash
//   before anything else is itself. The whole value must match (contains adds `*` on both sides, …).
// - Case-insensitive unless `|cased` (both sides lower-cased).
// - `|re`: a regular expression (ICU, unanchored, case-sensitive unless `|re|i`; `|re|m`, `|re|s`).
// - `|cidr`: the value is an IPv4 or IPv6 address inside the network.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One piece of a Sigma pattern.
public enum SigmaPatternToken: Sendable, Hashable {
    case literal(String)
    /// `*`: any run of characters.
    case anyRun
    /// `?`: exactly one character.
    case one
}

/// How one Sigma value is compared with an event's scalar (see the file's header).
public struct SigmaValueMatch: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The whole text matches the pattern.
        case pattern([SigmaPatternToken])
        /// The regular expression matches somewhere (`i`, `m`, `s` flags).
        case regex(String, caseInsensitive: Bool, multiLine: Bool, dotAll: Bool)
        /// The text is an IP address in the network (`10.0.0.0/8`, `fd00::/8`).
        case cidr(String)
    }

    public var kind: Kind
    /// False (the default): letters compare without case. Regexes ignore it (their `i` flag decides).
    public var cased: Bool

    public init(kind: Kind, cased: Bool = false) {
        self.kind = kind
        self.cased = cased
    }

    public var description: String {
        switch kind {
        case .pattern(let tokens):
            return tokens.map {
                switch $0 {
                case .literal(let s): s
                case .anyRun: "*"
                case .one: "?"
                }
            }.joined()
        case .regex(let p, _, _, _): return "/\(p)/"
        case .cidr(let c): return c
        }
    }

    /// Splits a Sigma string value into literals and wildcards, applying its backslash escapes.
    public static func tokens(_ value: String) -> [SigmaPatternToken] {
        var out: [SigmaPatternToken] = []
        var literal = ""
        func flush() {
            if !literal.isEmpty { out.append(.literal(literal)) }
            literal = ""
        }
        var chars = value.makeIterator()
        var pending = chars.next()
        while let c = pending {
            pending = chars.next()
            switch c {
            case "\\":
                if let n = pending, n == "*" || n == "?" || n == "\\" {
                    literal.append(n)
                    pending = chars.next()
                } else {
                    literal.append("\\")
                }
            case "*":
                flush()
                if out.last != .anyRun { out.append(.anyRun) }
            case "?":
                flush()
                out.append(.one)
            default:
                literal.append(c)
            }
        }
        flush()
        return out
    }
}

/// A `SigmaValueMatch` ready to test text.
final class SigmaMatcher: @unchecked Sendable {
    // Immutable after init; RegexBox is thread-safe.
    private enum Form {
        case exact(String)
        case prefix(String)
        case suffix(String)
        case contains(String)
        case any
        case glob([GlobElement])
        case regex(RegexBox)
        case cidr(IPNetwork?)
    }

    enum GlobElement: Equatable {
        case scalar(Unicode.Scalar)
        case anyRun
        case one
    }

    private let form: Form
    private let folds: Bool

    init(_ match: SigmaValueMatch) {
        switch match.kind {
        case .regex(let pattern, let i, let m, let s):
            var options: NSRegularExpression.Options = []
            if i { options.insert(.caseInsensitive) }
            if m { options.insert(.anchorsMatchLines) }
            if s { options.insert(.dotMatchesLineSeparators) }
            form = .regex(RegexBox(pattern, options: options))
            folds = false
        case .cidr(let text):
            form = .cidr(IPNetwork(text))
            folds = false
        case .pattern(let raw):
            let cased = match.cased
            folds = !cased
            let tokens = raw.map { t -> SigmaPatternToken in
                if case .literal(let s) = t, !cased { return .literal(s.lowercased()) }
                return t
            }
            func literal(_ t: SigmaPatternToken) -> String? {
                if case .literal(let s) = t { return s }
                return nil
            }
            let n = tokens.count
            let first = tokens.first, last = tokens.last
            if n == 0 {
                form = .exact("")
            } else if n == 1, let s = literal(tokens[0]) {
                form = .exact(s)
            } else if n == 1, first == .anyRun {
                form = .any
            } else if n == 2, let s = literal(tokens[0]), last == .anyRun {
                form = .prefix(s)
            } else if n == 2, first == .anyRun, let s = literal(tokens[1]) {
                form = .suffix(s)
            } else if n == 3, first == .anyRun, let s = literal(tokens[1]), last == .anyRun {
                form = .contains(s)
            } else {
                form = .glob(tokens.flatMap { t -> [GlobElement] in
                    switch t {
                    case .literal(let s): s.unicodeScalars.map { .scalar($0) }
                    case .anyRun: [.anyRun]
                    case .one: [.one]
                    }
                })
            }
        }
    }

    /// The one value this matcher accepts (lowercased when it folds case), with whether it folds;
    /// nil for prefixes, wildcards, regular expressions and networks.
    var exactValue: (value: String, folds: Bool)? {
        if case .exact(let s) = form { return (s, folds) }
        return nil
    }

    /// Text every value this matcher accepts contains (lowercased when it folds case): the literal of
    /// an exact value, a prefix, a suffix or a `contains`, the longest literal run of a wildcard
    /// pattern; nil for regular expressions, networks and a lone `*`.
    var requiredText: (text: String, folds: Bool)? {
        switch form {
        case .exact(let s), .prefix(let s), .suffix(let s), .contains(let s): return s.isEmpty ? nil : (s, folds)
        case .glob(let elements):
            var best = "", run = ""
            for e in elements + [.anyRun] {
                if case .scalar(let c) = e {
                    run.unicodeScalars.append(c)
                } else {
                    if run.unicodeScalars.count > best.unicodeScalars.count { best = run }
                    run = ""
                }
            }
            return best.isEmpty ? nil : (best, folds)
        case .any, .regex, .cidr: return nil
        }
    }

    func matches(_ raw: String) -> Bool {
        let text = folds ? raw.lowercased() : raw
        switch form {
        case .exact(let s): return text == s
        case .prefix(let s): return text.hasPrefix(s)
        case .suffix(let s): return text.hasSuffix(s)
        case .contains(let s): return text.contains(s)
        case .any: return true
        case .glob(let pattern): return Self.glob(pattern, Array(text.unicodeScalars))
        case .regex(let box): return box.matches(raw)
        case .cidr(let network): return network?.contains(raw) ?? false
        }
    }

    /// Wildcard match with single-star backtracking.
    static func glob(_ p: [GlobElement], _ t: [Unicode.Scalar]) -> Bool {
        var pi = 0, ti = 0
        var starP = -1, starT = 0
        while ti < t.count {
            if pi < p.count {
                switch p[pi] {
                case .anyRun:
                    starP = pi
                    starT = ti
                    pi += 1
                    continue
                case .one:
                    pi += 1
                    ti += 1
                    continue
                case .scalar(let c) where c == t[ti]:
                    pi += 1
                    ti += 1
                    continue
                default: break
                }
            }
            guard starP >= 0 else { return false }
            pi = starP + 1
            starT += 1
            ti = starT
        }
        while pi < p.count, p[pi] == .anyRun { pi += 1 }
        return pi == p.count
    }
}

/// An IPv4 or IPv6 network (`address/prefix`; a bare address is a /32 or /128).
struct IPNetwork: Sendable, Hashable {
    let address: [UInt8]
    let prefix: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = Self.parse(String(parts[0])) else { return nil }
        let bits = address.count * 8
        if parts.count == 2 {
            guard let p = Int(parts[1]), p >= 0, p <= bits else { return nil }
            prefix = p
        } else {
            prefix = bits
        }
        self.address = address
    }

    /// The address's bytes (4 or 16), or nil when it is not an IP address.
    static func parse(_ s: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, s, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, s, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    func contains(_ text: String) -> Bool {
        guard let other = Self.parse(text), other.count == address.count else { return false }
        var remaining = prefix
        for i in 0..<address.count where remaining > 0 {
            let take = min(8, remaining)
            let mask: UInt8 = take == 8 ? 0xFF : ~(0xFF >> UInt8(take))
            if address[i] & mask != other[i] & mask { return false }
            remaining -= take
        }
        return true
    }
}
