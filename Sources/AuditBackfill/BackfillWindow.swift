import AuditAgent
import Foundation

/// A sink that takes several batches at once: the store, whose group commit seals concurrent
/// batches on their own tasks and commits them in one transaction. The aggregator sink takes one
/// batch at a time (its shipper's connection is not shared), as the agent does.
public protocol ConcurrentBackfillSink: BackfillSink, Sendable {
    /// How many batches may be delivered at once.
    var concurrentBatches: Int { get }
}

/// A batch handed to the sink and not yet settled: its delivery, the source lines of its events
/// (for refusals) and the file's record once it is acknowledged.
struct InFlightBatch {
    enum Delivery {
        case running(Task<BackfillDelivery?, any Error>)
        /// Nothing to deliver (every event skipped by time or policy): only the record moves.
        case nothing
    }
    var delivery: Delivery
    var lines: [Int64]
    var path: String
    var key: String
    var record: BackfillState.FileRecord
}

/// The window of batches in flight. A file's record moves (and the state file is saved) only when
/// a batch is settled, oldest first, so the record never passes a batch the sink has not
/// acknowledged, whatever order the deliveries finish in.
extension Backfill {
    var windowSize: Int { (sink as? any ConcurrentBackfillSink)?.concurrentBatches ?? 1 }

    func enqueue(_ events: [SourcedEvent], batchID: String, path: String, key: String, record: BackfillState.FileRecord) async throws {
        let task: Task<BackfillDelivery?, any Error>
        if let shared = sink as? any ConcurrentBackfillSink, shared.concurrentBatches > 1 {
            task = Task { try await shared.deliver(events, batchID: batchID) }
        } else {
            // One at a time: delivered here, settled at once below.
            let delivery = try await sink.deliver(events, batchID: batchID)
            task = Task { delivery }
        }
        inFlight.append(InFlightBatch(delivery: .running(task), lines: events.map(\.line), path: path, key: key, record: record))
        while inFlight.count >= windowSize { try await settleOldest() }
    }

    func enqueueNothing(path: String, key: String, record: BackfillState.FileRecord) async throws {
        inFlight.append(InFlightBatch(delivery: .nothing, lines: [], path: path, key: key, record: record))
        while inFlight.count >= windowSize { try await settleOldest() }
    }

    /// Waits for the oldest batch, counts what the sink did and saves its file's record. When the
    /// sink failed or gave up on it (stopping: `Interrupted`), the later batches in flight are
    /// awaited (they may have been stored: the next run delivers them again and the store keeps
    /// each event once) and dropped without moving any record, and the failure is thrown.
    func settleOldest() async throws {
        guard !inFlight.isEmpty else { return }
        let oldest = inFlight.removeFirst()
        if case .running(let task) = oldest.delivery {
            let answer: BackfillDelivery?
            do {
                answer = try await task.value
            } catch {
                await abandonInFlight()
                throw error
            }
            guard let delivery = answer else {
                await abandonInFlight()
                throw Interrupted()
            }
            summary.stored += delivery.stored
            summary.duplicates += delivery.duplicates
            for r in delivery.refused where oldest.lines.indices.contains(r.index) {
                summary.refused += 1
                problem("\(oldest.path):\(oldest.lines[r.index]): refused: \(r.code): \(r.message)")
            }
        }
        state.files[oldest.key] = oldest.record
        try state.save(directory: options.stateDirectory)
    }

    /// Settles every batch in flight, oldest first (a failure drops the rest, as above).
    func settleAll() async throws {
        while !inFlight.isEmpty { try await settleOldest() }
    }

    private func abandonInFlight() async {
        let rest = inFlight
        inFlight.removeAll()
        for b in rest { if case .running(let task) = b.delivery { _ = try? await task.value } }
    }
}
