import AuditWire
import CurlClient
import Foundation
import Gzip
import Logging

/// What one delivery attempt did.
public enum AttemptOutcome: Sendable {
    case acknowledged(BatchResponse)
    /// Not delivered; try again later (network, 5xx, 429, 408).
    case retryLater(String)
    /// Our credentials or cluster are refused, or the URL is wrong: try again
    /// later, but an operator has to act.
    case misconfigured(String)
    /// The batch is too large: split it.
    case tooLarge
    /// The aggregator will never accept this batch.
    case refused(status: Int, message: String)
}

/// Sends batches to the aggregators over mutual TLS, one attempt at a time,
/// classifying each answer by ``RetryDecision``; the agent schedules retries.
///
/// With several aggregators, an attempt starts at the current one and, when it
/// cannot take the batch for a reason another one might not share (connection,
/// timeout, 5xx, 429, TLS or authorization refusal), offers the same batch to
/// the others in turn before giving up. The agent sends one batch at a time, so
/// failing over never reorders events; the aggregators de-duplicate a batch that
/// one of them stored but could not acknowledge.
public final class Shipper {
    let configuration: AgentConfiguration
    let client: HTTPClient
    let logger: Logger
    /// Index into `configuration.aggregatorURLs` of the aggregator tried first.
    public private(set) var current: Int
    /// Counters, read by the agent's summary.
    public var retries = 0
    /// The `Retry-After` seconds of the last answer that asked to be retried (429, 503), if it said.
    public private(set) var lastRetryAfterSeconds: Int?
    public private(set) var batchesSent = 0
    public private(set) var bytesSent = 0
    /// Times a batch moved on to another aggregator because the one before failed.
    public private(set) var failovers = 0

    public init(configuration: AgentConfiguration, logger: Logger) throws(HTTPClientError) {
        self.configuration = configuration
        self.client = try HTTPClient(tls: ClientTLSConfiguration(
            certificateFile: configuration.tlsCertificateFile, keyFile: configuration.tlsKeyFile, caFile: configuration.caFile))
        self.logger = logger
        self.current = Shipper.startIndex(node: configuration.node, count: configuration.aggregatorURLs.count)
    }

    /// Where a node starts: FNV-1a of its name, so that a fleet with one shared
    /// list spreads over the aggregators, and a node keeps its choice across restarts.
    public static func startIndex(node: String, count: Int) -> Int {
        guard count > 1 else { return 0 }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in node.utf8 {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01b3
        }
        return Int(h % UInt64(count))
    }

    /// Compresses NDJSON lines into a batch body.
    public func compress(_ lines: [[UInt8]]) throws -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(lines.reduce(0) { $0 + $1.count + 1 })
        for line in lines {
            body.append(contentsOf: line)
            body.append(0x0A)
        }
        return try configuration.compression.compress(body, gzipLevel: configuration.gzipLevel)
    }

    /// Compresses a ready NDJSON body (each line followed by a newline).
    public func compress(ndjson: [UInt8]) throws -> [UInt8] {
        try configuration.compression.compress(ndjson, gzipLevel: configuration.gzipLevel)
    }

    /// One delivery attempt of a compressed body, offered to each aggregator at most
    /// once, starting at the current one; never sleeps.
    public func attempt(body compressed: [UInt8], eventCount: Int, batchID: String) -> AttemptOutcome {
        let urls = configuration.aggregatorURLs
        lastRetryAfterSeconds = nil
        var outcome = AttemptOutcome.retryLater("no aggregator URL configured")
        let start = current
        for step in 0..<max(1, urls.count) {
            let index = (start + step) % max(1, urls.count)
            outcome = attempt(url: urls.isEmpty ? "" : urls[index], body: compressed, eventCount: eventCount, batchID: batchID)
            switch outcome {
            case .retryLater(let why), .misconfigured(let why):
                guard urls.count > 1 else { return outcome }
                let next = (index + 1) % urls.count
                if step + 1 < urls.count {
                    failovers += 1
                    logger.warning("aggregator failed; failing over to the next one with the same batch", metadata: [
                        "aggregator": "\(urls[index])", "next": "\(urls[next])", "detail": "\(why)", "batch.id": "\(batchID)",
                    ])
                }
                current = next
            case .acknowledged, .tooLarge, .refused:
                // An answer about the batch itself: the others would say the same.
                current = index
                return outcome
            }
        }
        return outcome
    }

    func attempt(url base: String, body compressed: [UInt8], eventCount: Int, batchID: String) -> AttemptOutcome {
        let url = base.trimmingSuffix("/") + BatchProtocol.batchPath
        let headers = [
            "Content-Type: \(BatchProtocol.contentType)",
            "Content-Encoding: \(WireCompression.of(compressed).contentEncoding)",
            "\(BatchProtocol.clusterHeader): \(configuration.cluster)",
            "\(BatchProtocol.nodeHeader): \(configuration.node)",
            "\(BatchProtocol.batchIDHeader): \(batchID)",
            "\(BatchProtocol.eventCountHeader): \(eventCount)",
        ]
        do {
            let response = try client.request(method: "POST", url: url, headers: headers, body: compressed, timeoutSeconds: 15)
            switch RetryDecision(status: response.status) {
            case .done:
                guard let answer = try? JSONDecoder().decode(BatchResponse.self, from: Data(response.body)) else {
                    return .retryLater("\(base) acknowledged with an unreadable answer (status \(response.status))")
                }
                batchesSent += 1
                bytesSent += compressed.count
                return .acknowledged(answer)
            case .retry:
                lastRetryAfterSeconds = response.headers["retry-after"].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                return .retryLater("\(base): status \(response.status): \(errorText(response))")
            case .split: return .tooLarge
            case .unauthorized: return .misconfigured("\(base): status \(response.status): \(errorText(response))")
            case .permanent:
                // A server that says the request may be retried is believed (404 from a proxy, say).
                if let e = try? JSONDecoder().decode(ErrorResponse.self, from: Data(response.body)), e.retryable {
                    return .retryLater("\(base): status \(response.status): \(e.error): \(e.message)")
                }
                if response.status == 404 || response.status == 405 {
                    return .misconfigured("status \(response.status) for \(url): is --aggregator right? \(errorText(response))")
                }
                return .refused(status: response.status, message: errorText(response))
            }
        } catch {
            return error.kind == .tls ? .misconfigured("TLS with \(base) failed: \(error)") : .retryLater("\(base): \(error)")
        }
    }

    func errorText(_ response: HTTPResponse) -> String {
        if let e = try? JSONDecoder().decode(ErrorResponse.self, from: Data(response.body)) {
            return "\(e.error): \(e.message)"
        }
        return String(response.bodyText.prefix(300))
    }

}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
