import AuditModel
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Something in a file that could not be read as an audit event.
public struct AuditEventFileProblem: Sendable, Hashable, CustomStringConvertible {
    public var source: String
    /// 1-based line for JSON-lines files; nil for problems with the whole file or an item of a document.
    public var line: Int?
    public var message: String

    public init(source: String, line: Int?, message: String) {
        self.source = source
        self.line = line
        self.message = message
    }

    public var description: String { line.map { "\(source):\($0): \(message)" } ?? "\(source): \(message)" }
}

/// The audit events of one file, and what could not be read.
///
public struct AuditEventFileContents: Sendable {
    public enum Format: String, Sendable {
        /// One JSON value per line (the apiserver's log backend).
        case jsonLines
        /// One event, possibly pretty-printed over many lines.
        case singleEvent
        /// A JSON array of events.
        case array
        /// `{"kind": "EventList", "items": [...]}`.
        case eventList
        /// An Azure diagnostic-log envelope `{"records": [{"properties": {"log": EVENT or "EVENT"}}]}`.
        case azureRecords
        /// Nothing readable.
        case unreadable
    }

    public var source: String
    public var format: Format
    public var events: [AuditEventView]
    public var problems: [AuditEventFileProblem]
}

/// Reads audit events from a file: JSON lines, one pretty-printed event, a JSON array of events, an
/// `EventList`, or an Azure `records` envelope (whose `properties.log` is the event, as an object or as a
/// JSON string). A UTF-8 BOM is skipped. Objects that are not audit events (no `auditID`, and not
/// `kind: Event` with a `stage`) are reported as problems, as are lines that are not JSON.
public enum AuditEventFile {
    /// Reads `path`; an unreadable file yields no events and one problem.
    public static func read(path: String) -> AuditEventFileContents {
        var events: [AuditEventView] = []
        var result = read(path: path) { events.append($0) }
        result.events = events
        return result
    }

    /// Reads `path`, handing each event to `emit` in file order instead of keeping them (`events`
    /// of the result is empty): memory is the file's bytes and one event.
    public static func read(path: String, each emit: (AuditEventView) -> Void) -> AuditEventFileContents {
        guard let bytes = fileBytes(path) else {
            let reason = String(cString: strerror(errno))
            return AuditEventFileContents(
                source: path, format: .unreadable, events: [],
                problems: [AuditEventFileProblem(source: path, line: nil, message: "cannot read the file: \(reason)")])
        }
        return parse(bytes: bytes, source: path, each: emit)
    }

    /// The bytes of a file, read straight into one array (no second copy); nil when it cannot be read.
    static func fileBytes(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) != S_IFDIR else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(Int(max(st.st_size, 0)) + 1)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    /// Reads events from the bytes of a file.
    public static func parse(data input: Data, source: String) -> AuditEventFileContents {
        var events: [AuditEventView] = []
        var result = parse(bytes: [UInt8](input), source: source) { events.append($0) }
        result.events = events
        return result
    }

    /// Reads events from the bytes of a file, handing each to `emit` in file order.
    static func parse(bytes input: [UInt8], source: String, each emit: (AuditEventView) -> Void) -> AuditEventFileContents {
        var bytes = input
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var result = AuditEventFileContents(source: source, format: .unreadable, events: [], problems: [])
        guard bytes.contains(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) else {
            result.problems.append(AuditEventFileProblem(source: source, line: nil, message: "empty file"))
            return result
        }
        // The whole file as one JSON document (JSON lines stop at the end of the first line).
        if let doc = try? JSONDocument(bytes: bytes) {
            let root = doc.root
            switch doc.kind(root) {
            case .array:
                result.format = .array
                addEach(doc, root, "item", line: nil, to: &result, emit)
            case .object:
                let items = doc.member(root, "items")
                if doc.stringValue(doc.member(root, "kind")) == "EventList"
                    || (items.map { doc.kind($0) == .array } ?? false && doc.member(root, "auditID") == nil) {
                    result.format = .eventList
                    if let items { addEach(doc, items, "item", line: nil, to: &result, emit) }
                } else if let records = doc.member(root, "records"), doc.kind(records) == .array {
                    result.format = .azureRecords
                    addEach(doc, records, "record", line: nil, to: &result, emit)
                } else {
                    result.format = .singleEvent
                    add(doc, root, at: "the document", line: nil, to: &result, emit)
                }
            default:
                result.problems.append(AuditEventFileProblem(source: source, line: nil, message: "the JSON document is not an object or array"))
            }
            return result
        }
        // JSON lines.
        var lineNumber = 0
        var parsedLines = 0
        var firstError: String?
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            let body = line.drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
            if body.isEmpty { continue }
            guard let doc = try? JSONDocument(bytes: Array(body)) else {
                let message = "line is not JSON"
                if firstError == nil { firstError = "line \(lineNumber) is not JSON" }
                result.problems.append(AuditEventFileProblem(source: source, line: lineNumber, message: message))
                continue
            }
            parsedLines += 1
            if let records = doc.member(doc.root, "records"), doc.kind(records) == .array {
                addEach(doc, records, "record", line: lineNumber, to: &result, emit)
            } else {
                add(doc, doc.root, at: "line", line: lineNumber, to: &result, emit)
            }
        }
        if parsedLines == 0 {
            // Neither a JSON document nor JSON lines: one problem says so, instead of one per line.
            result.problems = [
                AuditEventFileProblem(
                    source: source, line: nil,
                    message: "not JSON: neither one JSON document nor JSON lines (\(firstError ?? "no content"))")
            ]
            return result
        }
        result.format = .jsonLines
        return result
    }

    private static func addEach(_ doc: JSONDocument, _ list: Int, _ what: String, line: Int?, to result: inout AuditEventFileContents,
                                _ emit: (AuditEventView) -> Void) {
        var n = 0
        _ = doc.anyElement(list) { item in
            n += 1
            add(doc, item, at: "\(what) \(n)", line: line, to: &result, emit)
            return false
        }
    }

    /// Adds node `item` of `doc` as an event, or a problem saying why it is not one. The event is
    /// read from its own bytes in the file.
    private static func add(_ doc: JSONDocument, _ item: Int, at what: String, line: Int?, to result: inout AuditEventFileContents,
                            _ emit: (AuditEventView) -> Void) {
        guard doc.kind(item) == .object else {
            result.problems.append(AuditEventFileProblem(source: result.source, line: line, message: "\(what) is not a JSON object"))
            return
        }
        // An Azure record: the event is properties.log, an object or a JSON string.
        if doc.member(item, "auditID") == nil, let properties = doc.member(item, "properties"), doc.kind(properties) == .object,
           let log = doc.member(properties, "log") {
            if doc.kind(log) == .object {
                add(doc, log, at: what, line: line, to: &result, emit)
                return
            }
            if doc.kind(log) == .string, let inner = try? JSONDocument(bytes: Array(doc.string(log).utf8)), inner.kind(inner.root) == .object {
                add(inner, inner.root, at: what, line: line, to: &result, emit)
                return
            }
            result.problems.append(AuditEventFileProblem(source: result.source, line: line, message: "\(what): properties.log is not an audit event"))
            return
        }
        let own = item == doc.root ? doc : (try? JSONDocument(bytes: Array(doc.text(item))))
        if let own, case let view = AuditEventView(document: own), view.looksLikeAuditEvent {
            emit(view)
            return
        }
        var why = "no auditID, and not kind Event with a stage"
        if let kind = doc.member(item, "kind") {
            why = "kind is \(doc.kind(kind) == .string ? "'\(doc.string(kind))'" : "not a string (\(doc.canonicalJSON(kind)))") and there is no auditID"
        } else if doc.member(item, "protoPayload") != nil {
            why = "a Google Cloud Logging entry (protoPayload), not a Kubernetes audit Event"
        } else if doc.member(item, "input") != nil || doc.member(item, "message") != nil {
            let keys = Set(doc.members(item).map { doc.string($0.key) }).sorted().prefix(5)
            why = "a wrapper object (keys \(keys.joined(separator: ", "))), not an audit Event"
        }
        result.problems.append(AuditEventFileProblem(source: result.source, line: line, message: "\(what) is not an audit event: \(why)"))
    }
}

/// The result of `AlertTester.run`.
public struct AlertTestReport: Sendable {
    public var source: String
    /// Audit events read.
    public var events: Int
    public var firings: [AlertFiring]
    public var problems: [AuditEventFileProblem]
    /// The file could not be read at all (missing, a directory, no permission).
    public var unreadable = false
}

/// `auditship alerts test`: which events of a file fire which rules.
public enum AlertTester {
    /// Reads `path` and evaluates every event, in file order, on a fresh engine for `rules`.
    ///
    /// Thresholds and suppression run on the events' own clock: each event is evaluated with `now` = its
    /// timestamp (else the previous event's, else the Unix epoch), so a replayed log behaves as it did live.
    public static func run(path: String, rules: AlertRuleSet = .builtin, cluster: String = "", node: String = "") -> AlertTestReport {
        // Each event evaluated as it is read, not kept: a large log costs its bytes, not a tree per event.
        let engine = AlertEngine(rules: rules)
        var firings: [AlertFiring] = []
        var clock = Date(timeIntervalSince1970: 0)
        var count = 0
        let contents = AuditEventFile.read(path: path) { event in
            count += 1
            if let t = event.timestamp { clock = t }
            firings += engine.evaluate(view: event, cluster: cluster, node: node, now: clock)
        }
        return AlertTestReport(source: contents.source, events: count, firings: firings, problems: contents.problems,
                               unreadable: contents.format == .unreadable)
    }

    /// Evaluates already-read events with `engine`.
    public static func run(contents: AuditEventFileContents, engine: AlertEngine, cluster: String = "", node: String = "") -> AlertTestReport {
        var firings: [AlertFiring] = []
        var clock = Date(timeIntervalSince1970: 0)
        for event in contents.events {
            if let t = event.timestamp { clock = t }
            firings += engine.evaluate(view: event, cluster: cluster, node: node, now: clock)
        }
        return AlertTestReport(source: contents.source, events: contents.events.count, firings: firings, problems: contents.problems)
    }
}

/// Text forms of firings.
public enum AlertFiringRenderer {
    /// One JSON object per firing, one per line: `{"rule":"…","severity":"…","auditID":"…","stage":"…"}`
    /// (this exact shape is the `alerts test --format json` contract); a Sigma rule's firing adds
    /// `"ruleID":"…"` (when the rule has an id) and `"level":"…"` (its Sigma level) at the end.
    public static func jsonLines(_ firings: [AlertFiring]) -> String {
        firings.map { json($0) + "\n" }.joined()
    }

    /// `{"rule":"…","severity":"…","auditID":"…","stage":"…"}`.
    public static func json(_ f: AlertFiring) -> String {
        #"{"rule":"# + quote(f.rule) + #","severity":"# + quote(f.severity.rawValue) + #","auditID":"#
            + quote(f.auditID) + #","stage":"# + quote(f.stage)
            + (f.ruleID.map { #","ruleID":"# + quote($0) } ?? "") + (f.level.map { #","level":"# + quote($0) } ?? "") + "}"
    }

    /// The `json` object with where and when it happened added at the end: `"cluster"`, `"node"`,
    /// `"eventTime"` (RFC 3339, when the event had one) and `"message"` (`alerts hunt --format json`).
    public static func jsonWithContext(_ f: AlertFiring) -> String {
        var out = String(json(f).dropLast())
        out += #","cluster":"# + quote(f.cluster) + #","node":"# + quote(f.node)
        if let t = f.eventTime { out += #","eventTime":"# + quote(rfc3339(t)) }
        return out + #","message":"# + quote(f.message) + "}"
    }

    static func rfc3339(_ d: Date) -> String {
        Timestamp(microseconds: Int64((d.timeIntervalSince1970 * 1_000_000).rounded())).rfc3339
    }

    /// A table for people: severity, rule, stage, auditID, message.
    public static func table(_ firings: [AlertFiring]) -> String {
        let header = ["SEVERITY", "RULE", "STAGE", "AUDIT ID", "MESSAGE"]
        let rows = firings.map { [$0.severity.rawValue, $0.rule, $0.stage, $0.auditID, $0.message] }
        var widths = header.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated().dropLast() { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        var out = line(header) + "\n"
        for row in rows { out += line(row) + "\n" }
        if firings.isEmpty { out += "(no alerts)\n" }
        return out
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
