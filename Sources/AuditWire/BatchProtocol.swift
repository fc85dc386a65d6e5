/// The batch protocol between agents (and backfill) and the aggregator.
/// `Protocols/wire-protocol.md` is the normative text; this file mirrors it.
public enum BatchProtocol {
    /// Path of the agents' batch endpoint.
    public static let batchPath = "/v1/batches"
    /// Path of kube-apiserver's webhook backend endpoint (contract).
    public static let webhookPath = "/v1/webhook"
    /// Query API.
    public static let eventsPath = "/v1/events"

    /// Header naming the cluster the batch is for; must match the certificate.
    public static let clusterHeader = "X-Auditship-Cluster"
    /// Header naming the node the events come from; must match an agent certificate's node.
    public static let nodeHeader = "X-Auditship-Node"
    /// Header carrying the batch's idempotency id (32 lower-case hex digits).
    public static let batchIDHeader = "X-Auditship-Batch-Id"
    /// Header with the number of events in the batch, checked against the body.
    public static let eventCountHeader = "X-Auditship-Event-Count"

    /// Content type of a batch body (before compression).
    public static let contentType = "application/x-ndjson"
}

/// A reason a single event (one line of a batch) was refused.
public struct RejectedLine: Codable, Sendable, Hashable {
    /// 1-based line number in the decompressed batch.
    public var line: Int
    /// Bounded reason code (`invalid_json`, `not_an_event`, `too_deep`, `too_large`, `bad_field`, …).
    public var code: String
    /// What was wrong, in words (never the event's content).
    public var message: String

    public init(line: Int, code: String, message: String) {
        self.line = line
        self.code = code
        self.message = message
    }
}

/// The aggregator's answer to a batch that it committed (HTTP 200).
public struct BatchResponse: Codable, Sendable, Hashable {
    public var batchID: String
    /// Events in the batch that were well-formed.
    public var accepted: Int
    /// Events newly stored.
    public var stored: Int
    /// Events already present (re-deliveries), not stored again.
    public var duplicates: Int
    /// Events refused, with the reason; the rest of the batch was stored.
    public var rejected: [RejectedLine]

    public init(batchID: String, accepted: Int, stored: Int, duplicates: Int, rejected: [RejectedLine]) {
        self.batchID = batchID
        self.accepted = accepted
        self.stored = stored
        self.duplicates = duplicates
        self.rejected = rejected
    }
}

/// The body of every non-2xx answer.
public struct ErrorResponse: Codable, Sendable, Hashable {
    /// Bounded reason code, also the metric label.
    public var error: String
    /// What was wrong and what to do.
    public var message: String
    /// Whether the client should send the same request again later.
    public var retryable: Bool

    public init(error: String, message: String, retryable: Bool) {
        self.error = error
        self.message = message
        self.retryable = retryable
    }
}

/// What a client should do with an HTTP status from the aggregator.
public enum RetryDecision: Sendable, Equatable {
    /// Committed: advance.
    case done
    /// Send the same batch again after a backoff.
    case retry
    /// The batch is too large: split it and send the halves.
    case split
    /// Our credentials are refused: nothing will change until an operator acts.
    /// Keep the data, retry slowly, report loudly.
    case unauthorized
    /// The batch itself is bad and will never be accepted: quarantine it.
    case permanent

    /// The retry rule, in one place: 2xx done; 408, 429 and 5xx retried;
    /// 413 split; 401/403 unauthorized; any other 4xx permanent.
    public init(status: Int) {
        switch status {
        case 200..<300: self = .done
        case 408, 429: self = .retry
        case 413: self = .split
        case 401, 403: self = .unauthorized
        case 400..<500: self = .permanent
        default: self = .retry
        }
    }
}
