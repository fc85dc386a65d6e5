import AuditModel
import AuditStore
import AuditUIAssets
import AuditWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Who asks the query API or opens the web UI on the aggregator: a reader certificate, or a
/// person that the authenticating proxy's certificate vouches for.
public struct QueryCaller: Sendable, Hashable, CustomStringConvertible {
    public var reader: String
    /// The clusters the certificate may read (nil: every cluster).
    public var clusters: [String]?
    /// The signed-in person, from `UIConfiguration.userHeader` on the proxy's requests only.
    public var person: String?

    public var description: String { person.map { "\($0) (through \(reader))" } ?? reader }
}

extension Aggregator {
    /// The web UI's routes on the HTTPS listener: the page and its assets, for readers only.
    func addUIRoutes(_ router: Router<AggregatorContext>) {
        guard configuration.ui.enabled else { return }
        router.get("/") { request, context in await self.page(request, context) { _ in Self.asset("index.html") } }
        for name in UIAssets.names where name != "index.html" {
            router.get(RouterPath("/assets/\(name)")) { request, context in await self.page(request, context) { _ in Self.asset(name) } }
        }
        router.get("/ui/info") { request, context in
            await self.page(request, context) { caller in
                QueryAnswers.json(UIInfo(source: "aggregator" + (caller.clusters.map { " (clusters " + $0.joined(separator: ", ") + ")" } ?? ""),
                                         user: caller.description, admin: self.isAdmin(caller) && self.queryLog != nil), status: .ok)
            }
        }
        router.get("/v1/query-log") { request, context in
            await self.page(request, context) { caller in await self.queryLogAnswer(request, caller) }
        }
    }

    struct UIInfo: Codable {
        var source: String
        var user: String
        var admin: Bool
    }

    static func asset(_ name: String) -> Response {
        guard let bytes = UIAssets.file(name) else { return Response(status: .notFound) }
        return Response(status: .ok, headers: [.contentType: UIAssets.contentType(name)], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The caller of a query request: readers only; the proxy's user header read from the proxy alone.
    func caller(_ request: Request, _ context: AggregatorContext) async throws(Refusal) -> QueryCaller {
        let who = try await identity(context)
        guard case .reader(let name, let clusters) = who else {
            throw Refusal(status: 403, code: "forbidden", message: "\(who) may not query; use a reader certificate")
        }
        var caller = QueryCaller(reader: name, clusters: clusters, person: nil)
        if let proxy = configuration.ui.proxyReader, proxy == name,
           let header = HTTPField.Name(configuration.ui.userHeader), let value = request.headers[header] {
            let person = value.trimmingCharacters(in: .whitespaces)
            guard !person.isEmpty, person.utf8.count <= 256, !person.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw Refusal(status: 400, code: "bad_user_header", message: "the proxy's \(configuration.ui.userHeader) header is empty, too long or holds control characters")
            }
            caller.person = person
        }
        return caller
    }

    func isAdmin(_ caller: QueryCaller) -> Bool {
        if let person = caller.person { return configuration.ui.admins.contains(person) }
        return configuration.ui.admins.contains(caller.reader)
    }

    /// A page, asset or UI answer for a reader, with the UI's security headers.
    func page(_ request: Request, _ context: AggregatorContext, _ answer: (QueryCaller) async -> Response) async -> Response {
        var response: Response
        do {
            response = await answer(try await caller(request, context))
        } catch {
            response = json(ErrorResponse(error: error.code, message: error.message, retryable: false), status: .init(code: error.status))
        }
        for h in UIAssets.securityHeaders {
            if let name = HTTPField.Name(h.name) { response.headers[name] = h.value }
        }
        return response
    }

    /// A query API answer for a reader, recorded in the query log when there is one.
    func query(_ request: Request, _ context: AggregatorContext, _ answer: (QueryCaller) async -> Response) async -> Response {
        let caller: QueryCaller
        do {
            caller = try await self.caller(request, context)
        } catch {
            return json(ErrorResponse(error: error.code, message: error.message, retryable: false), status: .init(code: error.status))
        }
        let response = await answer(caller)
        // Autocomplete asks at every keystroke: not a search of its own.
        if let log = queryLog, request.uri.path != "/v1/values" {
            let entry = QueryLog.Entry(time: QueryParameters.now.format(fractionDigits: 3), reader: caller.reader, person: caller.person,
                                       path: request.uri.path, filter: request.uri.query ?? "", status: Int(response.status.code),
                                       results: response.headers[QueryAnswers.resultsHeader].flatMap { Int($0) })
            if let error = await log.record(entry) {
                metrics.queryLogFailed()
                logger.error("could not record a search in the query log", metadata: ["error": "\(error)"])
            }
        }
        return response
    }

    /// `GET /v1/query-log?limit=N`: the newest searches, newest first, for admins.
    func queryLogAnswer(_ request: Request, _ caller: QueryCaller) async -> Response {
        guard let log = queryLog else {
            return json(ErrorResponse(error: "no_query_log", message: "this aggregator records no searches (--query-log)", retryable: false), status: .notFound)
        }
        guard isAdmin(caller) else {
            return json(ErrorResponse(error: "forbidden", message: "\(caller) is not an admin (--ui-admin) and may not read the query log", retryable: false), status: .forbidden)
        }
        var limit = 500
        if let v = request.uri.queryParameters["limit"] {
            guard let n = Int(v), n > 0, n <= 10_000 else {
                return json(ErrorResponse(error: "bad_parameter", message: "limit='\(v)' is not a number from 1 to 10000", retryable: false), status: .badRequest)
            }
            limit = n
        }
        do {
            return QueryAnswers.json(try await log.latest(limit: limit), status: .ok)
        } catch {
            return json(ErrorResponse(error: "internal", message: "\(error)", retryable: true), status: .internalServerError)
        }
    }
}
