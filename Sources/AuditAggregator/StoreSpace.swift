import AuditStore
import AuditStorePostgres
import Synchronization

/// Whether the store's disk is full, as a plain value: set by a commit that failed for lack of
/// space, cleared by the next commit that succeeds (or, for SQLite, when readiness sees free space
/// again). The edges are what the aggregator logs: once when it fills, once when it recovers.
struct StoreSpaceState: Sendable, Equatable {
    /// Why ingest is refused, and since when (seconds since 1970); nil while the store takes writes.
    private(set) var full: (reason: String, since: Double)?

    /// A commit failed for lack of space; true when that is news (it was not full before).
    mutating func commitFailed(reason: String, at now: Double) -> Bool {
        defer { if full == nil { full = (reason, now) } }
        return full == nil
    }

    /// A commit succeeded, or space came back; true when the store was full until now.
    mutating func recovered() -> Bool {
        defer { full = nil }
        return full != nil
    }

    static func == (a: StoreSpaceState, b: StoreSpaceState) -> Bool {
        a.full?.reason == b.full?.reason && a.full?.since == b.full?.since
    }
}

/// The aggregator's view of its store's space, shared by the request handlers and readiness.
final class StoreSpace: Sendable {
    private let state = Mutex(StoreSpaceState())

    /// The full-disk reason of a store error, or nil when the error is something else.
    static func diskFull(_ error: any Error) -> String? {
        DiskFull.sqlite(error) ?? PostgresStore.diskFull(error)
    }

    func commitFailed(reason: String, at now: Double) -> Bool { state.withLock { $0.commitFailed(reason: reason, at: now) } }
    func recovered() -> Bool { state.withLock { $0.recovered() } }
    var full: (reason: String, since: Double)? { state.withLock { $0.full } }
}

/// How many ingest requests are being read, decoded and committed: a request over the limit is
/// refused at once (429) instead of holding its body in memory while it waits.
final class InflightLimit: Sendable {
    let limit: Int
    private let count = Mutex(0)

    init(limit: Int) { self.limit = limit }

    /// Takes a place; false when all are taken.
    func tryAcquire() -> Bool {
        count.withLock { n in
            guard n < limit else { return false }
            n += 1
            return true
        }
    }

    func release() { count.withLock { $0 -= 1 } }
    var current: Int { count.withLock { $0 } }
}
