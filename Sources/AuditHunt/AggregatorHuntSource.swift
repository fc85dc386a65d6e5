import AuditAlerts
import AuditModel
import CurlClient
import Foundation

/// Hunting through an aggregator's HTTPS API with a reader certificate: pages of `GET /v1/events`
/// with the prefilter as search text (`q=`), so a reader limited to some clusters hunts only those.
public struct AggregatorHuntSource: HuntSource {
    public let base: String
    public let tls: ClientTLSConfiguration
    public let cluster: String?

    public init(base: String, tls: ClientTLSConfiguration, cluster: String? = nil) {
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.tls = tls
        self.cluster = cluster
    }

    public func page(_ prefilter: AlertPrefilter, since: Timestamp?, until: Timestamp?, after cursor: String?, limit: Int)
        async throws -> (events: [HuntEvent], next: String?) {
        var items = [URLQueryItem(name: "limit", value: String(limit))]
        let text = HuntPlan.searchText(prefilter)
        if !text.isEmpty { items.append(URLQueryItem(name: "q", value: text)) }
        if let cluster { items.append(URLQueryItem(name: "cluster", value: cluster)) }
        if let since { items.append(URLQueryItem(name: "since", value: since.rfc3339)) }
        if let until { items.append(URLQueryItem(name: "until", value: until.rfc3339)) }
        if let cursor { items.append(URLQueryItem(name: "after", value: cursor)) }
        var components = URLComponents(string: base + "/v1/events")
        components?.queryItems = items
        // `+` in a query means a space to many servers: send it encoded.
        let encoded = components?.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        components?.percentEncodedQuery = encoded
        guard let url = components?.string else { throw HuntError("'\(base)' is not a URL") }
        let client = try HTTPClient(tls: tls)
        let response = try client.request(method: "GET", url: url, timeoutSeconds: 300, maxResponseBytes: 1 << 30)
        guard response.status == 200 else {
            throw HuntError("the aggregator answered \(response.status): \(response.bodyText)")
        }
        var events: [HuntEvent] = []
        for line in response.body.split(separator: 0x0A) where !line.isEmpty {
            let bytes = Array(line)
            guard let tagged = TaggedEventLine.parse(bytes) else { throw HuntError("the aggregator sent a line that is not a tagged event") }
            let event = Array(bytes[tagged.event])
            guard let summary = try? EventScanner.scan(event) else { throw HuntError("the aggregator sent an event without its timestamps") }
            events.append(HuntEvent(cluster: tagged.cluster, node: tagged.node, bytes: event, timestamp: summary.orderTimestamp))
        }
        return (events, response.headers["x-auditship-next-cursor"])
    }
}

/// A hunt that could not run, with what went wrong.
public struct HuntError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
