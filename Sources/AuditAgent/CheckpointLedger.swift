/// Which read positions may become checkpoints.
///
/// Batches are cut in order, each with the read position of every file at its
/// cut. They become durable (acknowledged by an aggregator, written to the
/// spool, or quarantined) in any order, since delivery and spooling run on
/// threads of their own. A file's checkpoint may only move over a prefix of
/// durable batches: the positions of the latest batch whose predecessors are
/// all durable. A pure value, tested without threads or files.
struct CheckpointLedger<Key: Hashable, Position> {
    private struct Entry {
        var sequence: UInt64
        var positions: [Key: Position]
        var durable: Bool
    }

    /// Batches not yet passed by the checkpoints, in cut order.
    private var entries: [Entry] = []
    private var first = 0

    /// Batches cut and not yet passed (some may be durable, behind one that is not).
    var pending: Int { entries.count - first }
    var isEmpty: Bool { pending == 0 }

    /// Records a cut batch and the read positions at its cut. Sequences increase.
    mutating func cut(_ sequence: UInt64, positions: [Key: Position]) {
        entries.append(Entry(sequence: sequence, positions: positions, durable: false))
    }

    /// Marks a batch durable. Returns the positions the checkpoints may move to now
    /// (per key, the latest among the batches passed), empty while an earlier batch
    /// is still pending. An unknown sequence (already passed) changes nothing.
    mutating func durable(_ sequence: UInt64) -> [Key: Position] {
        guard let i = entries[first...].firstIndex(where: { $0.sequence == sequence }) else { return [:] }
        entries[i].durable = true
        var advanced: [Key: Position] = [:]
        while first < entries.count && entries[first].durable {
            advanced.merge(entries[first].positions) { _, later in later }
            first += 1
        }
        if first > 64 && first * 2 > entries.count {
            entries.removeFirst(first)
            first = 0
        }
        return advanced
    }
}
