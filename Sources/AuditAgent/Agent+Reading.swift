import AuditModel
import Foundation
import Logging

/// The reading stage: files → lines → events (scan, policy), into the batch in hand.
extension Agent {
    /// One pass over the sources, reading into `batch` up to its limits. True when anything was read.
    func readRound(_ batch: inout [SourcedEvent], _ batchBytes: inout Int, _ quarantined: inout [QuarantinedLine]) -> Bool {
        var readAny = false
        // Sources take turns starting first, so that one busy file cannot starve the others.
        roundRobin = (roundRobin + 1) % sources.count
        for k in 0..<sources.count {
            let source = sources[(roundRobin + k) % sources.count]
            for f in source.files {
                let room = configuration.batchMaxEvents - batch.count
                let byteRoom = configuration.batchMaxBytes - batchBytes
                if room <= 0 || byteRoom <= 0 { break }
                let before = batch.count
                let id = fileID(f)
                let identityBefore = f.identity
                do {
                    if try f.read(fileIndex: id, eventBudget: room, byteBudget: byteRoom, events: &batch, quarantined: &quarantined) {
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
                    f.flushPartialLine(fileIndex: id, events: &batch, quarantined: &quarantined)
                }
                stats.eventsRead += batch.count - before
                applyPolicy(&batch, from: before)
                for k in before..<batch.count { batchBytes += batch[k].bytes.count }
                // Older files are read to their end before newer ones.
                if !(isBackup && f.reachedEnd && f.caughtUp) { break }
            }
        }
        return readAny
    }

    /// Applies the policy to events read in this pass (from index `from`), in place: kept events
    /// move up over dropped ones, without copying an event (each carries its bytes and summary).
    func applyPolicy(_ batch: inout [SourcedEvent], from: Int) {
        guard let policy, from < batch.count else { return }
        var w = from
        for i in from..<batch.count {
            var keep = true
            do {
                let (outcome, underLogged) = try policy.apply(batch[i].bytes, batch[i].summary)
                if underLogged { stats.underLogged += 1 }
                switch outcome {
                case .keep:
                    break
                case .rewrite(let bytes):
                    stats.policyBytesSaved += batch[i].bytes.count - bytes.count
                    batch[i].bytes = bytes
                case .drop(let rule, let reason):
                    keep = false
                    stats.policyDropped += 1
                    stats.policyBytesSaved += batch[i].bytes.count
                    stats.policyDroppedByRule[rule.map { String($0) } ?? "none", default: 0] += 1
                    logger.trace("event dropped by policy", metadata: ["rule": "\(rule.map { String($0) } ?? "none")", "reason": "\(reason.rawValue)"])
                }
            } catch {
                // Scanned once already; an edit failure means a bug, and the event is shipped unedited rather than lost.
                logger.error("policy could not edit an event; shipping it unedited", metadata: ["file.line": "\(batch[i].line)", "error": "\(error)"])
            }
            if keep {
                if w != i { batch.swapAt(w, i) }
                w += 1
            }
        }
        batch.removeSubrange(w...)
    }
}
