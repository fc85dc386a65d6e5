import CurlClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the bench and the browser tests share to drive Debian's headless `chromium` through
/// `chromedriver` (W3C WebDriver, on 127.0.0.1): where the binaries are, the session's
/// capabilities, one WebDriver command, and a free local port for the driver.
public enum WebDriverProtocol {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// Where Debian puts them; nil when either is missing.
    public static var binaries: (chromium: String, chromedriver: String)? {
        let chromium = ["/usr/bin/chromium", "/usr/lib/chromium/chromium"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let driver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let chromium, let driver else { return nil }
        return (chromium, driver)
    }

    /// The new-session body: headless, no sandbox (containers), a profile of the caller's own.
    public static func capabilities(chromium: String, profile: String, width: Int = 1400, height: Int = 900) -> [String: Any] {
        ["capabilities": ["alwaysMatch": [
            "browserName": "chrome",
            "goog:chromeOptions": ["binary": chromium, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=\(width),\(height)",
                "--user-data-dir=\(profile)", "--no-first-run", "--disable-extensions",
            ]],
        ] as [String: Any]]]
    }

    /// Waits until the driver at `base` says it is ready.
    public static func waitUntilReady(_ http: HTTPClient, _ base: String) throws {
        for _ in 0..<100 {
            if let r = try? http.request(method: "GET", url: base + "/status", timeoutSeconds: 2, connectTimeoutSeconds: 1),
               r.status == 200, r.bodyText.contains("\"ready\":true") {
                return
            }
            usleep(100_000)
        }
        throw Failure("chromedriver did not become ready on \(base)")
    }

    /// One command; its `value`, or a failure with the driver's message.
    @discardableResult
    public static func call(_ http: HTTPClient, _ url: String, method: String, _ body: Any?, timeout: Int = 30) throws -> Any? {
        let data = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data("{}".utf8)
        let r = try http.request(method: method, url: url, headers: ["Content-Type: application/json"],
                                 body: method == "GET" ? [] : [UInt8](data), timeoutSeconds: timeout)
        let json = try? JSONSerialization.jsonObject(with: Data(r.body))
        let value = (json as? [String: Any])?["value"]
        guard r.status == 200 else {
            let message = ((value as? [String: Any])?["message"] as? String) ?? r.bodyText
            throw Failure("WebDriver \(method) \(url): \(r.status): \(message.prefix(500))")
        }
        return value
    }

    /// A port nobody listens on at the moment, on 127.0.0.1.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw Failure("no free port on 127.0.0.1") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
