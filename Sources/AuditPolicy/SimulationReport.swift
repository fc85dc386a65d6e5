#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The result of `policy simulate`.
///
/// JSON form (`renderJSON()`, keys sorted, stable):
/// ```
/// {
///   "totals": { "events_before", "events_after", "events_dropped",
///               "bytes_before", "bytes_after", "bytes_saved" },      // all integers
///   "reconciles": true,            // events_before == events_after + events_dropped, bytes likewise,
///                                  // and the per-rule and per-minute sums agree with the totals
///   "rules": [ { "rule": 1,        // 1-based rule number; null for "no rule matched"
///                "label": "#1 None: watch by system:kube-proxy on core endpoints, services",
///                "hits", "dropped", "bytes_saved" } ],
///   "levels": [ { "level": "Metadata",   // original level (before) / policy level (after)
///                 "events_before", "bytes_before", "events_after", "bytes_after" } ],
///   "stages": [ { "stage": "ResponseComplete", "events_before", "events_after" } ],
///   "top_talkers": [ { "user", "verb", "resource", "events", "bytes" } ],   // kept events only
///   "per_minute": { "minutes": 60,          // minutes in the span, quiet ones included
///                   "before": { "min", "avg", "max" }, "after": { "min", "avg", "max" },
///                   "series": [ { "minute": 29000000, "before", "after" } ] }  // minute = Unix time / 60
/// }
/// ```
public struct SimulationReport: Sendable, Hashable, Codable {
    public struct Totals: Sendable, Hashable, Codable {
        public var eventsBefore: Int
        public var eventsAfter: Int
        public var eventsDropped: Int
        public var bytesBefore: Int
        public var bytesAfter: Int
        public var bytesSaved: Int
        enum CodingKeys: String, CodingKey {
            case eventsBefore = "events_before", eventsAfter = "events_after", eventsDropped = "events_dropped"
            case bytesBefore = "bytes_before", bytesAfter = "bytes_after", bytesSaved = "bytes_saved"
        }
    }
    public struct RuleStats: Sendable, Hashable, Codable {
        /// 1-based rule number; nil for requests that matched no rule.
        public var rule: Int?
        public var label: String
        public var hits: Int
        public var dropped: Int
        public var bytesSaved: Int
        enum CodingKeys: String, CodingKey {
            case rule, label, hits, dropped
            case bytesSaved = "bytes_saved"
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(rule, forKey: .rule)  // explicit null for "no rule"
            try c.encode(label, forKey: .label)
            try c.encode(hits, forKey: .hits)
            try c.encode(dropped, forKey: .dropped)
            try c.encode(bytesSaved, forKey: .bytesSaved)
        }
    }
    public struct LevelStats: Sendable, Hashable, Codable {
        public var level: String
        public var eventsBefore: Int
        public var bytesBefore: Int
        public var eventsAfter: Int
        public var bytesAfter: Int
        enum CodingKeys: String, CodingKey {
            case level
            case eventsBefore = "events_before", bytesBefore = "bytes_before"
            case eventsAfter = "events_after", bytesAfter = "bytes_after"
        }
    }
    public struct StageStats: Sendable, Hashable, Codable {
        public var stage: String
        public var eventsBefore: Int
        public var eventsAfter: Int
        enum CodingKeys: String, CodingKey {
            case stage
            case eventsBefore = "events_before", eventsAfter = "events_after"
        }
    }
    public struct Talker: Sendable, Hashable, Codable {
        public var user: String
        public var verb: String
        public var resource: String
        public var events: Int
        public var bytes: Int
    }
    public struct Rate: Sendable, Hashable, Codable {
        public var min: Int
        public var avg: Double
        public var max: Int
    }
    public struct MinuteCount: Sendable, Hashable, Codable {
        /// Unix time in minutes.
        public var minute: Int64
        public var before: Int
        public var after: Int
    }
    public struct PerMinute: Sendable, Hashable, Codable {
        public var minutes: Int
        public var before: Rate
        public var after: Rate
        public var series: [MinuteCount]
    }

    public var totals: Totals
    public var reconciles: Bool
    public var rules: [RuleStats]
    public var levels: [LevelStats]
    public var stages: [StageStats]
    public var topTalkers: [Talker]
    public var perMinute: PerMinute

    enum CodingKeys: String, CodingKey {
        case totals, reconciles, rules, levels, stages
        case topTalkers = "top_talkers"
        case perMinute = "per_minute"
    }

    /// Pretty-printed JSON with sorted keys (see the type's documentation for the schema).
    public func renderJSON() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        return String(decoding: data, as: UTF8.self)
    }

    /// The report as terminal tables.
    public func renderTable() -> String {
        var out: [String] = []
        let t = totals
        out.append("Totals")
        out.append(table(
            ["", "events", "bytes"],
            [
                ["before", "\(t.eventsBefore)", formatBytes(t.bytesBefore)],
                ["after", "\(t.eventsAfter)", formatBytes(t.bytesAfter)],
                ["dropped / saved", "\(t.eventsDropped)", formatBytes(t.bytesSaved)],
                ["reduction", percent(t.eventsDropped, t.eventsBefore), percent(t.bytesSaved, t.bytesBefore)],
            ], rightAligned: [1, 2]))
        out.append(reconciles ? "totals reconcile: before = after + dropped" : "WARNING: totals do not reconcile")
        out.append("")
        out.append("Per rule")
        out.append(table(
            ["rule", "hits", "dropped", "saved"],
            rules.filter { $0.hits > 0 || $0.rule != nil }.map { [$0.label, "\($0.hits)", "\($0.dropped)", formatBytes($0.bytesSaved)] },
            rightAligned: [1, 2, 3]))
        out.append("")
        out.append("Per level (before: level written by the API server; after: level from the policy)")
        out.append(table(
            ["level", "events before", "bytes before", "events after", "bytes after"],
            levels.map { [$0.level, "\($0.eventsBefore)", formatBytes($0.bytesBefore), "\($0.eventsAfter)", formatBytes($0.bytesAfter)] },
            rightAligned: [1, 2, 3, 4]))
        if !stages.isEmpty {
            out.append("")
            out.append("Per stage")
            out.append(table(["stage", "before", "after"], stages.map { [$0.stage, "\($0.eventsBefore)", "\($0.eventsAfter)"] }, rightAligned: [1, 2]))
        }
        out.append("")
        out.append("Top talkers after policy")
        out.append(table(
            ["user", "verb", "resource", "events", "bytes"],
            topTalkers.map { [$0.user, $0.verb, $0.resource, "\($0.events)", formatBytes($0.bytes)] }, rightAligned: [3, 4]))
        out.append("")
        let p = perMinute
        out.append("Events per minute over \(p.minutes) minute\(p.minutes == 1 ? "" : "s")")
        out.append(table(
            ["", "min", "avg", "max"],
            [
                ["before", "\(p.before.min)", oneDecimal(p.before.avg), "\(p.before.max)"],
                ["after", "\(p.after.min)", oneDecimal(p.after.avg), "\(p.after.max)"],
            ], rightAligned: [1, 2, 3]))
        return out.joined(separator: "\n") + "\n"
    }
}

func table(_ header: [String], _ rows: [[String]], rightAligned: Set<Int> = []) -> String {
    let all = [header] + rows
    var widths = [Int](repeating: 0, count: header.count)
    for row in all {
        for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
    }
    func line(_ row: [String]) -> String {
        row.enumerated().map { i, cell in
            let pad = String(repeating: " ", count: max(0, (i < widths.count ? widths[i] : 0) - cell.count))
            return rightAligned.contains(i) ? pad + cell : cell + pad
        }.joined(separator: "  ").trimmingTrailingSpaces()
    }
    var lines = [line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
    lines += rows.map(line)
    return lines.map { "  " + $0 }.joined(separator: "\n")
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

func formatBytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(n)
    var unit = 0
    while abs(value) >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(n) B" : "\(oneDecimal(value)) \(units[unit])"
}

func oneDecimal(_ x: Double) -> String {
    guard x.isFinite else { return "-" }
    let tenths = Int((x * 10).rounded())
    let sign = tenths < 0 ? "-" : ""
    return "\(sign)\(abs(tenths) / 10).\(abs(tenths) % 10)"
}

func percent(_ part: Int, _ whole: Int) -> String {
    guard whole != 0 else { return "-" }
    return oneDecimal(Double(part) * 100 / Double(whole)) + "%"
}
