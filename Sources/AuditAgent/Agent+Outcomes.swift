import AuditModel
import Foundation
import Logging

/// What shipping reports back: durability (checkpoints), acknowledgements and refusals (counters, quarantine).
extension Agent {
    /// Books every outcome reported since the last call, in order.
    func takeOutcomes() {
        for outcome in shipping.takeOutcomes() {
            switch outcome {
            case .durable(let sequence):
                durable(sequence)
            case .spooled:
                stats.spooledBatches += 1
            case .acknowledged(let accepted, let duplicates, let rejected):
                lastAcknowledgement = Date()
                stats.eventsShipped += accepted
                stats.duplicatesAtAggregator += duplicates
                for r in rejected {
                    record(QuarantinedLine(path: r.path, line: r.line, offset: -1, reason: r.code,
                                           message: "refused by the aggregator: \(r.message)", content: r.bytes))
                }
            case .refused(let events, let status, let message):
                logger.error("aggregator refused a batch permanently; its events are quarantined",
                             metadata: ["status": "\(status)", "detail": "\(message)", "events": "\(events.count)"])
                for e in events {
                    record(QuarantinedLine(path: e.path, line: e.line, offset: -1, reason: "batch_refused_\(status)", message: message, content: e.bytes))
                }
            case .spoolDamaged(let name):
                stats.lostSpoolBatches.append(name)
            case .spoolWriteFailed:
                stats.spoolWriteFailures += 1
                if spoolWriteFailing == nil { spoolWriteFailing = Date() }
            case .spoolWritable:
                if let since = spoolWriteFailing {
                    logger.notice("the spool is writable again", metadata: ["failing.since": "\(since)"])
                }
                spoolWriteFailing = nil
            }
        }
    }

    func record(_ q: QuarantinedLine) {
        stats.quarantined += 1
        stats.quarantinedByReason[q.reason, default: 0] += 1
        logger.warning("line quarantined", metadata: [
            "file.path": "\(q.path)", "file.line": "\(q.line)", "file.offset": "\(q.offset)",
            "reason": "\(q.reason)", "detail": "\(q.message)",
        ])
        quarantine.add(file: q.path, line: q.line, offset: q.offset, reason: q.reason, message: q.message, content: q.content)
    }
}
