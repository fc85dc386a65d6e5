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

/// Sends batches to the aggregator over mutual TLS, one attempt at a time,
/// classifying each answer by ``RetryDecision``; the agent schedules retries.
public final class Shipper {
    let configuration: AgentConfiguration
    let client: HTTPClient
    let logger: Logger
    /// Counters, read by the agent's summary.
    public var retries = 0
    public private(set) var batchesSent = 0
    public private(set) var bytesSent = 0

    public init(configuration: AgentConfiguration, logger: Logger) throws(HTTPClientError) {
        self.configuration = configuration
        self.client = try HTTPClient(tls: ClientTLSConfiguration(
            certificateFile: configuration.tlsCertificateFile, keyFile: configuration.tlsKeyFile, caFile: configuration.caFile))
        self.logger = logger
    }

    /// Compresses NDJSON lines into a batch body.
    public func compress(_ lines: [[UInt8]]) throws -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(lines.reduce(0) { $0 + $1.count + 1 })
        for line in lines {
            body.append(contentsOf: line)
            body.append(0x0A)
        }
        return try Gzip.compress(body, level: configuration.gzipLevel)
    }

    /// One delivery attempt of a compressed body; never sleeps.
    public func attempt(body compressed: [UInt8], eventCount: Int, batchID: String) -> AttemptOutcome {
        let url = configuration.aggregatorURL.trimmingSuffix("/") + BatchProtocol.batchPath
        let headers = [
            "Content-Type: \(BatchProtocol.contentType)",
            "Content-Encoding: gzip",
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
                    return .retryLater("the aggregator acknowledged with an unreadable answer (status \(response.status))")
                }
                batchesSent += 1
                bytesSent += compressed.count
                return .acknowledged(answer)
            case .retry: return .retryLater("status \(response.status): \(errorText(response))")
            case .split: return .tooLarge
            case .unauthorized: return .misconfigured("status \(response.status): \(errorText(response))")
            case .permanent:
                // A server that says the request may be retried is believed (404 from a proxy, say).
                if let e = try? JSONDecoder().decode(ErrorResponse.self, from: Data(response.body)), e.retryable {
                    return .retryLater("status \(response.status): \(e.error): \(e.message)")
                }
                if response.status == 404 || response.status == 405 {
                    return .misconfigured("status \(response.status) for \(url): is --aggregator right? \(errorText(response))")
                }
                return .refused(status: response.status, message: errorText(response))
            }
        } catch {
            return error.kind == .tls ? .misconfigured("TLS with the aggregator failed: \(error)") : .retryLater("\(error)")
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
