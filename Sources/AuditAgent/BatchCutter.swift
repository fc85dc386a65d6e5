/// When the batch in hand is cut and handed to shipping. A pure state machine,
/// generic over the clock so that tests drive it with a manual one.
///
/// A batch is cut at the first of:
/// - **full**: the event or byte limit is reached;
/// - **idle**: every file is read to its end and shipping has nothing queued or in
///   flight, so waiting longer would only add latency (under load shipping is
///   busy, and batches grow until it is free: no fixed linger is paid when idle,
///   and no tiny batches are sent when busy);
/// - **lingered**: the first event has waited `linger` (shipping stayed busy);
/// - **stopping**, or caught up in a one-shot run.
struct BatchCutter<C: Clock> {
    enum Reason: String, Equatable {
        case full, idle, lingered, stopping, caughtUp
    }

    let maxEvents: Int
    let maxBytes: Int
    let linger: C.Duration
    /// When the batch in hand got its first event (nil while it is empty).
    private(set) var startedAt: C.Instant?

    init(maxEvents: Int, maxBytes: Int, linger: C.Duration) {
        self.maxEvents = maxEvents
        self.maxBytes = maxBytes
        self.linger = linger
    }

    func isFull(events: Int, bytes: Int) -> Bool {
        events >= maxEvents || bytes >= maxBytes
    }

    /// Notes that the batch holds events now (the first call after a cut starts the linger).
    mutating func holding(events: Int, now: C.Instant) {
        if events > 0 && startedAt == nil { startedAt = now }
    }

    /// Whether to cut now, and why; nil to keep the batch in hand.
    func decide(events: Int, bytes: Int, now: C.Instant, caughtUp: Bool, shippingIdle: Bool,
                stopping: Bool, exitWhenCaughtUp: Bool) -> Reason? {
        guard events > 0 else { return nil }
        if isFull(events: events, bytes: bytes) { return .full }
        if stopping { return .stopping }
        if caughtUp && exitWhenCaughtUp { return .caughtUp }
        if caughtUp && shippingIdle { return .idle }
        if let startedAt, startedAt.duration(to: now) >= linger { return .lingered }
        return nil
    }

    /// The batch was cut: the next event starts a new linger.
    mutating func cut() {
        startedAt = nil
    }
}
