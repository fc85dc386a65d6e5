import Foundation
import SharedFixtures
import Testing

/// How a case of another project's rule tests fares with the built-in pack.
enum ConformanceStatus: String, Sendable, CaseIterable {
    /// The counterpart rule does what the other project's test expects.
    case passes = "passes"
    /// It does not, and the case says why (a design difference, not a bug).
    case differs = "differs on purpose"
    /// The pack has no counterpart for the rule the case is about.
    case notCovered = "not covered"
    /// The case cannot be run on a bare audit event (no event, or it needs enrichment).
    case skippedNoEvent = "skipped: no audit event"
    case skippedEnrichment = "skipped: needs enrichment"

    /// The word in a summary count ("12 pass").
    var counted: String {
        switch self {
        case .passes: "pass"
        case .differs: "differ on purpose"
        default: rawValue
        }
    }
}

/// A checked-in conformance document (`Protocols/…md`), kept true by the test that generates it.
enum ConformanceDocument {
    /// `AUDITSHIP_WRITE_CONFORMANCE=1`: rewrite the document instead of comparing.
    static var rewrite: Bool { ProcessInfo.processInfo.environment["AUDITSHIP_WRITE_CONFORMANCE"] == "1" }

    /// Compares `fresh` with the document at `relativePath` (from the repository root); a difference
    /// fails the test and prints the fresh text. Under `AUDITSHIP_WRITE_CONFORMANCE=1` it writes it.
    static func check(_ relativePath: String, _ fresh: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let url = SharedData.repositoryRoot.appendingPathComponent(relativePath)
        if rewrite {
            do {
                try fresh.write(to: url, atomically: true, encoding: .utf8)
                print("wrote \(url.path)")
            } catch {
                Issue.record("cannot write \(url.path): \(error)", sourceLocation: sourceLocation)
            }
            return
        }
        let current = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        if current != fresh {
            print("---- fresh \(relativePath) ----\n\(fresh)---- end ----")
            Issue.record(
                "\(relativePath) is out of date (fresh text printed above); run with AUDITSHIP_WRITE_CONFORMANCE=1 to rewrite it",
                sourceLocation: sourceLocation)
        }
    }

    /// A table cell: no pipes or newlines.
    static func cell(_ s: String) -> String {
        s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }

    static func row(_ cells: [String]) -> String {
        "| " + cells.map(cell).joined(separator: " | ") + " |\n"
    }

    /// `a ×2, b ×1` in first-seen order, or `nothing`.
    static func counted(_ names: [String]) -> String {
        var order: [String] = []
        var counts: [String: Int] = [:]
        for n in names {
            if counts[n] == nil { order.append(n) }
            counts[n, default: 0] += 1
        }
        return order.isEmpty ? "nothing" : order.map { "\($0) ×\(counts[$0] ?? 0)" }.joined(separator: ", ")
    }

    /// `N passes, M differ on purpose, …` for the statuses that occur, in `ConformanceStatus` order.
    static func summary(_ statuses: [ConformanceStatus]) -> String {
        ConformanceStatus.allCases.compactMap { s in
            let n = statuses.filter { $0 == s }.count
            return n == 0 && (s == .skippedNoEvent || s == .skippedEnrichment) ? nil : "\(n) \(s.counted)"
        }.joined(separator: ", ")
    }
}
