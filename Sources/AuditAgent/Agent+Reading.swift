import AuditModel
import Foundation
import Logging

/// The reading stage: files → lines → events (scan, policy), into the batch in hand.
extension Agent {
    /// One pass over the sources, reading into `batch` up to its limits. True when anything was read.
    func readRound(_ batch: inout BatchInHand, _ quarantined: inout [QuarantinedLine]) -> Bool {
        var readAny = false
        // Sources take turns starting first, so that one busy file cannot starve the others.
        roundRobin = (roundRobin + 1) % sources.count
        // Without a policy, events are validated, not read into strings.
        let summaries = policy != nil
        for k in 0..<sources.count {
            let source = sources[(roundRobin + k) % sources.count]
            for f in source.files {
                let room = configuration.batchMaxEvents - batch.count
                let byteRoom = configuration.batchMaxBytes - batch.byteCount
                if room <= 0 || byteRoom <= 0 { break }
                let id = fileID(f)
                let identityBefore = f.identity
                do {
                    if try f.read(eventBudget: room, byteBudget: byteRoom, summaries: summaries, quarantined: &quarantined, accept: { bytes, summary, line in
                        take(bytes, summary, EventOrigin(fileIndex: id, line: line), into: &batch)
                    }) {
                        readAny = true
                    }
                } catch {
                    logger.error("cannot read audit file", metadata: ["file.path": "\(f.path)", "error": "\(error)"])
                }
                if f.truncation == nil, f.identity.fingerprintLength > identityBefore.fingerprintLength, identityBefore.fingerprintLength > 0 {
                    // A small file grew and its fingerprint widened: a record saved under the
                    // narrow fingerprint is this file's, and is replaced by the next save. Left
                    // behind, it would outlive the file and be reported as a loss.
                    knownRecords.removeAll {
                        $0.identity.fingerprint == identityBefore.fingerprint
                            && $0.identity.fingerprintLength == identityBefore.fingerprintLength && $0.beforeTruncation != true
                    }
                }
                if let t = f.truncation {
                    // copytruncate: a copy of the old content may already sit beside the file.
                    // Remember how far the old content was read, so that the copy is read from there.
                    f.truncation = nil
                    var r = CheckpointRecord(path: f.path, identity: t.identity, offset: t.offset, line: t.line)
                    r.beforeTruncation = true
                    knownRecords.append(r)
                    classified = classified.filter { $0.value.verdict != .ignored }
                }
                let isBackup = !isLive(f, of: source)
                if isBackup && f.reachedEnd && f.caughtUp == false {
                    // A rotated file ending without a newline: its last line is complete.
                    f.flushPartialLine(summaries: summaries, quarantined: &quarantined) { bytes, summary, line in
                        take(bytes, summary, EventOrigin(fileIndex: id, line: line), into: &batch)
                    }
                }
                // Older files are read to their end before newer ones.
                if !(isBackup && f.reachedEnd && f.caughtUp) { break }
            }
        }
        return readAny
    }

    /// One event read: counted, put through the policy, and written into the batch unless dropped.
    func take(_ bytes: UnsafeBufferPointer<UInt8>, _ summary: EventSummary, _ origin: EventOrigin, into batch: inout BatchInHand) {
        stats.eventsRead += 1
        guard let policy else {
            batch.append(bytes, from: origin)
            return
        }
        do {
            let (outcome, underLogged) = try policy.apply(bytes, summary)
            if underLogged { stats.underLogged += 1 }
            switch outcome {
            case .keep:
                batch.append(bytes, from: origin)
            case .rewrite(let rewritten):
                stats.policyBytesSaved += bytes.count - rewritten.count
                batch.append(rewritten, from: origin)
            case .drop(let rule, let reason):
                stats.policyDropped += 1
                stats.policyBytesSaved += bytes.count
                stats.policyDroppedByRule[rule.map { String($0) } ?? "none", default: 0] += 1
                logger.trace("event dropped by policy", metadata: ["rule": "\(rule.map { String($0) } ?? "none")", "reason": "\(reason.rawValue)"])
            }
        } catch {
            // Scanned once already; an edit failure means a bug, and the event is shipped unedited rather than lost.
            logger.error("policy could not edit an event; shipping it unedited", metadata: ["file.line": "\(origin.line)", "error": "\(error)"])
            batch.append(bytes, from: origin)
        }
    }
}
