import AuditWire
import Foundation
import Synchronization

/// A point-in-time view of the agent, published by the agent loop after
/// each pass and read by the metrics endpoint.
public struct AgentSnapshot: Sendable {
    public struct FileState: Sendable {
        public var path: String
        public var bytesRead: Int64
        public var unacknowledgedBytes: Int64
        /// Seconds since the file last had nothing left to read or acknowledge.
        public var lagSeconds: Double
        /// Seconds since the file was last read to its end (0 while it is).
        public var readLagSeconds: Double = 0
    }
    public var stats = AgentStats()
    public var files: [FileState] = []
    public var batchesSent = 0
    public var bytesSent = 0
    public var retries = 0
    public var failovers = 0
    public var checkpointWrites = 0
    public var spoolBatches = 0
    public var spoolBytes: Int64 = 0
    public var lastAcknowledgement: Date?
    public var lastLoop = Date()
    /// The same moment on the monotonic clock: what the stall check measures (a wall clock that
    /// jumps an hour must not make a healthy agent look stalled).
    public var lastLoopInstant = ContinuousClock.now
    public var started = Date()
}

/// Shares the latest snapshot between the agent thread and the metrics server.
public final class AgentMetrics: Sendable {
    private let state = Mutex(AgentSnapshot())
    public init() {}

    public func publish(_ s: AgentSnapshot) { state.withLock { $0 = s } }
    public var snapshot: AgentSnapshot { state.withLock { $0 } }

    /// Prometheus text exposition (version 0.0.4).
    public func prometheusText() -> String {
        let s = snapshot
        var out = PrometheusText()
        out.counter("auditship_agent_events_read_total", "Events read from audit files.", s.stats.eventsRead)
        out.counter("auditship_agent_events_shipped_total", "Events acknowledged by an aggregator.", s.stats.eventsShipped)
        out.counter("auditship_agent_duplicates_at_aggregator_total", "Events the aggregator already had (re-deliveries).", s.stats.duplicatesAtAggregator)
        out.counter("auditship_agent_batches_total", "Batches acknowledged.", s.batchesSent)
        out.counter("auditship_agent_sent_bytes_total", "Compressed bytes acknowledged.", s.bytesSent)
        out.counter("auditship_agent_retries_total", "Batch sends that failed and were retried.", s.retries)
        out.counter("auditship_agent_failovers_total", "Batches moved on to the next aggregator because the one before failed.", s.failovers)
        out.counter("auditship_agent_checkpoint_writes_total", "Checkpoint files written.", s.checkpointWrites)
        out.header("auditship_agent_events_dropped_total", "Events not shipped, by reason; intentional=\"true\" are policy decisions, the rest are failures.", "counter")
        out.sample("auditship_agent_events_dropped_total", ["reason": "policy", "intentional": "true"], Double(s.stats.policyDropped))
        for (reason, n) in s.stats.quarantinedByReason.sorted(by: { $0.key < $1.key }) {
            out.sample("auditship_agent_events_dropped_total", ["reason": reason, "intentional": "false"], Double(n))
        }
        out.header("auditship_agent_policy_dropped_total", "Events dropped by the audit policy, by rule (0-based; none = no rule matched).", "counter")
        for (rule, n) in s.stats.policyDroppedByRule.sorted(by: { $0.key < $1.key }) {
            out.sample("auditship_agent_policy_dropped_total", ["rule": rule], Double(n))
        }
        out.counter("auditship_agent_policy_saved_bytes_total", "Bytes the policy removed.", s.stats.policyBytesSaved)
        out.counter("auditship_agent_underlogged_events_total", "Events logged by the apiserver below the level the agent's policy asks.", s.stats.underLogged)
        out.counter("auditship_agent_quarantined_lines_total", "Lines quarantined (see the quarantine file).", s.stats.quarantined)
        out.counter("auditship_agent_truncations_unrecovered_total", "Truncated files (copytruncate) whose copy was never found; lines written just before the truncation may be lost.", s.stats.truncationsUnrecovered)
        out.counter("auditship_agent_lost_files_total", "Files deleted before they were shipped to their end.", s.stats.lostFiles.count)
        out.header("auditship_agent_file_read_bytes_total", "Bytes read, per file.", "counter")
        for f in s.files { out.sample("auditship_agent_file_read_bytes_total", ["path": f.path], Double(f.bytesRead)) }
        out.header("auditship_agent_file_lag_bytes", "Bytes written but not yet acknowledged, per file.", "gauge")
        for f in s.files { out.sample("auditship_agent_file_lag_bytes", ["path": f.path], Double(f.unacknowledgedBytes)) }
        out.header("auditship_agent_file_lag_seconds", "Seconds since the file was last fully acknowledged (0 when caught up).", "gauge")
        for f in s.files { out.sample("auditship_agent_file_lag_seconds", ["path": f.path], f.lagSeconds) }
        out.header("auditship_agent_file_read_lag_seconds", "Seconds since the file was last read to its end (0 while it is): reading never waits for the network.", "gauge")
        for f in s.files { out.sample("auditship_agent_file_read_lag_seconds", ["path": f.path], f.readLagSeconds) }
        out.gauge("auditship_agent_spool_batches", "Batches waiting in the on-disk spool.", Double(s.spoolBatches))
        out.gauge("auditship_agent_spool_bytes", "Bytes in the on-disk spool.", Double(s.spoolBytes))
        out.counter("auditship_agent_spooled_batches_total", "Batches written to the spool because they could not be delivered at once.", s.stats.spooledBatches)
        out.counter("auditship_agent_spool_write_failures_total", "Spool writes that failed (a full or failing disk); reading paused behind the batch in hand.", s.stats.spoolWriteFailures)
        out.counter("auditship_agent_checkpoint_write_failures_total", "Checkpoint writes that failed (a full or failing disk).", s.stats.checkpointWriteFailures)
        out.counter("auditship_agent_lost_spool_batches_total", "Spooled batches found damaged on disk.", s.stats.lostSpoolBatches.count)
        out.gauge("auditship_agent_last_ack_timestamp_seconds", "When an aggregator last acknowledged a batch.", s.lastAcknowledgement?.timeIntervalSince1970 ?? 0)
        out.gauge("auditship_agent_start_timestamp_seconds", "When the agent started.", s.started.timeIntervalSince1970)
        return out.text
    }
}

