import Synchronization

/// The decisions of group commit, as a plain value: batches that arrive while a transaction is
/// being written wait, and the next transaction takes all of them up to a limit, so that batches
/// from many agents share one commit (one fsync) instead of queueing for one each.
///
/// Nothing here waits or measures time: a lone batch is written at once, and a group forms only
/// from batches that arrived while the previous transaction was committing.
struct GroupCommitQueue<Item> {
    /// Most events one transaction takes (a larger single batch still goes alone).
    let maxEvents: Int
    /// Most batches one transaction takes.
    let maxItems: Int
    private(set) var pending: [(item: Item, events: Int)] = []
    /// True while a writer owns the queue.
    private(set) var writing = false

    init(maxEvents: Int = 16_384, maxItems: Int = 64) {
        self.maxEvents = maxEvents
        self.maxItems = maxItems
    }

    /// Adds a batch; true when no writer runs and the caller must start one.
    mutating func enqueue(_ item: Item, events: Int) -> Bool {
        pending.append((item, events))
        if writing { return false }
        writing = true
        return true
    }

    /// The writer's next group, oldest first: at least one batch, then more while they fit. Empty
    /// when nothing is pending, and then the writer is done (the next `enqueue` starts a new one).
    mutating func nextGroup() -> [Item] {
        guard !pending.isEmpty else {
            writing = false
            return []
        }
        var take = 1
        var events = pending[0].events
        while take < pending.count, take < maxItems, events + pending[take].events <= maxEvents {
            events += pending[take].events
            take += 1
        }
        let group = pending[..<take].map(\.item)
        pending.removeFirst(take)
        return group
    }
}

/// Group commit over a store's transaction: `submit` returns a batch's own result once the
/// transaction holding it committed. `commit` writes a group in one transaction and returns one
/// result per batch, in order (a batch that failed alone, rolled back to its savepoint, gets its
/// error; a transaction that failed to commit fails every batch in it).
final class GroupCommitter<Batch: IngestGroupItem>: Sendable {
    typealias Commit = @Sendable ([Batch]) async -> [Result<IngestResult, any Error>]
    private typealias Waiter = (batch: Batch, continuation: CheckedContinuation<IngestResult, any Error>)
    private let queue: Mutex<GroupCommitQueue<Waiter>>
    private let commit: Commit

    init(maxEvents: Int = 16_384, maxBatches: Int = 64, commit: @escaping Commit) {
        queue = Mutex(GroupCommitQueue(maxEvents: maxEvents, maxItems: maxBatches))
        self.commit = commit
    }

    func submit(_ batch: Batch) async throws -> IngestResult {
        try await withCheckedThrowingContinuation { continuation in
            let startWriter = queue.withLock { $0.enqueue((batch, continuation), events: batch.eventCount) }
            if startWriter { Task { await self.drain() } }
        }
    }

    private func drain() async {
        while true {
            let group = queue.withLock { $0.nextGroup() }
            if group.isEmpty { return }
            let results = await commit(group.map(\.batch))
            for (i, waiter) in group.enumerated() {
                waiter.continuation.resume(with: i < results.count ? results[i] : .failure(StoreError("group commit returned no result for batch \(waiter.batch.batchLabel)")))
            }
        }
    }
}

/// What group commit needs to know of a batch.
protocol IngestGroupItem: Sendable {
    var eventCount: Int { get }
    /// The client's batch id, for messages.
    var batchLabel: String { get }
}

extension IngestBatch: IngestGroupItem {
    var eventCount: Int { events.count }
    var batchLabel: String { batchID }
}
