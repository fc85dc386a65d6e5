import Foundation

/// A bounded queue between one producing thread and one consumer: `put` waits while `capacity`
/// items wait, `take` waits for an item or the end. Either side can stop the other: the producer
/// with `finish` (nil: done, or its error), the consumer with `cancel` (the producer's next `put`
/// throws `CancellationError`).
final class Handoff<Item: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Item] = []
    private var head = 0
    private var finished = false
    private var failure: (any Error)?
    private var cancelled = false
    let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Hands `item` over, waiting while the queue is full; throws once the consumer cancelled.
    func put(_ item: Item) throws {
        condition.lock()
        defer { condition.unlock() }
        while items.count - head >= capacity && !cancelled { condition.wait() }
        if cancelled { throw CancellationError() }
        items.append(item)
        condition.broadcast()
    }

    /// No more items: the end (nil) or the producer's error, which `take` throws after the items.
    func finish(_ error: (any Error)?) {
        condition.lock()
        defer { condition.unlock() }
        finished = true
        failure = error
        condition.broadcast()
    }

    /// The next item, waiting for one; nil at the end.
    func take() throws -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count && !finished { condition.wait() }
        if head < items.count {
            let item = items[head]
            head += 1
            if head > 64, head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            condition.broadcast()
            return item
        }
        if let failure { throw failure }
        return nil
    }

    /// The consumer stops: a waiting or later `put` throws.
    func cancel() {
        condition.lock()
        defer { condition.unlock() }
        cancelled = true
        condition.broadcast()
    }

    /// Waits until the producer called `finish` (after `cancel`: until it noticed and stopped).
    func waitUntilFinished() {
        condition.lock()
        defer { condition.unlock() }
        while !finished { condition.wait() }
    }
}
