/// Who a client certificate says its holder is.
///
/// The identity is the certificate's first subjectAltName URI with the
/// `auditship` scheme (see `Protocols/identity.md`):
///
/// - `auditship://agent/CLUSTER/NODE`: an agent; writes CLUSTER's events from NODE.
/// - `auditship://webhook/CLUSTER` or `auditship://webhook/CLUSTER/NODE`: kube-apiserver's
///   webhook backend for CLUSTER (events are tagged with NODE, or `webhook`).
/// - `auditship://reader/NAME`: may query every cluster, may not write.
/// - `auditship://reader/NAME/CLUSTER[+CLUSTER…]`: may query those clusters only.
/// - `auditship://aggregator`: the aggregator's own server certificate.
///
/// Names are 1–63 characters of `a-z 0-9 - . _`, starting and ending alphanumeric.
public enum ClientIdentity: Sendable, Hashable, CustomStringConvertible {
    case agent(cluster: String, node: String)
    case webhook(cluster: String, node: String?)
    /// `clusters`: the clusters it may read (nil: all).
    case reader(name: String, clusters: [String]?)
    case aggregator

    public static let scheme = "auditship://"

    /// The URI form, as written into the certificate.
    public var uri: String {
        switch self {
        case .agent(let c, let n): return "\(Self.scheme)agent/\(c)/\(n)"
        case .webhook(let c, let n): return "\(Self.scheme)webhook/\(c)" + (n.map { "/\($0)" } ?? "")
        case .reader(let n, let clusters): return "\(Self.scheme)reader/\(n)" + (clusters.map { "/" + $0.joined(separator: "+") } ?? "")
        case .aggregator: return "\(Self.scheme)aggregator"
        }
    }

    public var description: String { uri }

    /// The cluster this identity may write for, if any.
    public var writableCluster: String? {
        switch self {
        case .agent(let c, _), .webhook(let c, _): return c
        case .reader, .aggregator: return nil
        }
    }

    /// The node events written with this identity are tagged with.
    public var writableNode: String? {
        switch self {
        case .agent(_, let n): return n
        case .webhook(_, let n): return n ?? "webhook"
        case .reader, .aggregator: return nil
        }
    }

    /// Parses the URI form.
    /// - Throws: ``IdentityError`` saying what is wrong.
    public init(uri: String) throws(IdentityError) {
        guard uri.hasPrefix(Self.scheme) else {
            throw IdentityError("'\(uri)' is not an auditship identity (expected \(Self.scheme)…)")
        }
        let parts = uri.dropFirst(Self.scheme.count).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch (parts.first, parts.count) {
        case ("agent", 3):
            try Self.validate(parts[1], "cluster")
            try Self.validate(parts[2], "node")
            self = .agent(cluster: parts[1], node: parts[2])
        case ("webhook", 2):
            try Self.validate(parts[1], "cluster")
            self = .webhook(cluster: parts[1], node: nil)
        case ("webhook", 3):
            try Self.validate(parts[1], "cluster")
            try Self.validate(parts[2], "node")
            self = .webhook(cluster: parts[1], node: parts[2])
        case ("reader", 2):
            try Self.validate(parts[1], "reader name")
            self = .reader(name: parts[1], clusters: nil)
        case ("reader", 3):
            try Self.validate(parts[1], "reader name")
            let clusters = parts[2].split(separator: "+", omittingEmptySubsequences: false).map(String.init)
            for c in clusters { try Self.validate(c, "cluster") }
            self = .reader(name: parts[1], clusters: Array(Set(clusters)).sorted())
        case ("aggregator", 1):
            self = .aggregator
        default:
            throw IdentityError("'\(uri)' has no known role (agent/CLUSTER/NODE, webhook/CLUSTER, reader/NAME[/CLUSTER+…], aggregator)")
        }
    }

    /// Picks the identity out of a certificate's URI subjectAltNames.
    public init(subjectAlternativeURIs uris: [String]) throws(IdentityError) {
        guard let uri = uris.first(where: { $0.hasPrefix(Self.scheme) }) else {
            throw IdentityError("the certificate has no \(Self.scheme) subjectAltName URI")
        }
        try self.init(uri: uri)
    }

    /// Checks a cluster, node or reader name.
    public static func validate(_ name: String, _ what: String) throws(IdentityError) {
        let bytes = Array(name.utf8)
        func alnum(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 48 && b <= 57) }
        guard !bytes.isEmpty, bytes.count <= 63 else {
            throw IdentityError("\(what) '\(name)' must be 1 to 63 characters")
        }
        guard let first = bytes.first, let last = bytes.last, alnum(first), alnum(last),
              bytes.allSatisfy({ alnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") })
        else {
            throw IdentityError("\(what) '\(name)' may hold only a-z, 0-9, '-', '.', '_' and must start and end with a letter or digit")
        }
    }
}

/// An identity that cannot be parsed or is not allowed.
public struct IdentityError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
