/// How much of a request an audit event records (`audit.k8s.io` `Level`).
///
/// Ordered from least to most: `none < metadata < request < requestResponse`.
public enum AuditLevel: String, Sendable, Comparable, CaseIterable, Codable {
    case none = "None"
    case metadata = "Metadata"
    case request = "Request"
    case requestResponse = "RequestResponse"

    @inlinable
    var rank: Int {
        switch self {
        case .none: return 0
        case .metadata: return 1
        case .request: return 2
        case .requestResponse: return 3
        }
    }

    public static func < (lhs: AuditLevel, rhs: AuditLevel) -> Bool { lhs.rank < rhs.rank }
}

/// The stage of request handling at which kube-apiserver emits an audit event (`audit.k8s.io` `Stage`).
public enum AuditStage: String, Sendable, CaseIterable, Codable {
    case requestReceived = "RequestReceived"
    case responseStarted = "ResponseStarted"
    case responseComplete = "ResponseComplete"
    case panic = "Panic"
}
