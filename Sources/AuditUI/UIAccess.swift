/// Who may use a local `auditship ui`: the holder of the token in the URL it printed, from a
/// page on the address it listens on. Pure: decided from the request's parts alone.
///
/// - The token comes once in the URL (`/?token=…`); the answer sets it as a cookie (HttpOnly,
///   SameSite=Strict, so no other site's page can send it) and sends the browser on to the URL
///   without it, so the token does not stay in the address bar or the history.
/// - Scripts may send it as `Authorization: Bearer …` instead.
/// - The `Host` header must name the address the server listens on (127.0.0.1 or localhost and
///   its port): a page of another site whose name was made to resolve to 127.0.0.1 (DNS
///   rebinding) is refused before the token is even looked at.
public struct UIAccess: Sendable {
    public static let cookieName = "auditship_ui"
    public let token: String
    public let port: Int

    public init(token: String, port: Int) {
        self.token = token
        self.port = port
    }

    /// A new random token: 32 bytes from the system's secure generator, in hex.
    public static func randomToken() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }

    public enum Decision: Equatable, Sendable {
        /// Serve the request.
        case allow
        /// Set the cookie and send the browser to `location` (the URL without the token).
        case setCookieAndRedirect(location: String)
        /// Refuse with this status and message.
        case refuse(status: Int, message: String)
    }

    /// Decides a request from its Host header, path, query items, cookies and Authorization header.
    public func decide(host: String?, path: String, query: [(String, String)], cookie: String?, authorization: String?) -> Decision {
        guard let host, allowedHosts.contains(host.lowercased()) else {
            return .refuse(status: 403, message: "this auditship ui answers only to http://127.0.0.1:\(port)/ (Host was '\(host ?? "")')")
        }
        if let given = query.first(where: { $0.0 == "token" })?.1 {
            guard Self.same(given, token) else { return .refuse(status: 401, message: "the token in this URL is not this auditship ui's; open the URL it printed") }
            let rest = query.filter { $0.0 != "token" }
            let search = rest.isEmpty ? "" : "?" + rest.map { Self.encode($0.0) + "=" + Self.encode($0.1) }.joined(separator: "&")
            return .setCookieAndRedirect(location: path + search)
        }
        if let cookie, let value = Self.cookieValue(cookie, name: Self.cookieName), Self.same(value, token) { return .allow }
        if let authorization, authorization.hasPrefix("Bearer "), Self.same(String(authorization.dropFirst(7)), token) { return .allow }
        return .refuse(status: 401, message: "this auditship ui needs its token: open the URL it printed (http://127.0.0.1:\(port)/?token=…)")
    }

    /// The Set-Cookie header's value.
    public var setCookie: String { "\(Self.cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict" }

    var allowedHosts: Set<String> { ["127.0.0.1:\(port)", "localhost:\(port)"] }

    /// Compares in time that does not depend on where the strings differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }

    static func cookieValue(_ header: String, name: String) -> String? {
        for part in header.split(separator: ";") {
            let kv = part.trimmingCharacters(in: .whitespaces)
            if kv.hasPrefix(name + "=") { return String(kv.dropFirst(name.count + 1)) }
        }
        return nil
    }

    static func encode(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
    }
}

import Foundation
