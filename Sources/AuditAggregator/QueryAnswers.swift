import AuditModel
import AuditStore
import AuditWire
import Foundation
import HTTPTypes
import Hummingbird
import OpenSSLKit

/// The query API's answers (`/v1/events`, `/v1/histogram`, `/v1/facets`, `/v1/stats`,
/// `/v1/collisions`, `/v1/export`, `/v1/alerts`) from a store and a request's parameters. Who may ask is decided before:
/// the aggregator by the reader certificate, `auditship ui` by its token.
public struct QueryAnswers: Sendable {
    public let store: any EventStore
    /// The clusters the caller may read (nil: every cluster); see `ClusterScope.swift`.
    public let clusters: Set<String>?
    /// Public keys that checkpoint signatures are checked against (`/v1/proof`); nil: the store's own.
    public let trustedKeys: [String: PublicKey]?
    /// Header of `/v1/events` holding the cursor of the next page.
    public static let nextCursorHeader = HTTPField.Name("X-Auditship-Next-Cursor") ?? .contentType
    /// How many results an answer holds (events on the page, the count, the histogram's total, …).
    public static let resultsHeader = HTTPField.Name("X-Auditship-Results") ?? .contentType
    /// Header of `/v1/events`: the store's last ingest sequence when the answer was made, from
    /// which `ingestedAfter` follows what is stored next (a live tail).
    public static let lastSequenceHeader = HTTPField.Name("X-Auditship-Last-Sequence") ?? .contentType

    public init(store: any EventStore, clusters: Set<String>? = nil, trustedKeys: [String: PublicKey]? = nil) {
        self.store = store
        self.clusters = clusters
        self.trustedKeys = trustedKeys
    }

    /// Routes `path` (one of the API's paths) to its answer; nil for another path.
    public func answer(_ path: String, _ request: Request) async -> Response? {
        switch path {
        case BatchProtocol.eventsPath: await events(request)
        case "/v1/histogram": await histogram(request)
        case "/v1/facets": await facets(request)
        case "/v1/stats": await stats(request)
        case "/v1/collisions": await collisions(request)
        case "/v1/export": await export(request)
        case "/v1/alerts": await alerts(request)
        case "/v1/proof": await proof(request)
        case "/v1/values": await values(request)
        default: nil
        }
    }

    /// The filters of a request, checked.
    public static func query(_ request: Request) throws(Refusal) -> EventQuery {
        let p = request.uri.queryParameters
        do {
            return try QueryParameters.query({ p[Substring($0)].map(String.init) }, now: QueryParameters.now)
        } catch {
            throw Refusal(status: 400, code: "bad_parameter", message: error.message)
        }
    }

    public func events(_ request: Request) async -> Response {
        await answering {
            let query = try Self.query(request)
            if request.uri.queryParameters["count"] == "true" {
                let n = try await scopedCount(query)
                return Response(status: .ok, headers: [.contentType: "text/plain", Self.resultsHeader: String(n)],
                                body: .init(byteBuffer: ByteBuffer(string: "\(n)\n")))
            }
            // Read before the events: a tail from it misses nothing the page did not hold.
            let last = try await store.lastSequence()
            let events = try await scopedEvents(query)
            var out = ByteBuffer()
            for e in events {
                out.writeBytes(JSONText.taggedEventLine(cluster: e.cluster, node: e.node, event: e.bytes))
                out.writeInteger(UInt8(ascii: "\n"))
            }
            var headers: HTTPFields = [.contentType: "application/x-ndjson", Self.resultsHeader: String(events.count),
                                       Self.lastSequenceHeader: String(Self.tailFrom(query, events, storeLast: last))]
            if let limit = query.limit, events.count == limit, let last = events.last {
                // More may follow: pass this back as `after` for the next page.
                headers[Self.nextCursorHeader] = last.cursor.description
            }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: out))
        }
    }

    /// Where a live tail goes on after this page: the last event's sequence when the page was
    /// cut at its limit (more are waiting), else the store's last sequence (or the page's, if newer).
    static func tailFrom(_ query: EventQuery, _ events: [StoredEvent], storeLast: Int64) -> Int64 {
        guard query.ingestOrder else { return storeLast }
        if let limit = query.limit, events.count == limit, let last = events.last { return last.sequence }
        return max(storeLast, events.last?.sequence ?? 0, query.ingestedAfter ?? 0)
    }

    public func histogram(_ request: Request) async -> Response {
        await answering {
            let text = request.uri.queryParameters["bucket"].map(String.init) ?? "1h"
            guard let width = HistogramBucket.width(text) else {
                throw Refusal(status: 400, code: "bad_parameter", message: "bucket='\(text)' is not a width like 1m, 1h or 1d")
            }
            let buckets = try await scopedHistogram(try Self.query(request), bucket: width)
            var response = Self.json(buckets.map(HistogramResponse.init), status: .ok)
            response.headers[Self.resultsHeader] = String(buckets.reduce(0) { $0 + $1.count })
            return response
        }
    }

    public func facets(_ request: Request) async -> Response {
        await answering {
            let p = request.uri.queryParameters
            let fields: [FacetField]
            do {
                fields = try FacetField.list(p["fields"].map(String.init) ?? "user,verb,resource,namespace")
            } catch let error as StoreError {
                throw Refusal(status: 400, code: "bad_parameter", message: error.message)
            }
            var top = 10
            if let v = p["top"] {
                guard let n = Int(v), n > 0, n <= 1000 else { throw Refusal(status: 400, code: "bad_parameter", message: "top='\(v)' is not a number from 1 to 1000") }
                top = n
            }
            let found = try await scopedFacets(try Self.query(request), fields: fields, top: top)
            return Self.json(FacetResponse.object(found, fields: fields), status: .ok)
        }
    }

    public func stats(_ request: Request) async -> Response {
        await answering {
            let s = try await scopedStatistics(try Self.query(request))
            var response = Self.json(StatsResponse(total: s.total, clusters: s.byCluster, nodes: s.byNode, users: s.byUser, verbs: s.byVerb, resources: s.byResource), status: .ok)
            response.headers[Self.resultsHeader] = String(s.total)
            return response
        }
    }

    public func collisions(_ request: Request) async -> Response {
        await answering {
            let found = try await scopedCollisions(try Self.query(request))
            return Self.json(found.map { CollisionResponse(cluster: $0.cluster, auditID: $0.auditID, stage: $0.stage, events: $0.events) }, status: .ok)
        }
    }

    /// A refusal as its status and JSON error; anything else as a retryable 500.
    func answering(_ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let refusal as Refusal {
            return Self.json(ErrorResponse(error: refusal.code, message: refusal.message, retryable: false), status: .init(code: refusal.status))
        } catch {
            return Self.json(ErrorResponse(error: "internal", message: "\(error)", retryable: true), status: .internalServerError)
        }
    }

    public static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// One bucket of `GET /v1/histogram` (and of `auditship query --histogram`).
public struct HistogramResponse: Codable, Sendable {
    public var start: String
    public var count: Int

    public init(_ bucket: HistogramBucket) {
        start = bucket.start.format(fractionDigits: bucket.start.microseconds % 1_000_000 == 0 ? 0 : 6)
        count = bucket.count
    }
}

/// One value of `GET /v1/facets` (and of `auditship query --facets`).
public struct FacetResponse: Codable, Sendable {
    public var value: String
    public var count: Int

    public init(_ v: FacetValue) {
        value = v.value
        count = v.count
    }

    /// The answer's JSON object: each field's values, fields in the order asked.
    public static func object(_ found: [FacetField: [FacetValue]], fields: [FacetField]) -> [String: [FacetResponse]] {
        var out: [String: [FacetResponse]] = [:]
        for f in fields { out[f.rawValue] = (found[f] ?? []).map(FacetResponse.init) }
        return out
    }
}

/// `GET /v1/stats`: event counts per dimension.
struct StatsResponse: Codable {
    var total: Int
    var clusters: [String: Int]
    var nodes: [String: Int]
    var users: [String: Int]
    var verbs: [String: Int]
    var resources: [String: Int]
}

/// One line of `GET /v1/collisions`.
struct CollisionResponse: Codable {
    var cluster: String
    var auditID: String
    var stage: String
    var events: Int
}
