import AuditModel
import AuditStore
import AuditWire
import Foundation
import Hummingbird

/// `GET /v1/histogram` and `GET /v1/facets`: counts over the events matching a reader's filters
/// (the same parameters as `/v1/events`), for timelines and field-value lists.
extension Aggregator {
    func handleHistogram(_ request: Request, _ context: AggregatorContext) async -> Response {
        do {
            try await requireReader(context)
            let text = request.uri.queryParameters["bucket"].map(String.init) ?? "1h"
            guard let width = HistogramBucket.width(text) else {
                throw Refusal(status: 400, code: "bad_parameter", message: "bucket='\(text)' is not a width like 1m, 1h or 1d")
            }
            let buckets = try await store.histogram(try readerQuery(request), bucket: width)
            return json(buckets.map(HistogramResponse.init), status: .ok)
        } catch let refusal as Refusal {
            return json(ErrorResponse(error: refusal.code, message: refusal.message, retryable: false), status: .init(code: refusal.status))
        } catch {
            return json(ErrorResponse(error: "internal", message: "\(error)", retryable: true), status: .internalServerError)
        }
    }

    func handleFacets(_ request: Request, _ context: AggregatorContext) async -> Response {
        do {
            try await requireReader(context)
            let p = request.uri.queryParameters
            let fields: [FacetField]
            do {
                fields = try FacetField.list(p["fields"].map(String.init) ?? "user,verb,resource,namespace")
            } catch {
                throw Refusal(status: 400, code: "bad_parameter", message: error.message)
            }
            var top = 10
            if let v = p["top"] {
                guard let n = Int(v), n > 0, n <= 1000 else { throw Refusal(status: 400, code: "bad_parameter", message: "top='\(v)' is not a number from 1 to 1000") }
                top = n
            }
            let found = try await store.facets(try readerQuery(request), fields: fields, top: top)
            return json(FacetResponse.object(found, fields: fields), status: .ok)
        } catch let refusal as Refusal {
            return json(ErrorResponse(error: refusal.code, message: refusal.message, retryable: false), status: .init(code: refusal.status))
        } catch {
            return json(ErrorResponse(error: "internal", message: "\(error)", retryable: true), status: .internalServerError)
        }
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
