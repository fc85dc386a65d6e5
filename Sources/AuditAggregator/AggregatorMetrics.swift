import AuditStore
import AuditWire
import Synchronization

/// The aggregator's counters, exposed at `/metrics` in Prometheus text.
public final class AggregatorMetrics: Sendable {
    struct Key: Hashable { var cluster: String; var node: String }
    struct State {
        var events: [Key: Int] = [:]
        var bytes: [Key: Int] = [:]
        var duplicates: [Key: Int] = [:]
        var collisions: [Key: Int] = [:]
        var refusals: [String: Int] = [:]
        var refusedLines: [String: Int] = [:]
        var late: [Key: Int] = [:]
        var future: [Key: Int] = [:]
        var batches = 0
        var latency = Histogram()
        var retentionDeleted = 0
        var compactedBlocks = 0
        var compactedRuns = 0
        var storeBytes: Int64 = 0
        var sqliteMemoryBytes: Int64 = 0
        var alerts: [AlertKey: Int] = [:]
        var notifications: [String: Int] = [:]
        var checkpoints: [String: Int] = [:]
        var checkpointExports = 0
        var queryLogFailures = 0
        var checkpointErrors: [String: Int] = [:]
        var lastCheckpointRound: Double = 0
    }
    struct AlertKey: Hashable { var rule: String; var severity: String; var notify: Bool }
    private let state = Mutex(State())

    public init() {}

    func batch(cluster: String, node: String, events: Int, bytes: Int, duplicates: Int, collisions: Int, late: Int, future: Int = 0, seconds: Double) {
        state.withLock {
            let k = Key(cluster: cluster, node: node)
            $0.events[k, default: 0] += events - duplicates
            $0.bytes[k, default: 0] += bytes
            $0.duplicates[k, default: 0] += duplicates
            $0.collisions[k, default: 0] += collisions
            $0.late[k, default: 0] += late
            $0.future[k, default: 0] += future
            $0.batches += 1
            $0.latency.observe(seconds)
        }
    }

    func refused(_ reason: String) { state.withLock { $0.refusals[reason, default: 0] += 1 } }
    func refusedLine(_ reason: String) { state.withLock { $0.refusedLines[reason, default: 0] += 1 } }
    func retention(deleted: Int) { state.withLock { $0.retentionDeleted += deleted } }
    func compaction(_ r: CompactionResult) { state.withLock { $0.compactedBlocks += r.blocks; $0.compactedRuns += r.runs } }
    func storeSize(_ bytes: Int64) { state.withLock { $0.storeBytes = bytes } }
    func sqliteMemory(_ bytes: Int64) { state.withLock { $0.sqliteMemoryBytes = bytes } }
    func alertFired(rule: String, severity: String, notify: Bool) {
        state.withLock { $0.alerts[AlertKey(rule: rule, severity: severity, notify: notify), default: 0] += 1 }
    }
    func checkpoint(result: String, count: Int = 1) { state.withLock { $0.checkpoints[result, default: 0] += count } }
    func checkpointExport(written: Int) { state.withLock { $0.checkpointExports += written } }
    func queryLogFailed() { state.withLock { $0.queryLogFailures += 1 } }
    func checkpointError(stage: String) { state.withLock { $0.checkpointErrors[stage, default: 0] += 1 } }
    func checkpointRound(at time: Double) { state.withLock { $0.lastCheckpointRound = time } }
    func alertNotification(result: String) { state.withLock { $0.notifications[result, default: 0] += 1 } }

    public func prometheusText() -> String {
        let s = state.withLock { $0 }
        var out = PrometheusText()
        func perNode(_ name: String, _ help: String, _ values: [Key: Int]) {
            out.header(name, help, "counter")
            for (k, v) in values.sorted(by: { ($0.key.cluster, $0.key.node) < ($1.key.cluster, $1.key.node) }) {
                out.sample(name, ["cluster": k.cluster, "node": k.node], Double(v))
            }
        }
        perNode("auditship_aggregator_events_stored_total", "Events newly stored.", s.events)
        perNode("auditship_aggregator_received_bytes_total", "Request body bytes of committed batches (as received).", s.bytes)
        perNode("auditship_aggregator_duplicates_total", "Events already stored (re-deliveries), not stored again.", s.duplicates)
        perNode("auditship_aggregator_auditid_collisions_total", "Events stored whose auditID and stage another event of the cluster already had.", s.collisions)
        perNode("auditship_aggregator_late_events_total", "Events older than the lateness window when they arrived (stored all the same).", s.late)
        perNode("auditship_aggregator_future_events_total", "Events stamped further ahead of the aggregator's clock than the future window (5 min) when they arrived (stored all the same).", s.future)
        out.header("auditship_aggregator_refusals_total", "Requests refused as a whole, by reason.", "counter")
        for (r, v) in s.refusals.sorted(by: { $0.key < $1.key }) { out.sample("auditship_aggregator_refusals_total", ["reason": r], Double(v)) }
        out.header("auditship_aggregator_refused_events_total", "Events refused inside accepted batches, by reason.", "counter")
        for (r, v) in s.refusedLines.sorted(by: { $0.key < $1.key }) { out.sample("auditship_aggregator_refused_events_total", ["reason": r], Double(v)) }
        out.counter("auditship_aggregator_batches_total", "Batches committed.", s.batches)
        out.histogram("auditship_aggregator_batch_seconds", "Time from a batch's arrival to its commit.", s.latency)
        out.counter("auditship_aggregator_retention_deleted_total", "Events deleted by retention.", s.retentionDeleted)
        out.counter("auditship_aggregator_compacted_blocks_total", "Small blocks merged by compaction (each run of them becomes one block).", s.compactedBlocks)
        out.counter("auditship_aggregator_compacted_runs_total", "Blocks written by compaction, one per run of small blocks merged.", s.compactedRuns)
        out.header("auditship_aggregator_alerts_total", "Alerts recorded, by rule and severity; notify=\"false\" for events too old to notify (or no webhook).", "counter")
        for (k, v) in s.alerts.sorted(by: { ($0.key.rule, $0.key.severity, $0.key.notify ? 1 : 0) < ($1.key.rule, $1.key.severity, $1.key.notify ? 1 : 0) }) {
            out.sample("auditship_aggregator_alerts_total", ["rule": k.rule, "severity": k.severity, "notify": k.notify ? "true" : "false"], Double(v))
        }
        out.header("auditship_aggregator_alert_notifications_total", "Alert notification attempts, by result (delivered: the receiver answered 2xx).", "counter")
        for (r, v) in s.notifications.sorted(by: { $0.key < $1.key }) {
            out.sample("auditship_aggregator_alert_notifications_total", ["result": r], Double(v))
        }
        out.header("auditship_aggregator_checkpoints_total", "Chain heads, by result: signed (and stored), or refused (the chain no longer holds what this key signed: cut short, rolled back or rewritten), counted each round.", "counter")
        for (r, v) in s.checkpoints.sorted(by: { $0.key < $1.key }) { out.sample("auditship_aggregator_checkpoints_total", ["result": r], Double(v)) }
        out.counter("auditship_aggregator_checkpoint_exports_total", "Checkpoints appended (and fsynced) to the export directory.", s.checkpointExports)
        out.counter("auditship_aggregator_query_log_failures_total", "Searches that could not be written to the query log (--query-log).", s.queryLogFailures)
        out.header("auditship_aggregator_checkpoint_errors_total", "Checkpoint rounds that failed, by stage (sign: reading the store, signing or storing; export: writing the export file).", "counter")
        for (r, v) in s.checkpointErrors.sorted(by: { $0.key < $1.key }) { out.sample("auditship_aggregator_checkpoint_errors_total", ["stage": r], Double(v)) }
        out.gauge("auditship_aggregator_last_checkpoint_timestamp_seconds", "When this aggregator last completed a checkpoint round without error, whether or not a head had moved (Unix time; 0: never).", s.lastCheckpointRound)
        out.gauge("auditship_aggregator_store_bytes", "Size of the store on disk (SQLite: database and WAL).", Double(s.storeBytes))
        out.gauge("auditship_aggregator_sqlite_memory_bytes", "Heap SQLite holds in this process (page caches, statements), by its own count; 0 with another store.", Double(s.sqliteMemoryBytes))
        return out.text
    }
}
