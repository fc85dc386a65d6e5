import AuditModel
import AuditStore
import AuditWire
import Foundation
import Hummingbird

extension QueryAnswers {
    /// `GET /v1/values?field=user&prefix=sys&limit=20`: values of a field that start with the
    /// prefix, for the search box's autocomplete. A reader limited to clusters gets only values
    /// seen in its clusters in the last 7 days (never the store-wide dictionary, which would tell
    /// it names from other clusters).
    public func values(_ request: Request) async -> Response {
        await answering {
            let p = request.uri.queryParameters
            let name = p["field"].map(String.init) ?? ""
            guard let field = FacetField(rawValue: name) else {
                throw Refusal(status: 400, code: "bad_parameter",
                              message: "field='\(name)' is not one of \(FacetField.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let prefix = p["prefix"].map(String.init) ?? ""
            var limit = 20
            if let v = p["limit"] {
                guard let n = Int(v), (1...200).contains(n) else { throw Refusal(status: 400, code: "bad_parameter", message: "limit='\(v)' is not a number from 1 to 200") }
                limit = n
            }
            let found: [String]
            if let clusters {
                var q = EventQuery()
                q.since = Timestamp(microseconds: QueryParameters.now.microseconds - 7 * 86_400_000_000)
                let values = try await scopedFacets(q, fields: [field], top: 10_000)[field] ?? []
                found = Array(values.map(\.value).filter { $0.hasPrefix(prefix) && (field != .cluster || clusters.contains($0)) }.sorted().prefix(limit))
            } else {
                found = try await store.suggestions(field, prefix: prefix, limit: limit)
            }
            return Self.json(found, status: .ok)
        }
    }
}
