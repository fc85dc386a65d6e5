import AuditModel

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
    /// Newly stored events whose (cluster, auditID, stage) was already held by an event
    /// with other bytes: both are kept; this counts and flags them.
    public var collisions: Int
    public init(stored: Int, duplicates: Int, collisions: Int = 0) {
        self.stored = stored
        self.duplicates = duplicates
        self.collisions = collisions
    }
}

/// A position in the query order, for cursor pagination: the last event of a page.
public struct EventCursor: Sendable, Hashable, CustomStringConvertible {
    public var timestamp: Int64
    public var received: Int64
    public var auditID: String
    public var stage: Int
    public var sequence: Int64

    public init(timestamp: Int64, received: Int64, auditID: String, stage: Int, sequence: Int64) {
        self.timestamp = timestamp
        self.received = received
        self.auditID = auditID
        self.stage = stage
        self.sequence = sequence
    }

    /// Opaque text form: `ts.rts.stage.seq.auditID` (auditID last, it may contain dots).
    public var description: String { "\(timestamp).\(received).\(stage).\(sequence).\(auditID)" }

    public init?(_ text: String) {
        let parts = text.split(separator: ".", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, let t = Int64(parts[0]), let r = Int64(parts[1]), let st = Int(parts[2]), let seq = Int64(parts[3]) else { return nil }
        self.init(timestamp: t, received: r, auditID: String(parts[4]), stage: st, sequence: seq)
    }
}

/// An auditID and stage held by events with different bytes in one cluster.
public struct AuditIDCollision: Sendable, Hashable {
    public var cluster: String
    public var auditID: String
    public var stage: String
    /// How many different events share it.
    public var events: Int
    public init(cluster: String, auditID: String, stage: String, events: Int) {
        self.cluster = cluster
        self.auditID = auditID
        self.stage = stage
        self.events = events
    }
}

/// Counts over a window, per dimension (`GET /v1/stats`).
public struct StoreStatistics: Sendable, Hashable {
    public var total: Int
    public var byCluster: [String: Int]
    public var byNode: [String: Int]
    public var byUser: [String: Int]
    public var byVerb: [String: Int]
    public var byResource: [String: Int]
    public init(total: Int = 0, byCluster: [String: Int] = [:], byNode: [String: Int] = [:], byUser: [String: Int] = [:],
                byVerb: [String: Int] = [:], byResource: [String: Int] = [:]) {
        self.total = total
        self.byCluster = byCluster
        self.byNode = byNode
        self.byUser = byUser
        self.byVerb = byVerb
        self.byResource = byResource
    }
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
    /// The event's position in the query order (for pagination).
    public var cursor: EventCursor
    /// True when another event of the cluster has the same auditID and stage.
    public var collision: Bool

    public init(sequence: Int64, cluster: String, node: String, bytes: [UInt8], timestamp: Timestamp,
                cursor: EventCursor? = nil, collision: Bool = false) {
        self.cursor = cursor ?? EventCursor(timestamp: timestamp.microseconds, received: timestamp.microseconds, auditID: "", stage: 9, sequence: sequence)
        self.collision = collision
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
    /// Only events after this position in the query order (pagination).
    public var after: EventCursor?
    /// Only events ingested after this store sequence (following new arrivals).
    public var ingestedAfter: Int64?
    /// With `ingestedAfter`: order by ingest sequence instead of time.
    public var ingestOrder = false
    /// One of `user.groups`.
    public var group: String?
    /// `objectRef.apiGroup` ("" is the core group).
    public var apiGroup: String?
    /// `objectRef.name`: with resource and namespace, one object's history.
    public var name: String?
    /// `responseStatus.code`.
    public var code: Int?
    /// The response code's class: 1 to 5 for 1xx to 5xx.
    public var codeClass: Int?
    /// `stage` (RequestReceived, ResponseStarted, ResponseComplete, Panic).
    public var stage: String?
    /// Bytes the event's raw JSON must contain (case-sensitive).
    public var text: String?
    /// Lists, wildcards and exclusions (all must pass), checked on each event.
    public var matches: [FieldMatch] = []

    /// True when a filter beyond those of every store's index is set (group, apiGroup, name,
    /// code, code class, stage, text, matches): PostgreSQL's row layout applies them after reading.
    public var hasEventFilters: Bool {
        group != nil || apiGroup != nil || name != nil || code != nil || codeClass != nil || stage != nil || text != nil || !matches.isEmpty
    }

    public init(cluster: String? = nil, node: String? = nil, user: String? = nil, verb: String? = nil,
                resource: String? = nil, namespace: String? = nil, since: Timestamp? = nil,
                until: Timestamp? = nil, limit: Int? = nil, after: EventCursor? = nil,
                ingestedAfter: Int64? = nil, ingestOrder: Bool = false,
                group: String? = nil, apiGroup: String? = nil, name: String? = nil, code: Int? = nil,
                codeClass: Int? = nil, stage: String? = nil, text: String? = nil) {
        self.group = group
        self.apiGroup = apiGroup
        self.name = name
        self.code = code
        self.codeClass = codeClass
        self.stage = stage
        self.text = text
        self.after = after
        self.ingestedAfter = ingestedAfter
        self.ingestOrder = ingestOrder
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
    public static func name(_ code: Int) -> String {
        switch code {
        case 0: return "RequestReceived"
        case 1: return "ResponseStarted"
        case 2: return "ResponseComplete"
        case 3: return "Panic"
        default: return "other"
        }
    }

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

/// The operations every store backend provides. The store-contract test
/// suite runs the same cases against every implementation.
public protocol EventStore: Sendable {
    /// Stores a batch in one durable transaction; returns only after the commit.
    func ingest(_ batch: IngestBatch) async throws -> IngestResult
    /// Events matching the query in (stageTimestamp, requestReceivedTimestamp, auditID, stage, sequence)
    /// order, or in ingest order when `query.ingestOrder` is set.
    func events(_ query: EventQuery) async throws -> [StoredEvent]
    /// How many events match.
    func count(_ query: EventQuery) async throws -> Int
    /// auditID collisions among the events matching the query (its time and cluster filters).
    func collisions(_ query: EventQuery) async throws -> [AuditIDCollision]
    /// Counts per dimension among the events matching the query.
    func statistics(_ query: EventQuery) async throws -> StoreStatistics
    /// Event counts per time bucket (`bucket` µs long, aligned on multiples of it since 1970) among
    /// the events matching the query (its limit does not apply), buckets without events left out.
    func histogram(_ query: EventQuery, bucket: Int64) async throws -> [HistogramBucket]
    /// The `top` most frequent values of each field among the events matching the query (its limit
    /// does not apply): most frequent first, ties by value; an event counts once per value it holds.
    func facets(_ query: EventQuery, fields: [FacetField], top: Int) async throws -> [FacetField: [FacetValue]]
    /// Deletes events whose order timestamp is before `cutoff`; returns how many.
    func deleteEvents(before cutoff: Timestamp) async throws -> Int
    /// The highest ingest sequence stored (0 when empty).
    func lastSequence() async throws -> Int64
    /// Releases the store's resources.
    func close() async throws
}
