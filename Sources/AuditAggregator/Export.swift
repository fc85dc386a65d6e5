import AuditModel
import AuditStore
import AuditWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /v1/export`: every event of a search, streamed page by page with the cursor (the
/// aggregator never holds more than a page), as NDJSON (the query output's tagged lines) or CSV.
///
/// CSV is for spreadsheets, and event fields are attacker-controlled: a cell that starts with
/// `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'` so that no spreadsheet
/// takes it for a formula (OWASP's CSV-injection advice), and every cell with a comma, quote
/// or line break is quoted (RFC 4180). NDJSON keeps the events' exact bytes.
public enum ExportFormat: String, Sendable, CaseIterable {
    case ndjson, csv

    public var contentType: String {
        switch self {
        case .ndjson: "application/x-ndjson"
        case .csv: "text/csv; charset=utf-8"
        }
    }

    /// The `format` parameter (default NDJSON).
    public static func parse(_ text: String?) throws(Refusal) -> ExportFormat {
        guard let text else { return .ndjson }
        guard let f = ExportFormat(rawValue: text) else {
            throw Refusal(status: 400, code: "bad_parameter", message: "format='\(text)' is not one of ndjson, csv")
        }
        return f
    }
}

/// Turns stored events into export lines (each ends with a newline).
public struct ExportEncoder: Sendable {
    public let format: ExportFormat

    /// The CSV columns, in order.
    public static let columns = ["time", "cluster", "node", "auditID", "stage", "verb", "user", "groups", "sourceIPs",
                                 "userAgent", "apiGroup", "resource", "subresource", "namespace", "name", "code", "requestURI"]

    public init(format: ExportFormat) {
        self.format = format
    }

    /// What comes before the first event: the CSV header row.
    public func header() -> [UInt8] {
        switch format {
        case .ndjson: []
        case .csv: Array((Self.columns.joined(separator: ",") + "\r\n").utf8)
        }
    }

    public func line(cluster: String, node: String, event: [UInt8]) -> [UInt8] {
        switch format {
        case .ndjson:
            var out = JSONText.taggedEventLine(cluster: cluster, node: node, event: event)
            out.append(UInt8(ascii: "\n"))
            return out
        case .csv:
            // Stored events were scanned on the way in; one that no longer scans still gets its row.
            let s = (try? EventScanner.scan(event)) ?? EventSummary()
            let cells = [s.orderTimestamp.format(fractionDigits: 6), cluster, node, s.auditID, s.stage, s.verb, s.username ?? "",
                         s.groups.joined(separator: ";"), s.sourceIPs.joined(separator: ";"), s.userAgent, s.apiGroup, s.resource,
                         s.subresource, s.namespace, s.name, s.responseCode.map(String.init) ?? "", s.requestURI]
            return Array((cells.map(Self.csvCell).joined(separator: ",") + "\r\n").utf8)
        }
    }

    /// One CSV cell: formula triggers neutralised, quoted when it must be.
    public static func csvCell(_ value: String) -> String {
        var v = value
        if let first = v.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) {
            v = "'" + v
        }
        guard v.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return v }
        return "\"" + v.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// The download's file name.
    public var fileName: String { "auditship-export.\(format.rawValue)" }

    /// The headers of an export answer.
    public var headers: HTTPFields {
        [.contentType: format.contentType, .contentDisposition: "attachment; filename=\"\(fileName)\""]
    }
}

extension QueryAnswers {
    /// Events fetched per page while exporting.
    public static let exportPage = 2_000

    /// `GET /v1/export?format=ndjson|csv&…filters…`: the whole search (or its first `limit` events).
    /// A failure after the first bytes ends the stream without its last chunk, so a client
    /// sees a broken download, never a short file that looks whole.
    public func export(_ request: Request) async -> Response {
        await answering {
            let query = try Self.query(request)
            let encoder = ExportEncoder(format: try ExportFormat.parse(request.uri.queryParameters["format"].map(String.init)))
            let answers = self
            // The first page before the answer starts: a store that cannot answer (or a cluster this
            // reader may not read) gets a clear error.
            let pager = ExportPager(query: query)
            let first = try await answers.scopedEvents(pager.pageQuery(written: 0))
            let body = ResponseBody { writer in
                var buffer = ByteBuffer(bytes: encoder.header())
                var page = first
                var written = 0
                var next = pager.pageQuery(written: 0)
                while true {
                    for e in page { buffer.writeBytes(encoder.line(cluster: e.cluster, node: e.node, event: e.bytes)) }
                    try await writer.write(buffer)
                    buffer.clear()
                    written += page.count
                    guard page.count == next.limit, let last = page.last else { break }
                    next = pager.pageQuery(written: written)
                    guard next.limit ?? 0 > 0 else { break }
                    next.after = last.cursor
                    page = try await answers.scopedEvents(next)
                }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: encoder.headers, body: body)
        }
    }
}

/// The queries of an export's pages: the search's filters, pages of `exportPage`, at most the
/// search's own `limit` in all.
public struct ExportPager: Sendable {
    public let query: EventQuery

    public init(query: EventQuery) {
        self.query = query
    }

    /// The next page's query after `written` events (its `after` is set by the caller).
    public func pageQuery(written: Int) -> EventQuery {
        var q = query
        q.limit = min(QueryAnswers.exportPage, (query.limit ?? Int.max) - written)
        return q
    }
}
