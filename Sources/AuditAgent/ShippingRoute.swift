/// Where the compressing thread puts a batch body: the in-memory outbox, from
/// which the delivery thread sends it, the durable spool, or nowhere yet (wait).
/// A pure decision.
///
/// The spool is chosen when waiting in memory would hold the files' checkpoints
/// (and so the apiserver's rotated files) hostage to the aggregator: while
/// delivery backs off after a failure, or while one attempt has run longer than
/// `spoolAfter` (a slow aggregator). When the outbox is merely full (reading is
/// ahead of a healthy aggregator), the batch goes to the spool only if rotation
/// puts unread data at risk (`readAhead`: backups wait to be read); otherwise
/// compression waits, reading pauses, and the files are the buffer, which costs
/// no disk writes. Reading never waits for the network.
enum ShippingRoute: Equatable {
    case outbox, spool, wait

    static func decide(backingOff: Bool, attemptRunning: Duration?, spoolAfter: Duration, readAhead: Bool,
                       outboxBytes: Int, outboxBatches: Int, outboxLimitBytes: Int, outboxLimitBatches: Int) -> ShippingRoute {
        if backingOff { return .spool }
        if let running = attemptRunning, running >= spoolAfter { return .spool }
        if outboxBytes >= outboxLimitBytes || outboxBatches >= outboxLimitBatches { return readAhead ? .spool : .wait }
        return .outbox
    }
}
