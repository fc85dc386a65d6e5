import AuditAggregator
import AuditModel
import AuditStore
import AuditWire
import CurlClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix

/// Where the UI's query API (`/v1/events`, `/v1/histogram`, `/v1/facets`, `/v1/stats`,
/// `/v1/collisions`) gets its answers: a store read directly, or an aggregator asked with a
/// reader certificate.
public protocol UIQuerySource: Sendable {
    /// What the page says it shows.
    var label: String { get }
    /// The answer to one API request (`path` is one of the API's paths).
    func answer(_ path: String, _ request: Request) async -> Response
    /// `GET /v1/export`: the whole search as a download, streamed page by page.
    func export(_ request: Request) async -> Response
    /// `POST /v1/hunt`: rules (the body) run over the stored events (`QueryAnswers.hunt`).
    func hunt(_ request: Request) async -> Response
}

/// A store read directly (`auditship ui --store`).
public struct StoreQuerySource: UIQuerySource {
    public let answers: QueryAnswers
    public let label: String
    let huntGate = HuntGate()

    public init(store: any EventStore, label: String) {
        answers = QueryAnswers(store: store)
        self.label = label
    }

    public func answer(_ path: String, _ request: Request) async -> Response {
        await answers.answer(path, request) ?? Response(status: .notFound)
    }

    public func export(_ request: Request) async -> Response {
        await answers.export(request)
    }

    public func hunt(_ request: Request) async -> Response {
        await answers.hunt(request, gate: huntGate)
    }
}

/// An aggregator asked over mutual TLS with a reader certificate (`auditship ui --aggregator`):
/// the request's path and parameters are passed on as they are, the answer's status, type,
/// cursor, last-sequence and results headers and body passed back.
public struct AggregatorQuerySource: UIQuerySource {
    public let base: String
    public let tls: ClientTLSConfiguration
    public var label: String { "aggregator \(base)" }

    public init(base: String, tls: ClientTLSConfiguration) {
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.tls = tls
    }

    /// One GET to the aggregator, on NIO's thread pool (libcurl blocks).
    func get(_ url: String) async throws -> CurlClient.HTTPResponse {
        let tls = self.tls
        return try await NIOThreadPool.singleton.runIfActive { () throws -> CurlClient.HTTPResponse in
            let client = try HTTPClient(tls: tls)
            return try client.request(method: "GET", url: url, timeoutSeconds: 60)
        }
    }

    public func answer(_ path: String, _ request: Request) async -> Response {
        let url = base + path + (request.uri.query.map { "?" + $0 } ?? "")
        do {
            let r = try await get(url)
            var headers: HTTPFields = [.contentType: r.headers["content-type"] ?? "application/octet-stream"]
            for name in [QueryAnswers.nextCursorHeader, QueryAnswers.lastSequenceHeader, QueryAnswers.resultsHeader] {
                if let value = r.headers[name.canonicalName.lowercased()] { headers[name] = value }
            }
            return Response(status: .init(code: r.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: r.body)))
        } catch {
            let message = "the aggregator at \(base) did not answer: \(error)"
            return QueryAnswers.json(["error": "unavailable", "message": message], status: .badGateway)
        }
    }
}

extension AggregatorQuerySource {
    /// The hunt through the aggregator: the rules (at most `QueryAnswers.maxHuntBody` bytes) and the
    /// parameters passed on as a POST over the reader certificate; the answer passed back.
    public func hunt(_ request: Request) async -> Response {
        var request = request
        let body: [UInt8]
        do {
            body = Array(try await request.collectBody(upTo: QueryAnswers.maxHuntBody).readableBytesView)
        } catch {
            return QueryAnswers.json(ErrorResponse(error: "too_large", message: "the rules exceed \(QueryAnswers.maxHuntBody) bytes", retryable: false),
                                     status: .contentTooLarge)
        }
        let url = base + "/v1/hunt" + (request.uri.query.map { "?" + $0 } ?? "")
        let tls = self.tls
        do {
            let r = try await NIOThreadPool.singleton.runIfActive { () throws -> CurlClient.HTTPResponse in
                let client = try HTTPClient(tls: tls)
                return try client.request(method: "POST", url: url, headers: ["Content-Type: text/plain; charset=utf-8"], body: body,
                                          timeoutSeconds: 3600, maxResponseBytes: 64 << 20)
            }
            var headers: HTTPFields = [.contentType: r.headers["content-type"] ?? "application/json"]
            for name in [QueryAnswers.resultsHeader, HTTPField.Name.retryAfter] {
                if let value = r.headers[name.canonicalName.lowercased()] { headers[name] = value }
            }
            return Response(status: .init(code: r.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: r.body)))
        } catch {
            return QueryAnswers.json(ErrorResponse(error: "unavailable", message: "the aggregator at \(base) did not answer: \(error)", retryable: true),
                                     status: .badGateway)
        }
    }

    /// The export through the aggregator: pages of `/v1/events` (the cursor in
    /// `X-Auditship-Next-Cursor`), each converted and written before the next is asked for, so
    /// that neither side holds more than a page.
    public func export(_ request: Request) async -> Response {
        let parameters = request.uri.queryParameters
        let format: ExportFormat
        do {
            format = try ExportFormat.parse(parameters["format"].map(String.init))
        } catch {
            return QueryAnswers.json(ErrorResponse(error: error.code, message: error.message, retryable: false), status: .badRequest)
        }
        let encoder = ExportEncoder(format: format)
        // Every parameter but format, limit and after passes on; pages are asked for with the cursor.
        let passed = parameters.filter { !["format", "limit", "after"].contains(String($0.key)) }.map { (String($0.key), String($0.value)) }
        var limit: Int?
        if let v = parameters["limit"] {
            guard let n = Int(v), n > 0 else {
                return QueryAnswers.json(ErrorResponse(error: "bad_parameter", message: "limit='\(v)' is not a positive integer", retryable: false), status: .badRequest)
            }
            limit = n
        }
        let total = limit
        let base = self.base
        @Sendable func pageURL(after: String?, size: Int) -> String {
            var items = passed.map { URLQueryItem(name: $0.0, value: $0.1) }
            items.append(URLQueryItem(name: "limit", value: String(size)))
            if let after { items.append(URLQueryItem(name: "after", value: after)) }
            var c = URLComponents()
            c.queryItems = items
            return base + BatchProtocolPaths.events + "?" + (c.percentEncodedQuery ?? "")
        }
        let pageSize = QueryAnswers.exportPage
        let first: CurlClient.HTTPResponse
        do {
            first = try await get(pageURL(after: nil, size: min(pageSize, total ?? pageSize)))
        } catch {
            return QueryAnswers.json(["error": "unavailable", "message": "the aggregator at \(base) did not answer: \(error)"], status: .badGateway)
        }
        guard first.status == 200 else {
            return Response(status: .init(code: first.status), headers: [.contentType: first.headers["content-type"] ?? "application/json"],
                            body: .init(byteBuffer: ByteBuffer(bytes: first.body)))
        }
        let cursorHeader = QueryAnswers.nextCursorHeader.canonicalName.lowercased()
        let source = self
        let body = ResponseBody { writer in
            var page = first
            var written = 0
            var buffer = ByteBuffer(bytes: encoder.header())
            while true {
                var lines = 0
                for line in page.body.split(separator: UInt8(ascii: "\n")) {
                    let bytes = Array(line)
                    guard let tagged = TaggedEventLine.parse(bytes) else { throw ExportBroken(reason: "the aggregator sent a line that is not a tagged event") }
                    buffer.writeBytes(encoder.line(cluster: tagged.cluster, node: tagged.node, event: Array(bytes[tagged.event])))
                    lines += 1
                }
                try await writer.write(buffer)
                buffer.clear()
                written += lines
                let remaining = (total ?? Int.max) - written
                guard let cursor = page.headers[cursorHeader], remaining > 0 else { break }
                page = try await source.get(pageURL(after: cursor, size: min(pageSize, remaining)))
                guard page.status == 200 else { throw ExportBroken(reason: "the aggregator answered \(page.status) mid-export") }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: encoder.headers, body: body)
    }
}

/// An export that cannot go on: the download ends without its last chunk, so it shows as broken.
struct ExportBroken: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}
