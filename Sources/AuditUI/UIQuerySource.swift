import AuditAggregator
import AuditStore
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
}

/// A store read directly (`auditship ui --store`).
public struct StoreQuerySource: UIQuerySource {
    public let answers: QueryAnswers
    public let label: String

    public init(store: any EventStore, label: String) {
        answers = QueryAnswers(store: store)
        self.label = label
    }

    public func answer(_ path: String, _ request: Request) async -> Response {
        await answers.answer(path, request) ?? Response(status: .notFound)
    }
}

/// An aggregator asked over mutual TLS with a reader certificate (`auditship ui --aggregator`):
/// the request's path and parameters are passed on as they are, the answer's status, type,
/// cursor header and body passed back.
public struct AggregatorQuerySource: UIQuerySource {
    public let base: String
    public let tls: ClientTLSConfiguration
    public var label: String { "aggregator \(base)" }

    public init(base: String, tls: ClientTLSConfiguration) {
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.tls = tls
    }

    public func answer(_ path: String, _ request: Request) async -> Response {
        let url = base + path + (request.uri.query.map { "?" + $0 } ?? "")
        let tls = self.tls
        do {
            // libcurl blocks: on NIO's thread pool, not on a task's thread.
            let r = try await NIOThreadPool.singleton.runIfActive { () throws -> CurlClient.HTTPResponse in
                let client = try HTTPClient(tls: tls)
                return try client.request(method: "GET", url: url, timeoutSeconds: 60)
            }
            var headers: HTTPFields = [.contentType: r.headers["content-type"] ?? "application/octet-stream"]
            if let cursor = r.headers[QueryAnswers.nextCursorHeader.canonicalName.lowercased()] {
                headers[QueryAnswers.nextCursorHeader] = cursor
            }
            return Response(status: .init(code: r.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: r.body)))
        } catch {
            let message = "the aggregator at \(base) did not answer: \(error)"
            return QueryAnswers.json(["error": "unavailable", "message": message], status: .badGateway)
        }
    }
}
