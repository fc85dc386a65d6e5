import BrowserDriver
import CurlClient
import Foundation

/// A small W3C WebDriver client for the browser tests: Debian's `chromedriver` driving
/// `chromium` headless, both started by the test on 127.0.0.1.
final class WebDriver {
    let driver: ChildProcess
    let base: String
    let session: String
    let http: HTTPClient

    typealias Failure = WebDriverProtocol.Failure

    /// Where Debian puts them; nil when either is missing.
    static var binaries: (chromium: String, chromedriver: String)? { WebDriverProtocol.binaries }

    /// `environment` is the driver's and the browser's (a `HOME` of the test's own gives the browser
    /// that home's NSS database of certificates).
    init(dir: String, chromium: String, chromedriver: String, width: Int = 1400, height: Int = 900, environment: [String: String] = [:]) throws {
        http = try HTTPClient(tls: ClientTLSConfiguration())
        let port = try WebDriverProtocol.freePort()
        driver = try ChildProcess(executable: chromedriver, arguments: ["--port=\(port)", "--allowed-ips=127.0.0.1"], output: dir + "/chromedriver.log",
                                  environment: environment)
        base = "http://127.0.0.1:\(port)"
        do {
            try WebDriverProtocol.waitUntilReady(http, base)
        } catch {
            Self.stop(driver)
            throw error
        }
        let caps = WebDriverProtocol.capabilities(chromium: chromium, profile: dir + "/chromium-profile", width: width, height: height)
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
            throw Failure("no browser session: \(lastError)")
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

    @discardableResult
    static func call(_ http: HTTPClient, _ url: String, method: String, _ body: Any?, timeout: Int = 30) throws -> Any? {
        try WebDriverProtocol.call(http, url, method: method, body, timeout: timeout)
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
        guard let id = value?.values.first as? String else { throw Failure("no element \(css)") }
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
        throw Failure("timed out after \(Int(seconds)) s waiting until \(what)\(last.map { " (last error: \($0))" } ?? "")")
    }

    /// A PNG of the window, written to `path`.
    func screenshot(_ path: String) throws {
        guard let b64 = try command("/screenshot", method: "GET") as? String, let png = Data(base64Encoded: b64) else {
            throw Failure("no screenshot")
        }
        try png.write(to: URL(fileURLWithPath: path))
    }
}
