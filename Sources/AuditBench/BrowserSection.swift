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

    /// Where Debian puts them; nil when either is missing.
    static var binaries: (chromium: String, chromedriver: String)? {
        let chromium = ["/usr/bin/chromium", "/usr/lib/chromium/chromium"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let driver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let chromium, let driver else { return nil }
        return (chromium, driver)
    }

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
        let port = try freePort()
        let driverProcess = Process()
        driverProcess.executableURL = URL(fileURLWithPath: chromedriver)
        driverProcess.arguments = ["--port=\(port)", "--allowed-ips=127.0.0.1"]
        driverProcess.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        driverProcess.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try driverProcess.run()
        defer { stop(driverProcess) }
        let http = try HTTPClient(tls: ClientTLSConfiguration())
        let driver = "http://127.0.0.1:\(port)"
        var ready = false
        for _ in 0..<100 where !ready {
            if let r = try? http.request(method: "GET", url: driver + "/status", timeoutSeconds: 2, connectTimeoutSeconds: 1),
               r.status == 200, r.bodyText.contains("\"ready\":true") { ready = true } else { usleep(100_000) }
        }
        guard ready else { throw BenchError("chromedriver did not become ready") }
        let caps: [String: Any] = ["capabilities": ["alwaysMatch": [
            "browserName": "chrome",
            "goog:chromeOptions": ["binary": chromium, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,900",
                "--user-data-dir=\(bench.dir)/chromium-profile", "--no-first-run", "--disable-extensions",
            ]],
        ] as [String: Any]]]
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
        let data = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data("{}".utf8)
        let r = try http.request(method: method, url: url, headers: ["Content-Type: application/json"],
                                 body: method == "GET" ? [] : [UInt8](data), timeoutSeconds: timeout)
        let value = ((try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any])?["value"]
        guard r.status == 200 else { throw BenchError("WebDriver \(method) \(url): \(r.status) \(r.bodyText.prefix(300))") }
        return value
    }

    private static func stop(_ p: Process) {
        guard p.isRunning else { return }
        kill(p.processIdentifier, SIGTERM)
        for _ in 0..<50 where p.isRunning { usleep(100_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw BenchError("no free port on 127.0.0.1") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

private extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
