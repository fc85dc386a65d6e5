/// Exponential backoff with full jitter, as a pure value.
///
/// The n-th retry (n from 0) waits a uniformly random time in
/// `[d/2, d]` where `d = min(max, initial * 2^n)`: with initial 500 ms and
/// max 30 s the upper bounds are 0.5, 1, 2, 4, 8, 16, 30, 30, … seconds.
/// Half the delay is kept fixed so that a fleet of agents spreads out
/// without any of them hammering a recovering aggregator.
public struct Backoff: Sendable, Equatable {
    public let initialMilliseconds: Int
    public let maxMilliseconds: Int
    public private(set) var attempt = 0

    public init(initialMilliseconds: Int, maxMilliseconds: Int) {
        self.initialMilliseconds = max(1, initialMilliseconds)
        self.maxMilliseconds = max(self.initialMilliseconds, maxMilliseconds)
    }

    /// The upper bound of the next delay.
    public var ceilingMilliseconds: Int {
        let shift = min(attempt, 30)
        let (product, overflow) = initialMilliseconds.multipliedReportingOverflow(by: 1 << shift)
        return overflow ? maxMilliseconds : min(maxMilliseconds, product)
    }

    /// The next delay, given a random fraction in [0, 1]; advances the attempt count.
    public mutating func next(random fraction: Double) -> Int {
        let ceiling = ceilingMilliseconds
        attempt += 1
        let f = min(1, max(0, fraction))
        return ceiling / 2 + Int(Double(ceiling - ceiling / 2) * f)
    }

    /// Back to the first delay after a success.
    public mutating func reset() { attempt = 0 }
}
