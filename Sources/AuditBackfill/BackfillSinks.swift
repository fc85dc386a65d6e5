import AuditAgent
import AuditModel
import AuditStore
import AuditWire
import Foundation
import Logging
import OpenSSLKit

/// Ships batches to the aggregator exactly as the agent does (gzip, mutual TLS,
/// acknowledgements), retrying with backoff until acknowledged or stopped.
public final class AggregatorSink: BackfillSink {
    let shipper: Shipper
    let logger: Logger
    let shouldStop: () -> Bool
    var backoff: Backoff

    public init(configuration: AgentConfiguration, logger: Logger, shouldStop: @escaping () -> Bool = { StopSignal.requested }) throws {
        shipper = try Shipper(configuration: configuration, logger: logger)
        self.logger = logger
        self.shouldStop = shouldStop
        backoff = Backoff(initialMilliseconds: configuration.retryInitialMilliseconds, maxMilliseconds: configuration.retryMaxMilliseconds)
    }

    public func deliver(_ events: [SourcedEvent], batchID: String) async throws -> BackfillDelivery? {
        let body = try shipper.compress(events.map(\.bytes))
        while !shouldStop() {
            switch shipper.attempt(body: body, eventCount: events.count, batchID: batchID) {
            case .acknowledged(let answer):
                backoff.reset()
                return BackfillDelivery(stored: answer.stored, duplicates: answer.duplicates,
                                        refused: answer.rejected.map { ($0.line - 1, $0.code, $0.message) })
            case .tooLarge where events.count > 1:
                let half = events.count / 2
                guard let a = try await deliver(Array(events[..<half]), batchID: batchID + "-0"),
                      let b = try await deliver(Array(events[half...]), batchID: batchID + "-1") else { return nil }
                return BackfillDelivery(stored: a.stored + b.stored, duplicates: a.duplicates + b.duplicates,
                                        refused: a.refused + b.refused.map { ($0.index + half, $0.code, $0.message) })
            case .tooLarge:
                return BackfillDelivery(stored: 0, duplicates: 0, refused: [(0, "too_large", "the event is larger than the aggregator accepts")])
            case .refused(let status, let message):
                return BackfillDelivery(stored: 0, duplicates: 0, refused: events.indices.map { ($0, "batch_refused_\(status)", message) })
            case .retryLater(let why), .misconfigured(let why):
                let ms = backoff.next(random: Double.random(in: 0...1))
                logger.warning("aggregator did not acknowledge; will retry", metadata: ["detail": "\(why)", "retry.in_ms": "\(ms)"])
                var waited = 0
                while waited < ms && !shouldStop() {
                    try await Task.sleep(for: .milliseconds(min(100, ms - waited)))
                    waited += 100
                }
            }
        }
        return nil
    }
}

/// Writes batches straight into a store (air-gapped imports): the same de-duplication, each
/// batch acknowledged once the transaction holding it committed durably, without an aggregator.
/// Several batches are delivered at once: each is hashed and sealed on its own task, and the
/// store's group commit writes those that meet in one transaction.
public final class StoreSink: ConcurrentBackfillSink {
    let store: any EventStore
    let cluster: String
    let node: String
    public let concurrentBatches: Int

    public init(store: any EventStore, cluster: String, node: String, concurrentBatches: Int = 4) {
        self.store = store
        self.cluster = cluster
        self.node = node
        self.concurrentBatches = max(1, concurrentBatches)
    }

    public func deliver(_ events: [SourcedEvent], batchID: String) async throws -> BackfillDelivery? {
        let batch = IngestBatch(cluster: cluster, node: node, batchID: batchID,
                                events: events.map { IngestEvent(bytes: $0.bytes, summary: $0.summary, digest: SHA256.hash($0.bytes)) })
        let result = try await store.ingest(batch)
        return BackfillDelivery(stored: result.stored, duplicates: result.duplicates)
    }
}
