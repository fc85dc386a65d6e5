import BrowserDriver
import CurlClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The web UI's first view as a person sees it: Debian's headless `chromium`, driven through
/// `chromedriver` (W3C WebDriver on 127.0.0.1), opens a search URL of `auditship ui` over the bench's
/// store; the page's own marks (`performance.mark`, set by app.js) say when the first page of events
/// was rendered and when the histogram, facets and count were too, in milliseconds from the start
/// of the navigation: HTML, script, style, the API answers and rendering, all included.
struct BrowserFirstView {
    var firstPage: [Double] = []
    var complete: [Double] = []

    static var binaries: (chromium: String, chromedriver: String)? { WebDriverProtocol.binaries }

    /// Opens `search` (a page URL's query, "?since=…&until=…") `runs` times after one visit that
    /// trades the UI's token for its cookie.
    static func measure(bench: Bench, store: String, search: String, runs: Int) throws -> BrowserFirstView {
        guard let (chromium, chromedriver) = binaries else { throw BenchError("chromium or chromedriver is not installed") }
        let urlFile = bench.dir + "/ui.url"
        try? FileManager.default.removeItem(atPath: urlFile)
        let ui = try bench.start(["ui", "--store", store, "--port", "0", "--url-file", urlFile], log: "ui.log")
        defer { stop(ui) }
        var tokenURL: String?
        for _ in 0..<300 where tokenURL == nil {
            tokenURL = (try? String(contentsOfFile: urlFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines).nilIfEmpty
            if tokenURL == nil { usleep(100_000) }
        }
        guard let tokenURL, let base = tokenURL.split(separator: "?").first.map(String.init) else {
            throw BenchError("auditship ui printed no URL (see \(bench.dir)/ui.log)")
        }
        let port = try WebDriverProtocol.freePort()
        let driverProcess = Process()
        driverProcess.executableURL = URL(fileURLWithPath: chromedriver)
        driverProcess.arguments = ["--port=\(port)", "--allowed-ips=127.0.0.1"]
        driverProcess.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        driverProcess.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try driverProcess.run()
        defer { stop(driverProcess) }
        let http = try HTTPClient(tls: ClientTLSConfiguration())
        let driver = "http://127.0.0.1:\(port)"
        try WebDriverProtocol.waitUntilReady(http, driver)
        let caps = WebDriverProtocol.capabilities(chromium: chromium, profile: bench.dir + "/chromium-profile")
        guard let session = (try call(http, driver + "/session", "POST", caps, timeout: 60) as? [String: Any])?["sessionId"] as? String else {
            throw BenchError("chromedriver opened no browser session")
        }
        let at = driver + "/session/" + session
        defer { _ = try? call(http, at, "DELETE", nil, timeout: 20) }
        try call(http, at + "/url", "POST", ["url": tokenURL])
        var out = BrowserFirstView()
        for run in 0..<runs {
            // A parameter the page ignores makes each visit a new navigation.
            try call(http, at + "/url", "POST", ["url": base + search + "&bench=\(run)"])
            var marks: [String: Double] = [:]
            let deadline = Date().addingTimeInterval(60)
            while marks["auditship:view-complete"] == nil && Date() < deadline {
                let value = try call(http, at + "/execute/sync", "POST", ["script": """
                    const m = {}; for (const e of performance.getEntriesByType('mark')) m[e.name] = e.startTime; return m;
                    """, "args": []])
                marks = (value as? [String: Any])?.compactMapValues { ($0 as? NSNumber)?.doubleValue } ?? [:]
                if marks["auditship:view-complete"] == nil { usleep(20_000) }
            }
            guard let page = marks["auditship:first-page"], let complete = marks["auditship:view-complete"] else {
                throw BenchError("the page did not show its first view within 60 s")
            }
            out.firstPage.append(page)
            out.complete.append(complete)
        }
        return out
    }

    @discardableResult
    private static func call(_ http: HTTPClient, _ url: String, _ method: String, _ body: Any?, timeout: Int = 30) throws -> Any? {
        try WebDriverProtocol.call(http, url, method: method, body, timeout: timeout)
    }

    private static func stop(_ p: Process) {
        guard p.isRunning else { return }
        kill(p.processIdentifier, SIGTERM)
        for _ in 0..<50 where p.isRunning { usleep(100_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }
}

private extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
