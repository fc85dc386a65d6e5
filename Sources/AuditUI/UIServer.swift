import AuditAggregator
import AuditModel
import AuditStore
import AuditUIAssets
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// `auditship ui`: the web UI over a store or an aggregator, on 127.0.0.1 only, behind a random token.
///
/// It serves the page and its assets (embedded in the binary: no CDN, nothing fetched from
/// elsewhere) and the same query API as the aggregator (`UIQuerySource`). Every answer carries a
/// strict Content-Security-Policy and is not cached; event content reaches the page only as
/// JSON, which the page renders as text.
public struct UIServer: Sendable {
    public let source: any UIQuerySource
    public let port: Int
    public let token: String
    let logger: Logger
    /// The port it listens on (known once it runs: `--port 0` takes a free one).
    let listening = Listening()

    final class Listening: Sendable {
        let port = Atomic<Int>(0)
    }

    public init(source: any UIQuerySource, port: Int, token: String = UIAccess.randomToken(), logger: Logger) {
        self.source = source
        self.port = port
        self.token = token
        self.logger = logger
    }

    /// Security headers on every answer (`UIAssets.securityHeaders`).
    static let securityHeaders: [(HTTPField.Name, String)] = UIAssets.securityHeaders.compactMap { h in
        HTTPField.Name(h.name).map { ($0, h.value) }
    }

    /// Runs until cancelled (SIGINT/SIGTERM through the caller's task); `ready` gets the URL to open.
    public func run(ready: @escaping @Sendable (String) -> Void) async throws {
        let router = Router()
        let server = self
        router.get("/") { request, context in await server.guarded(request, context) { server.asset("index.html", "text/html; charset=utf-8") } }
        for name in UIAssets.names where name != "index.html" {
            router.get(RouterPath("/assets/\(name)")) { request, context in
                await server.guarded(request, context) { server.asset(name, UIAssets.contentType(name)) }
            }
        }
        router.get("/ui/info") { request, context in await server.guarded(request, context) { await server.info() } }
        router.post("/v1/hunt") { request, context in await server.guarded(request, context) { await server.source.hunt(request) } }
        router.get("/v1/export") { request, context in await server.guarded(request, context) { await server.source.export(request) } }
        for path in [BatchProtocolPaths.events, "/v1/histogram", "/v1/facets", "/v1/stats", "/v1/collisions", "/v1/alerts", "/v1/proof", "/v1/values"] {
            router.get(RouterPath(path)) { request, context in
                await server.guarded(request, context) { await server.source.answer(path, request) }
            }
        }
        let logger = self.logger
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "auditship-ui"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                server.listening.port.store(port, ordering: .relaxed)
                ready("http://127.0.0.1:\(port)/?token=\(server.token)")
            },
            logger: logger)
        try await app.runService()
    }

    /// Checks the token (see `UIAccess`), then answers with the security headers added.
    func guarded(_ request: Request, _ context: some RequestContext, _ answer: () async -> Response) async -> Response {
        let host = request.head.authority
        let port = listening.port.load(ordering: .relaxed)
        let access = UIAccess(token: token, port: port)
        let query = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
        var response: Response
        switch access.decide(host: host, path: request.uri.path, query: query, cookie: request.headers[.cookie],
                             authorization: request.headers[.authorization]) {
        case .allow:
            response = await answer()
        case .setCookieAndRedirect(let location):
            response = Response(status: .seeOther, headers: [.location: location, .setCookie: access.setCookie])
        case .refuse(let status, let message):
            response = text(.init(code: status), message + "\n")
        }
        for (name, value) in Self.securityHeaders { response.headers[name] = value }
        return response
    }

    func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    func asset(_ name: String, _ type: String) -> Response {
        guard let bytes = UIAssets.file(name) else { return text(.notFound, "not found\n") }
        return Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `GET /ui/info`: what the page shows in its header.
    func info() async -> Response {
        QueryAnswers.json(["source": source.label], status: .ok)
    }
}

/// The paths of the query API the UI calls.
enum BatchProtocolPaths {
    static let events = "/v1/events"
}
