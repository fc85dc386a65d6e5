import CurlClient
import Foundation

/// A small W3C WebDriver client for the browser tests: Debian's `chromedriver` driving
/// `chromium` headless, both started by the test on 127.0.0.1.
final class WebDriver {
    let driver: ChildProcess
    let base: String
    let session: String
    let http: HTTPClient

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Where Debian puts them; nil when either is missing.
    static var binaries: (chromium: String, chromedriver: String)? {
        let chromium = ["/usr/bin/chromium", "/usr/lib/chromium/chromium"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let driver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let chromium, let driver else { return nil }
        return (chromium, driver)
    }

    /// `environment` is the driver's and the browser's (a `HOME` of the test's own gives the browser
    /// that home's NSS database of certificates).
    init(dir: String, chromium: String, chromedriver: String, width: Int = 1400, height: Int = 900, environment: [String: String] = [:]) throws {
        http = try HTTPClient(tls: ClientTLSConfiguration())
        let port = try Self.freePort()
        driver = try ChildProcess(executable: chromedriver, arguments: ["--port=\(port)", "--allowed-ips=127.0.0.1"], output: dir + "/chromedriver.log",
                                  environment: environment)
        base = "http://127.0.0.1:\(port)"
        var ready = false
        for _ in 0..<100 {
            if let r = try? http.request(method: "GET", url: base + "/status", timeoutSeconds: 2, connectTimeoutSeconds: 1),
               r.status == 200, r.bodyText.contains("\"ready\":true") {
                ready = true
                break
            }
            usleep(100_000)
        }
        guard ready else { throw Failure(description: "chromedriver did not become ready on \(base)") }
        let caps: [String: Any] = ["capabilities": ["alwaysMatch": [
            "browserName": "chrome",
            "goog:chromeOptions": ["binary": chromium, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=\(width),\(height)",
                "--user-data-dir=\(dir)/chromium-profile", "--no-first-run", "--disable-extensions",
            ]],
        ] as [String: Any]]]
        var sessionID: String?
        var lastError = ""
        for _ in 0..<3 {
            do {
                let value = try Self.call(http, base + "/session", method: "POST", caps, timeout: 60)
                sessionID = (value as? [String: Any])?["sessionId"] as? String
                if sessionID != nil { break }
            } catch {
                lastError = "\(error)"
                sleep(1)
            }
        }
        guard let sessionID else {
            Self.stop(driver)
            throw Failure(description: "no browser session: \(lastError)")
        }
        session = sessionID
    }

    deinit { quit() }

    private var closed = false

    func quit() {
        guard !closed else { return }
        closed = true
        _ = try? Self.call(http, "\(base)/session/\(session)", method: "DELETE", nil, timeout: 20)
        Self.stop(driver)
    }

    /// SIGTERM, then SIGKILL if it is still there after 5 s.
    static func stop(_ p: ChildProcess) {
        kill(p.processIdentifier, SIGTERM)
        for _ in 0..<50 where p.isRunning { usleep(100_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }

    static func freePort() throws -> Int {
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
        guard bound else { throw Failure(description: "no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    @discardableResult
    static func call(_ http: HTTPClient, _ url: String, method: String, _ body: Any?, timeout: Int = 30) throws -> Any? {
        let data = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data("{}".utf8)
        let r = try http.request(method: method, url: url, headers: ["Content-Type: application/json"],
                                 body: method == "GET" ? [] : [UInt8](data), timeoutSeconds: timeout)
        let json = try? JSONSerialization.jsonObject(with: Data(r.body))
        let value = (json as? [String: Any])?["value"]
        guard r.status == 200 else {
            let message = ((value as? [String: Any])?["message"] as? String) ?? r.bodyText
            throw Failure(description: "WebDriver \(method) \(url): \(r.status): \(message.prefix(500))")
        }
        return value
    }

    @discardableResult
    func command(_ path: String, method: String = "POST", _ body: Any? = nil) throws -> Any? {
        try Self.call(http, "\(base)/session/\(session)\(path)", method: method, body)
    }

    func open(_ url: String) throws { try command("/url", ["url": url]) }

    /// Runs JavaScript in the page; returns its value.
    func script(_ source: String, _ args: [Any] = []) throws -> Any? {
        try command("/execute/sync", ["script": source, "args": args])
    }

    /// The first element matching the CSS selector (its WebDriver id).
    func element(_ css: String) throws -> String {
        let value = try command("/element", ["using": "css selector", "value": css]) as? [String: Any]
        guard let id = value?.values.first as? String else { throw Failure(description: "no element \(css)") }
        return id
    }

    func click(_ css: String) throws { try command("/element/\(try element(css))/click", [:]) }

    func type(_ css: String, _ text: String) throws {
        let id = try element(css)
        try command("/element/\(id)/clear", [:])
        try command("/element/\(id)/value", ["text": text])
    }

    func text(_ css: String) throws -> String {
        (try script("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", [css]) as? String) ?? ""
    }

    /// Waits until `condition` holds (checked every 100 ms), else fails saying what it waited for.
    func wait(_ what: String, seconds: Double = 20, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        var last: (any Error)?
        while Date() < deadline {
            do {
                if try condition() { return }
            } catch {
                last = error
            }
            usleep(100_000)
        }
        throw Failure(description: "timed out after \(Int(seconds)) s waiting until \(what)\(last.map { " (last error: \($0))" } ?? "")")
    }

    /// A PNG of the window, written to `path`.
    func screenshot(_ path: String) throws {
        guard let b64 = try command("/screenshot", method: "GET") as? String, let png = Data(base64Encoded: b64) else {
            throw Failure(description: "no screenshot")
        }
        try png.write(to: URL(fileURLWithPath: path))
    }
}
