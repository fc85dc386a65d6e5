import AuditWire
import CurlClient
import Foundation
import Gzip
import Logging

/// What happened to a batch handed to the shipper.
public enum ShipOutcome: Sendable {
    /// The aggregator committed it. Lines it refused are listed (1-based within the batch).
    case acknowledged(BatchResponse)
    /// The aggregator will never accept it (a permanent 4xx); quarantine it.
    case refused(status: Int, reason: String, message: String)
    /// Stopping was requested before it was acknowledged; nothing may be advanced.
    case interrupted
}

/// Sends batches to the aggregator over mutual TLS and retries until they
/// are acknowledged, following ``RetryDecision``.
public final class Shipper {
    let configuration: AgentConfiguration
    let client: HTTPClient
    let logger: Logger
    let shouldStop: () -> Bool
    var backoff: Backoff
    var generator = SystemRandomNumberGenerator()
    /// Counters, read by the agent's summary.
    public private(set) var retries = 0
    public private(set) var batchesSent = 0
    public private(set) var bytesSent = 0

    public init(configuration: AgentConfiguration, logger: Logger, shouldStop: @escaping () -> Bool) throws(HTTPClientError) {
        self.configuration = configuration
        self.client = try HTTPClient(tls: ClientTLSConfiguration(
            certificateFile: configuration.tlsCertificateFile, keyFile: configuration.tlsKeyFile, caFile: configuration.caFile))
        self.logger = logger
        self.shouldStop = shouldStop
        self.backoff = Backoff(initialMilliseconds: configuration.retryInitialMilliseconds, maxMilliseconds: configuration.retryMaxMilliseconds)
    }

    /// Ships NDJSON `lines` as one batch, retrying until acknowledged, refused, or stopped.
    /// A 413 answer is handled by the caller splitting the batch: it is returned as `.refused` with status 413.
    public func ship(lines: [[UInt8]], batchID: String) -> ShipOutcome {
        var body: [UInt8] = []
        body.reserveCapacity(lines.reduce(0) { $0 + $1.count + 1 })
        for line in lines {
            body.append(contentsOf: line)
            body.append(0x0A)
        }
        let compressed: [UInt8]
        do {
            compressed = try Gzip.compress(body, level: configuration.gzipLevel)
        } catch {
            return .refused(status: 0, reason: "gzip", message: "could not compress the batch: \(error)")
        }
        let url = configuration.aggregatorURL.trimmingSuffix("/") + BatchProtocol.batchPath
        let headers = [
            "Content-Type: \(BatchProtocol.contentType)",
            "Content-Encoding: gzip",
            "\(BatchProtocol.clusterHeader): \(configuration.cluster)",
            "\(BatchProtocol.nodeHeader): \(configuration.node)",
            "\(BatchProtocol.batchIDHeader): \(batchID)",
            "\(BatchProtocol.eventCountHeader): \(lines.count)",
        ]
        while true {
            if shouldStop() { return .interrupted }
            do {
                let response = try client.request(method: "POST", url: url, headers: headers, body: compressed, timeoutSeconds: 60)
                switch RetryDecision(status: response.status) {
                case .done:
                    guard let answer = try? JSONDecoder().decode(BatchResponse.self, from: Data(response.body)) else {
                        logger.error("aggregator acknowledged a batch with an unreadable answer; sending it again", metadata: ["batch.id": "\(batchID)", "status": "\(response.status)"])
                        wait()
                        continue
                    }
                    backoff.reset()
                    batchesSent += 1
                    bytesSent += compressed.count
                    return .acknowledged(answer)
                case .retry:
                    logger.warning("aggregator asked to retry", metadata: ["batch.id": "\(batchID)", "status": "\(response.status)", "detail": "\(errorText(response))"])
                case .split:
                    return .refused(status: 413, reason: "too_large", message: errorText(response))
                case .unauthorized:
                    logger.error("aggregator refused this agent's certificate or cluster; events are kept and retried, fix the configuration",
                                 metadata: ["status": "\(response.status)", "detail": "\(errorText(response))"])
                case .permanent:
                    return .refused(status: response.status, reason: "refused", message: errorText(response))
                }
            } catch {
                if error.kind == .tls {
                    logger.error("TLS with the aggregator failed: check the certificates; events are kept and retried",
                                 metadata: ["error": "\(error)"])
                } else {
                    logger.warning("aggregator unreachable; will retry", metadata: ["error": "\(error)"])
                }
            }
            retries += 1
            wait()
        }
    }

    private func errorText(_ response: HTTPResponse) -> String {
        if let e = try? JSONDecoder().decode(ErrorResponse.self, from: Data(response.body)) {
            return "\(e.error): \(e.message)"
        }
        return String(response.bodyText.prefix(300))
    }

    /// Sleeps the next backoff delay, waking early when stopping.
    private func wait() {
        let ms = backoff.next(random: Double.random(in: 0...1, using: &generator))
        var left = ms
        while left > 0 && !shouldStop() {
            let step = min(left, 100)
            usleep(useconds_t(step * 1000))
            left -= step
        }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
