/// Where the compressing thread puts a batch body: the in-memory outbox, from
/// which the delivery thread sends it, or the durable spool. A pure decision.
///
/// The spool is chosen when waiting in memory would hold the files' checkpoints
/// (and so the apiserver's rotated files) hostage to the aggregator: while
/// delivery backs off after a failure, while one attempt has run longer than
/// `spoolAfter` (a slow aggregator), or when the outbox is full (reading is
/// ahead of delivery). Reading never waits for the network.
enum ShippingRoute: Equatable {
    case outbox, spool

    static func decide(backingOff: Bool, attemptRunning: Duration?, spoolAfter: Duration,
                       outboxBytes: Int, outboxBatches: Int, outboxLimitBytes: Int, outboxLimitBatches: Int) -> ShippingRoute {
        if backingOff { return .spool }
        if let running = attemptRunning, running >= spoolAfter { return .spool }
        if outboxBytes >= outboxLimitBytes || outboxBatches >= outboxLimitBatches { return .spool }
        return .outbox
    }
}
