import AuditModel

/// The search fields of one stored event, as a block keeps them in its columns: what queries,
/// facets, rollups and the index read without decompressing the event's bytes.
public struct BlockRow: Sendable, Hashable {
    /// The node (apiserver) the event came from; the cluster is the block's.
    public var node: String
    /// The order timestamp (`EventSummary.orderTimestamp`), microseconds since 1970.
    public var time: Int64
    /// `requestReceivedTimestamp`, microseconds; nil when the event has none.
    public var requestReceived: Int64?
    public var auditID: String
    public var stage: String
    public var verb: String
    /// `user.username`; nil when the event has no user.
    public var user: String?
    public var groups: [String]
    public var resource: String
    public var subresource: String
    public var apiGroup: String
    public var namespace: String
    public var name: String
    /// `responseStatus.code`; nil when absent.
    public var code: Int?
    public var sourceIPs: [String]
    public var userAgent: String

    public init(node: String, time: Int64, requestReceived: Int64? = nil, auditID: String, stage: String, verb: String,
                user: String?, groups: [String] = [], resource: String = "", subresource: String = "", apiGroup: String = "",
                namespace: String = "", name: String = "", code: Int? = nil, sourceIPs: [String] = [], userAgent: String = "") {
        self.node = node
        self.time = time
        self.requestReceived = requestReceived
        self.auditID = auditID
        self.stage = stage
        self.verb = verb
        self.user = user
        self.groups = groups
        self.resource = resource
        self.subresource = subresource
        self.apiGroup = apiGroup
        self.namespace = namespace
        self.name = name
        self.code = code
        self.sourceIPs = sourceIPs
        self.userAgent = userAgent
    }

    /// The row of an event read by the scanner.
    public init(node: String, summary s: EventSummary) {
        self.init(node: node, time: s.orderTimestamp.microseconds, requestReceived: s.requestReceivedTimestamp?.microseconds,
                  auditID: s.auditID, stage: s.stage, verb: s.verb, user: s.username, groups: s.groups,
                  resource: s.resource, subresource: s.subresource, apiGroup: s.apiGroup, namespace: s.namespace,
                  name: s.name, code: s.responseCode, sourceIPs: s.sourceIPs, userAgent: s.userAgent)
    }

    /// The response code's class: 1 to 5 for 1xx to 5xx, 0 when there is no code.
    public var codeClass: Int {
        guard let code, code >= 100, code < 600 else { return 0 }
        return code / 100
    }
}

/// The fields a block indexes and dictionary-codes. The raw values are the format's: never renumber.
public enum BlockField: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    case node = 1
    case auditID = 2
    case stage = 3
    case verb = 4
    case user = 5
    case groups = 6
    case resource = 7
    case subresource = 8
    case apiGroup = 9
    case namespace = 10
    case name = 11
    case code = 12
    case sourceIP = 13
    case userAgent = 14

    public var description: String {
        switch self {
        case .node: "node"
        case .auditID: "auditID"
        case .stage: "stage"
        case .verb: "verb"
        case .user: "user"
        case .groups: "group"
        case .resource: "resource"
        case .subresource: "subresource"
        case .apiGroup: "apiGroup"
        case .namespace: "namespace"
        case .name: "name"
        case .code: "code"
        case .sourceIP: "sourceIP"
        case .userAgent: "userAgent"
        }
    }

    /// The fields the block index lists positions for (what searches filter on).
    public static let indexed: [BlockField] = [.node, .user, .groups, .verb, .resource, .namespace, .name, .code, .stage, .apiGroup, .sourceIP]

    /// The values of this field in a row (several for groups and source IPs, none when absent).
    public func values(of row: BlockRow) -> [String] {
        switch self {
        case .node: [row.node]
        case .auditID: row.auditID.isEmpty ? [] : [row.auditID]
        case .stage: row.stage.isEmpty ? [] : [row.stage]
        case .verb: row.verb.isEmpty ? [] : [row.verb]
        case .user: row.user.map { [$0] } ?? []
        case .groups: row.groups
        case .resource: row.resource.isEmpty ? [] : [row.resource]
        case .subresource: row.subresource.isEmpty ? [] : [row.subresource]
        case .apiGroup: row.apiGroup.isEmpty ? [] : [row.apiGroup]
        case .namespace: row.namespace.isEmpty ? [] : [row.namespace]
        case .name: row.name.isEmpty ? [] : [row.name]
        case .code: row.code.map { [String($0)] } ?? []
        case .sourceIP: row.sourceIPs
        case .userAgent: row.userAgent.isEmpty ? [] : [row.userAgent]
        }
    }
}
