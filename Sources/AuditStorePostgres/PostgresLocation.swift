import AuditStore
import Foundation

/// A parsed `postgres://USER@HOST:PORT/DB[?sslmode=require|verify-full|disable][&pool=N]` URL.
///
/// The password is never part of the URL (a URL ends up in process lists, logs
/// and metrics labels): it comes from a file (`--store-password-file`) or the
/// `PGPASSWORD` environment variable. A URL that carries one is refused.
public struct PostgresLocation: Sendable, Hashable, CustomStringConvertible {
    public enum TLSMode: String, Sendable, Hashable {
        /// Plain TCP (the default: the database is usually on a private network or loopback).
        case disable
        /// TLS with the system's trust roots and host-name verification (`require` and `verify-full`).
        case require
    }

    public var user: String
    public var host: String
    public var port: Int
    public var database: String
    public var tls: TLSMode
    /// Connections in the pool (default 4; `?pool=N`).
    public var poolSize: Int

    public init(user: String, host: String, port: Int = 5432, database: String, tls: TLSMode = .disable, poolSize: Int = 4) {
        self.user = user
        self.host = host
        self.port = port
        self.database = database
        self.tls = tls
        self.poolSize = poolSize
    }

    public init(_ text: String) throws(StoreError) {
        func fail(_ why: String) -> StoreError {
            StoreError("store URL is not a PostgreSQL URL (\(why)): use postgres://USER@HOST:PORT/DB[?sslmode=require|disable]")
        }
        var rest: Substring
        if text.hasPrefix("postgres://") {
            rest = text.dropFirst("postgres://".count)
        } else if text.hasPrefix("postgresql://") {
            rest = text.dropFirst("postgresql://".count)
        } else {
            throw fail("it does not start with postgres://")
        }
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        guard let at = rest.lastIndex(of: "@") else { throw fail("no USER@ before the host") }
        let userPart = rest[..<at]
        var hostPart = rest[rest.index(after: at)...]
        if userPart.contains(":") {
            throw StoreError("store URL carries a password: remove it from the URL and give it with a password file or the PGPASSWORD environment variable")
        }
        guard let user = String(userPart).removingPercentEncoding, !user.isEmpty else { throw fail("empty user") }
        var database = ""
        if let slash = hostPart.firstIndex(of: "/") {
            database = String(hostPart[hostPart.index(after: slash)...]).removingPercentEncoding ?? ""
            hostPart = hostPart[..<slash]
        }
        guard !database.isEmpty else { throw fail("no /DB after the host") }
        var host = String(hostPart)
        var port = 5432
        if host.hasPrefix("[") {
            // [IPv6]:port
            guard let close = host.firstIndex(of: "]") else { throw fail("unclosed [ in the host") }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw fail("bad port") }
                port = p
            } else if !after.isEmpty {
                throw fail("bad host")
            }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            guard let p = Int(host[host.index(after: colon)...]), (1...65535).contains(p) else { throw fail("bad port") }
            port = p
            host = String(host[..<colon])
        }
        guard !host.isEmpty else { throw fail("empty host") }
        var tls = TLSMode.disable
        var pool = 4
        for item in query.split(separator: "&") where !item.isEmpty {
            let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
            let key = kv[0]
            let value = kv.count > 1 ? kv[1] : ""
            switch key {
            case "sslmode":
                switch value {
                case "disable": tls = .disable
                case "require", "verify-full", "verify-ca": tls = .require
                default: throw fail("sslmode must be require, verify-full or disable, not '\(value)'")
                }
            case "pool":
                guard let n = Int(value), (1...100).contains(n) else { throw fail("pool must be 1 to 100") }
                pool = n
            case "password":
                throw StoreError("store URL carries a password: remove it from the URL and give it with a password file or the PGPASSWORD environment variable")
            default:
                throw fail("unknown parameter '\(key)'")
            }
        }
        self.init(user: user, host: host, port: port, database: database, tls: tls, poolSize: pool)
    }

    /// The URL without any secret: safe for logs.
    public var description: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)@\(h):\(port)/\(database)" + (tls == .require ? "?sslmode=require" : "")
    }

    /// The password: the first line of `passwordFile` when given, else `PGPASSWORD`, else none.
    public static func password(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws(StoreError) -> String? {
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw StoreError("cannot read the database password file '\(file)'")
            }
            let text = String(decoding: data, as: UTF8.self)
            let line = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            return line.hasSuffix("\r") ? String(line.dropLast()) : line
        }
        return environment["PGPASSWORD"]
    }
}
