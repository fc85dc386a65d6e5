import AuditModel

/// One event to store: its exact bytes, the fields read from them, and its digest.
public struct IngestEvent: Sendable {
    /// The event's bytes as the apiserver wrote them (after policy).
    public var bytes: [UInt8]
    public var summary: EventSummary
    /// SHA-256 of `bytes`: with the cluster, the de-duplication key.
    public var digest: [UInt8]

    public init(bytes: [UInt8], summary: EventSummary, digest: [UInt8]) {
        self.bytes = bytes
        self.summary = summary
        self.digest = digest
    }
}

/// A batch of events from one cluster and node, committed in one transaction.
public struct IngestBatch: Sendable {
    public var cluster: String
    public var node: String
    /// The client's idempotency id for the batch (logged and recorded).
    public var batchID: String
    public var events: [IngestEvent]

    public init(cluster: String, node: String, batchID: String, events: [IngestEvent]) {
        self.cluster = cluster
        self.node = node
        self.batchID = batchID
        self.events = events
    }
}

/// What a committed batch did.
public struct IngestResult: Sendable, Hashable {
    /// Events newly stored.
    public var stored: Int
    /// Events already present, not stored again.
    public var duplicates: Int
    public init(stored: Int, duplicates: Int) { self.stored = stored; self.duplicates = duplicates }
}

/// A stored event with the tags stored beside it.
public struct StoredEvent: Sendable, Hashable {
    /// Ingest sequence number (store-local).
    public var sequence: Int64
    public var cluster: String
    public var node: String
    /// The event's exact bytes.
    public var bytes: [UInt8]
    public var timestamp: Timestamp

    public init(sequence: Int64, cluster: String, node: String, bytes: [UInt8], timestamp: Timestamp) {
        self.sequence = sequence
        self.cluster = cluster
        self.node = node
        self.bytes = bytes
        self.timestamp = timestamp
    }
}

/// Filters of a query; nil means any.
public struct EventQuery: Sendable, Hashable {
    public var cluster: String?
    public var node: String?
    public var user: String?
    public var verb: String?
    /// `pods` (any subresource) or `pods/log` (that subresource).
    public var resource: String?
    public var namespace: String?
    /// Inclusive lower bound on the order timestamp.
    public var since: Timestamp?
    /// Exclusive upper bound on the order timestamp.
    public var until: Timestamp?
    public var limit: Int?

    public init(cluster: String? = nil, node: String? = nil, user: String? = nil, verb: String? = nil,
                resource: String? = nil, namespace: String? = nil, since: Timestamp? = nil,
                until: Timestamp? = nil, limit: Int? = nil) {
        self.cluster = cluster
        self.node = node
        self.user = user
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        self.since = since
        self.until = until
        self.limit = limit
    }
}

/// A store that can't do what was asked, with what and where.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Where a store lives: `sqlite:PATH` or `postgres://USER@HOST:PORT/DB`.
public enum StoreLocation: Sendable, Hashable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(url: String)

    public init(_ text: String) throws(StoreError) {
        if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else { throw StoreError("store URL '\(text)' names no file: use sqlite:PATH") }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(url: text)
        } else {
            throw StoreError("store URL '\(text)' is not understood: use sqlite:PATH or postgres://USER@HOST:PORT/DB")
        }
    }

    public var description: String {
        switch self {
        case .sqlite(let p): return "sqlite:\(p)"
        case .postgres(let u): return u
        }
    }
}

/// The stage codes stored, in lifecycle order (the last key of the event order).
public enum StageCode {
    public static func code(_ stage: String) -> Int {
        switch stage {
        case "RequestReceived": return 0
        case "ResponseStarted": return 1
        case "ResponseComplete": return 2
        case "Panic": return 3
        default: return 9
        }
    }
}

/// The operations every store backend provides.
public protocol EventStore: Sendable {
    /// Stores a batch in one durable transaction; returns only after the commit.
    func ingest(_ batch: IngestBatch) async throws -> IngestResult
    /// Events matching the query in (stageTimestamp, requestReceivedTimestamp, auditID, stage) order.
    func events(_ query: EventQuery) async throws -> [StoredEvent]
    /// How many events match.
    func count(_ query: EventQuery) async throws -> Int
}
