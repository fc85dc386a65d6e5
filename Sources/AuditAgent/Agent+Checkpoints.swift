import AuditModel
import Foundation
import Logging

/// A file's read position at a batch cut: where its checkpoint may move once the batch is durable.
struct FilePosition: Sendable, Equatable {
    /// The file's truncation count then: a position from before a truncation is void after it.
    var generation: Int
    var offset: Int64
    var line: Int64
}

/// Cutting batches, and moving checkpoints as they become durable.
extension Agent {
    /// Hands the batch in hand to shipping and records the read positions at the cut.
    func cut(_ batch: inout BatchInHand) {
        guard !batch.isEmpty else { return }
        let sequence = spool.reserveSequence()
        let id = batchID(batch.origins)
        let (ndjson, origins) = batch.take(nextBuffer: shipping.takeSpareBuffer())
        var paths: [String] = []
        var index: [Int: Int] = [:]
        var sources: [EventSource] = []
        sources.reserveCapacity(origins.count)
        for origin in origins {
            let i = index[origin.fileIndex] ?? {
                paths.append(filesByID[origin.fileIndex]?.path ?? "?")
                index[origin.fileIndex] = paths.count - 1
                return paths.count - 1
            }()
            sources.append(EventSource(path: Int32(i), line: origin.line))
        }
        ledger.cut(sequence, positions: readPositions())
        shipping.submit(CutBatch(sequence: sequence, batchID: id, ndjson: ndjson, eventCount: origins.count,
                                 paths: paths, sources: sources, byteCount: ndjson.count))
    }

    /// Every open file's position after its last complete line read.
    func readPositions() -> [Int: FilePosition] {
        var positions: [Int: FilePosition] = [:]
        for source in sources {
            for f in source.files {
                positions[fileID(f)] = FilePosition(generation: f.generation, offset: f.consumedOffset, line: f.readLine)
            }
        }
        return positions
    }

    /// A batch became durable: move the checkpoints over every batch durable in order.
    func durable(_ sequence: UInt64) {
        let advanced = ledger.durable(sequence)
        guard !advanced.isEmpty else { return }
        for (id, position) in advanced {
            guard let f = filesByID[id], f.generation == position.generation, position.offset > f.ackedOffset else { continue }
            f.ackedOffset = position.offset
            f.ackedLine = position.line
            // Saved by retireShippedBackups, in the same save that marks files read to their end
            // complete: a record at a file's end but not complete would outlive the file (rotation
            // deletes it) and be reported as a loss after a crash.
            checkpointsDirty = true
        }
    }

    /// Nothing is in flight: everything read (quarantined or dropped by the policy) may be passed.
    func advanceToConsumed() {
        var changed = false
        for source in sources {
            for f in source.files where f.consumedOffset != f.ackedOffset {
                f.ackedOffset = f.consumedOffset
                f.ackedLine = f.readLine
                changed = true
            }
        }
        if changed { saveCheckpoints() }
    }

    /// Retires rotated files that are read to their end and acknowledged, notes which files are
    /// settled, and saves the checkpoints when anything moved.
    func retireShippedBackups() {
        var retired = false
        for source in sources {
            // A backup read to its end and acknowledged is complete, wherever it is in the order
            // (batches become durable out of order: a newer backup can be done before an older one).
            let done = source.files.filter { f in
                (f !== source.files.last || !isLive(f, of: source)) && f.reachedEnd && f.settled
            }
            for f in done {
                source.files.removeAll { $0 === f }
                retire(f)
                retired = true
            }
            for f in source.files where f.caughtUp {
                f.lastReadToEnd = .now
                if f.settled { f.lastCaughtUp = .now }
            }
        }
        // Positions that moved are saved at most every `checkpointSpacing` while batches keep
        // being acknowledged (a crash reads at most that much again, and it is stored once);
        // a file retired as complete is saved at once (rotation may delete it next).
        if retired || (checkpointsDirty && lastCheckpointSave.map { ContinuousClock.now - $0 >= Agent.checkpointSpacing } ?? true) {
            saveCheckpoints()
        }
    }

    /// Records a file as complete and forgets it.
    func retire(_ f: TailedFile) {
        let record = f.checkpoint(complete: true)
        knownRecords.removeAll { $0.identity.fingerprint == record.identity.fingerprint && $0.identity.fingerprintLength == record.identity.fingerprintLength }
        knownRecords.append(record)
        if let id = fileIDs.removeValue(forKey: ObjectIdentifier(f)) { filesByID[id] = nil }
        logger.info("file shipped to its end", metadata: ["file.path": "\(f.path)", "file.lines": "\(f.ackedLine)"])
    }

    func saveCheckpoints() {
        checkpointsDirty = false
        lastCheckpointSave = .now
        var records: [CheckpointRecord] = []
        for source in sources { for f in source.files { records.append(f.checkpoint(complete: false)) } }
        for r in knownRecords where !records.contains(where: { $0.identity.fingerprint == r.identity.fingerprint && $0.identity.fingerprintLength == r.identity.fingerprintLength }) {
            records.append(r)
        }
        knownRecords = records
        do {
            try checkpointFile.save(records)
            checkpointWrites += 1
            if checkpointWriteFailing {
                checkpointWriteFailing = false
                logger.notice("checkpoints are written again")
            }
        } catch {
            stats.checkpointWriteFailures += 1
            if !checkpointWriteFailing {
                checkpointWriteFailing = true
                logger.error("cannot write the checkpoint (is the state directory's disk full?); until it can, events may be shipped again after a restart (stored once)",
                             metadata: ["error": "\(error)"])
            }
        }
    }

    func fileID(_ f: TailedFile) -> Int {
        if let id = fileIDs[ObjectIdentifier(f)] { return id }
        nextFileID += 1
        fileIDs[ObjectIdentifier(f)] = nextFileID
        filesByID[nextFileID] = f
        return nextFileID
    }

    /// A deterministic id: the same events from the same place get the same id.
    func batchID(_ batch: [EventOrigin]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ s: String) { for b in s.utf8 { h ^= UInt64(b); h = h &* 0x0000_0100_0000_01B3 } }
        mix(configuration.cluster); mix("/"); mix(configuration.node)
        if let first = batch.first, let last = batch.last {
            mix(filesByID[first.fileIndex]?.identity.description ?? "?"); mix(":\(first.line)")
            mix(filesByID[last.fileIndex]?.identity.description ?? "?"); mix(":\(last.line):\(batch.count)")
        }
        let a = FileIdentity.hex(h)
        mix("#")
        return a + FileIdentity.hex(h)
    }
}
