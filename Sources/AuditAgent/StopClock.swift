import Foundation

/// Measures the shutdown grace period: once a stop is requested, shipping
/// may go on for `timeout`, then gives up (what was not acknowledged stays
/// unacknowledged and is read again at the next start).
final class StopClock: @unchecked Sendable {
    // Touched only from the agent thread.
    private let timeout: Duration
    private let stopRequested: () -> Bool
    private var since: ContinuousClock.Instant?

    init(timeout: Duration, stopRequested: @escaping () -> Bool) {
        self.timeout = timeout
        self.stopRequested = stopRequested
    }

    var expired: Bool {
        guard stopRequested() else { return false }
        let t = since ?? ContinuousClock.now
        since = t
        return ContinuousClock.now - t >= timeout
    }
}
