/// When a checkpoint record whose file cannot be found counts as gone.
///
/// A file can look gone for a moment during rotation (renamed between two directory
/// scans, or a `.gz` twin still being written and not yet readable), so a record must stay
/// unmatched for `grace` before the agent acts on it (prunes it, or reports its unshipped
/// rest as lost). Generic over the clock so that tests drive time by hand.
public struct MissingFileGrace<C: Clock> where C.Duration == Duration {
    public let clock: C
    public let grace: Duration
    private var since: [String: C.Instant] = [:]

    public init(clock: C, grace: Duration = .seconds(5)) {
        self.clock = clock
        self.grace = grace
    }

    /// The record `key` was matched by a file on disk (or an open file): it is not missing.
    public mutating func found(_ key: String) {
        since[key] = nil
    }

    /// The record `key` was not matched in this scan. True once it has been missing for
    /// at least the grace period; it is then forgotten (the caller drops the record).
    public mutating func missing(_ key: String) -> Bool {
        let now = clock.now
        let first = since[key] ?? now
        since[key] = first
        guard first.duration(to: now) >= grace else { return false }
        since[key] = nil
        return true
    }

    /// Records being watched (missing, grace not yet over).
    public var watching: Int { since.count }
}
