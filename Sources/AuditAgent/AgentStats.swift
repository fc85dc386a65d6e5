/// Counters the agent keeps.
public struct AgentStats: Sendable {
    public var eventsRead = 0
    /// Events the policy dropped (intentional: not failures).
    public var policyDropped = 0
    public var policyDroppedByRule: [String: Int] = [:]
    /// Bytes the policy removed (dropped events and stripped bodies).
    public var policyBytesSaved = 0
    /// Events the apiserver logged at a lower level than the agent's policy asks (kept as they are).
    public var underLogged = 0
    /// Files deleted before they were shipped to their end.
    public var lostFiles: [String] = []
    /// Truncations (copytruncate) whose copy was never found: a possible, unmeasurable loss.
    public var truncationsUnrecovered = 0
    /// Spooled batches that could not be read back (damaged on disk).
    public var lostSpoolBatches: [String] = []
    /// Batches written to the spool.
    public var spooledBatches = 0
    /// Spool writes that failed (a full or failing disk): the batch stayed in memory, reading paused.
    public var spoolWriteFailures = 0
    /// Checkpoint writes that failed (a full or failing disk).
    public var checkpointWriteFailures = 0
    public var eventsShipped = 0
    public var duplicatesAtAggregator = 0
    public var quarantined = 0
    public var quarantinedByReason: [String: Int] = [:]
}
