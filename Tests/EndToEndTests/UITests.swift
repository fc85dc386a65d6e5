import CurlClient
import Foundation
import Testing

/// `auditship ui` in a real browser: Debian's chromium, headless, driven through chromedriver.
/// Screenshots of each view go to $AUDITSHIP_SCREENSHOTS (default .build/ui-screenshots).
@Suite(.serialized) struct UITests {
    static var screenshots: String {
        let dir = ProcessInfo.processInfo.environment["AUDITSHIP_SCREENSHOTS"]
            ?? FileManager.default.currentDirectoryPath + "/.build/ui-screenshots"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The browser, or nil (with the reason printed) where it is not installed; CI installs it
    /// (Tests/run) and fails without it.
    static func browser() throws -> (chromium: String, chromedriver: String)? {
        if let b = WebDriver.binaries { return b }
        if ProcessInfo.processInfo.environment["CI"] != nil {
            throw HarnessError("chromium and chromium-driver are not installed; Tests/run installs them")
        }
        print("UITests skipped: chromium and chromium-driver are not installed (apt-get install chromium chromium-driver; Tests/run does)")
        return nil
    }

    /// A store of generated events plus one whose name and body are hostile markup, served by `auditship ui`.
    func serve(_ h: Harness) throws -> (url: String, port: Int, lines: [[String: Any]], ui: ChildProcess) {
        try h.run(["generate", "--events", "3000", "--seed", "8", "--start", "2026-12-01T00:00:00Z", "--rate", "1", "--out", h.dir + "/gen.log"])
        let hostile = #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"hostile-0001","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/configmaps","verb":"create","user":{"username":"mallory\u202egnp.exe"},"sourceIPs":["10.0.0.66"],"userAgent":"<img src=x onerror=\"window.__pwned=3\">","objectRef":{"resource":"configmaps","namespace":"default","name":"<script>window.__pwned=1</script>","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestObject":{"data":{"x":"\"><img src=x onerror=\"window.__pwned=2\">"}},"requestReceivedTimestamp":"2026-12-01T00:10:00.000000Z","stageTimestamp":"2026-12-01T00:10:00.001000Z"}"#
        let handle = try #require(FileHandle(forWritingAtPath: h.dir + "/gen.log"))
        handle.seekToEndOfFile()
        handle.write(Data((hostile + "\n").utf8))
        try handle.close()
        let text = try String(contentsOfFile: h.dir + "/gen.log", encoding: .utf8)
        let lines = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        try h.run(["backfill", "--store", h.storeURL, "--cluster", "prod", "--node", "m1", "--state-dir", h.dir + "/bstate", h.dir + "/gen.log"])
        let ui = try h.start(["ui", "--store", h.storeURL, "--port", "0", "--url-file", h.dir + "/ui.url"], log: "ui.log")
        try h.waitUntil("the UI prints its URL", seconds: 30) { FileManager.default.fileExists(atPath: h.dir + "/ui.url") }
        let url = try String(contentsOfFile: h.dir + "/ui.url", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let port = Int(url.dropFirst("http://127.0.0.1:".count).prefix { $0.isNumber }) ?? 0
        return (url, port, lines, ui)
    }

    /// The quickstart prints how to look at its store; that command, followed, shows the store's
    /// events in the browser (the count is the store's, a row opens its detail).
    @Test func theQuickstartsStoreInTheBrowser() throws {
        guard let (chromium, chromedriver) = try Self.browser() else { return }
        let h = try Harness()
        let work = h.dir + "/quickstart"
        let (_, printed) = try h.run(["quickstart", "--dir", work, "--events", "2000"])
        let command = try #require(printed.split(separator: "\n").first { $0.contains("look at it in a browser:") }, "the quickstart printed no UI command:\n\(printed.suffix(2000))")
        let store = "sqlite:" + work + "/store.sqlite"
        #expect(command.contains("auditship ui --store " + store))
        let (_, total) = try h.run(["query", "--store", store, "--count"])
        let stored = try #require(Int(total.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(stored > 0)
        let ui = try h.start(["ui", "--store", store, "--port", "0", "--url-file", h.dir + "/qs-ui.url"], log: "qs-ui.log")
        defer { kill(ui.processIdentifier, SIGTERM); ui.waitUntilExit() }
        try h.waitUntil("the UI prints its URL", seconds: 30) { FileManager.default.fileExists(atPath: h.dir + "/qs-ui.url") }
        let url = try String(contentsOfFile: h.dir + "/qs-ui.url", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let browser = try WebDriver(dir: h.dir, chromium: chromium, chromedriver: chromedriver)
        defer { browser.quit() }
        try browser.open(url)
        // Its events were written moments ago: the last 24 hours (the page's default) hold them all.
        try browser.wait("the page counts the quickstart's \(stored) events", seconds: 30) { Int(try browser.text("#match-count")) == stored }
        let auditID = try #require(try browser.script("return document.querySelector('tr.event-row').dataset.auditid;") as? String)
        try browser.click("tr.event-row")
        try browser.wait("the detail shows the event") { try browser.text("#detail-json").contains(auditID) }
    }

    /// Without the token, or from another Host, nothing but a refusal; the token URL sets a cookie and drops the token.
    @Test func onlyTheTokenOpensIt() throws {
        let h = try Harness()
        let (url, port, _, ui) = try serve(h)
        defer { kill(ui.processIdentifier, SIGTERM); ui.waitUntilExit() }
        let http = try HTTPClient(tls: ClientTLSConfiguration())
        let base = "http://127.0.0.1:\(port)"
        for path in ["/", "/assets/app.js", "/v1/events", "/v1/facets", "/ui/info"] {
            let r = try http.request(method: "GET", url: base + path)
            #expect(r.status == 401, "\(path)")
            #expect(!r.bodyText.contains("auditID"))
        }
        let token = String(url.split(separator: "=").last ?? "")
        let wrong = try http.request(method: "GET", url: base + "/?token=" + String(repeating: "0", count: token.count))
        #expect(wrong.status == 401)
        // DNS rebinding: another site's name resolving to 127.0.0.1 is refused even with the cookie.
        let rebound = try http.request(method: "GET", url: base + "/v1/events", headers: ["Host: attacker.example:\(port)", "Cookie: auditship_ui=\(token)"])
        #expect(rebound.status == 403)
        let first = try http.request(method: "GET", url: url + "&q=verb:get")
        #expect(first.status == 303)
        #expect(first.headers["location"] == "/?q=verb%3Aget")
        #expect(first.headers["set-cookie"]?.contains("HttpOnly") == true && first.headers["set-cookie"]?.contains("SameSite=Strict") == true)
        let page = try http.request(method: "GET", url: base + "/", headers: ["Cookie: auditship_ui=\(token)"])
        #expect(page.status == 200)
        #expect(page.headers["content-security-policy"]?.contains("script-src 'self'") == true)
        #expect(page.headers["x-content-type-options"] == "nosniff")
        let api = try http.request(method: "GET", url: base + "/v1/events?limit=1", headers: ["Authorization: Bearer \(token)"])
        #expect(api.status == 200 && api.bodyText.contains("\"cluster\":\"prod\""))
    }

    /// `auditship ui --aggregator` asks the aggregator with a reader certificate; a certificate that
    /// may not read gets the aggregator's refusal through the UI, and the UI's own token still guards it.
    @Test func throughTheAggregatorWithAReaderCertificate() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "prod", nodes: ["m1"], readers: ["admin"])
        try h.run(["generate", "--events", "500", "--seed", "9", "--start", "2026-12-01T00:00:00Z", "--rate", "1", "--out", h.dir + "/gen.log"])
        try h.run(["backfill", "--store", h.storeURL, "--cluster", "prod", "--node", "m1", "--state-dir", h.dir + "/bstate", h.dir + "/gen.log"])
        let text = try String(contentsOfFile: h.dir + "/gen.log", encoding: .utf8)
        let gets = text.split(separator: "\n").filter { $0.contains(#""verb":"get""#) }.count
        try h.startAggregator()
        func ui(_ name: String, cert: String, key: String) throws -> (ChildProcess, String, String) {
            let p = try h.start(["ui", "--aggregator", "https://\(h.aggregatorAddress)", "--tls-cert", cert, "--tls-key", key,
                                 "--ca", h.certs + "/ca.pem", "--port", "0", "--url-file", h.dir + "/\(name).url"], log: "\(name).log")
            try h.waitUntil("the UI prints its URL", seconds: 30) { FileManager.default.fileExists(atPath: h.dir + "/\(name).url") }
            let url = try String(contentsOfFile: h.dir + "/\(name).url", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            var base = String(url.prefix { $0 != "?" })
            if base.hasSuffix("/") { base.removeLast() }
            return (p, base, String(url.split(separator: "=").last ?? ""))
        }
        let http = try HTTPClient(tls: ClientTLSConfiguration())
        let (reader, base, token) = try ui("reader", cert: h.certs + "/reader-admin.pem", key: h.certs + "/reader-admin-key.pem")
        defer { kill(reader.processIdentifier, SIGTERM); reader.waitUntilExit() }
        let auth = ["Authorization: Bearer \(token)"]
        let count = try http.request(method: "GET", url: base + "/v1/events?count=true&q=verb:get&since=2026-11-30T00:00:00Z", headers: auth)
        #expect(count.status == 200)
        #expect(Int(count.bodyText.trimmingCharacters(in: .whitespacesAndNewlines)) == gets)
        let page = try http.request(method: "GET", url: base + "/v1/events?limit=10&since=2026-11-30T00:00:00Z", headers: auth)
        #expect(page.status == 200 && page.bodyText.split(separator: "\n").count == 10)
        #expect(page.headers["x-auditship-next-cursor"]?.isEmpty == false, "the cursor header is passed back")
        let facets = try http.request(method: "GET", url: base + "/v1/facets?fields=verb&top=3&since=2026-11-30T00:00:00Z", headers: auth)
        #expect(facets.status == 200 && facets.bodyText.contains(#""value":"get""#))
        #expect(try http.request(method: "GET", url: base + "/v1/events?count=true").status == 401, "no token, no answer")
        // An agent's certificate may not read: the aggregator's 403 comes through.
        let (agent, agentBase, agentToken) = try ui("agent", cert: h.certs + "/agent-prod-m1.pem", key: h.certs + "/agent-prod-m1-key.pem")
        defer { kill(agent.processIdentifier, SIGTERM); agent.waitUntilExit() }
        let refused = try http.request(method: "GET", url: agentBase + "/v1/events?count=true", headers: ["Authorization: Bearer \(agentToken)"])
        #expect(refused.status == 403 && refused.bodyText.contains("reader"))
    }

    @Test func searchFacetsDetailAndHostileContentInTheBrowser() throws {
        guard let (chromium, chromedriver) = try Self.browser() else { return }
        let h = try Harness()
        let (url, _, lines, ui) = try serve(h)
        defer { kill(ui.processIdentifier, SIGTERM); ui.waitUntilExit() }
        let browser = try WebDriver(dir: h.dir, chromium: chromium, chromedriver: chromedriver)
        defer { browser.quit() }
        let shots = Self.screenshots
        func count() throws -> Int? { Int(try browser.text("#match-count")) }
        func bars() throws -> Int {
            (try browser.script("return [...document.querySelectorAll('#histogram rect.bar')].reduce((s, b) => s + Number(b.dataset.count || 0), 0);") as? Int) ?? -1
        }

        // Opening a search URL shows every event of the window, and the histogram holds them all.
        try browser.open(url + "&since=2026-12-01T00:00:00Z&until=2026-12-01T02:00:00Z")
        try browser.wait("the page shows \(lines.count) matching events") { try count() == lines.count }
        try browser.wait("the histogram's bars add up to the count") { try bars() == lines.count }
        try browser.wait("the result rows are shown") { (try browser.script("return document.querySelectorAll('tr.event-row').length;") as? Int ?? 0) > 0 }
        try browser.screenshot(shots + "/ui-search.png")

        // Typing a search: the count is the log's own.
        let deletes = lines.filter { $0["verb"] as? String == "delete" }.count
        try browser.type("#search-input", "verb:delete")
        try browser.click("#search-button")
        try browser.wait("the count is that of the deletes (\(deletes))") { try count() == deletes }
        try browser.wait("every row shown is a delete") {
            try browser.script("return [...new Set([...document.querySelectorAll('tr.event-row')].map(r => r.children[3].textContent))];") as? [String] == ["delete"]
        }

        // A facet value narrows the search to its own count.
        let facet = try browser.script("""
            const v = document.querySelector('.facet-value[data-field="user"]');
            return v ? [v.dataset.value, Number(v.querySelector('.count').textContent)] : null;
            """) as? [Any]
        let user = try #require(facet?.first as? String)
        let userCount = try #require(facet?.last as? Int)
        try browser.click(".facet-value[data-field=\"user\"] .facet-include")
        try browser.wait("the count is the facet's (\(userCount))") { try count() == userCount }
        let expected = lines.filter { $0["verb"] as? String == "delete" && (($0["user"] as? [String: Any])?["username"] as? String) == user }.count
        #expect(userCount == expected)
        #expect(try browser.script("return document.getElementById('search-input').value;") as? String == "verb:delete user:\(user.contains(":") ? "\"\(user)\"" : user)"
                || (try browser.script("return document.getElementById('search-input').value;") as? String)?.contains(user) == true)
        #expect(try browser.script("return location.search.includes('q=');") as? Bool == true)

        // Excluding a value (the facet's "−"): the rest of the deletes.
        try browser.type("#search-input", "verb:delete")
        try browser.click("#search-button")
        try browser.wait("the count is that of the deletes again") { try count() == deletes }
        let excluded = try browser.script("""
            const v = document.querySelector('.facet-value[data-field="user"]');
            return v ? [v.dataset.value, Number(v.querySelector('.count').textContent)] : null;
            """) as? [Any]
        let excludedCount = try #require(excluded?.last as? Int)
        _ = try browser.script("document.querySelector('.facet-value[data-field=\"user\"] .facet-exclude').click(); return null;")
        try browser.wait("the count is the deletes but that user's (\(deletes - excludedCount))") { try count() == deletes - excludedCount }
        #expect((try browser.script("return document.getElementById('search-input').value;") as? String)?.contains("-user:") == true)

        // Event detail: the stored event, pretty-printed.
        let auditID = try #require(try browser.script("return document.querySelector('tr.event-row').dataset.auditid;") as? String)
        try browser.click("tr.event-row")
        try browser.wait("the detail shows the event") { try browser.text("#detail-json").contains(auditID) }
        try browser.screenshot(shots + "/ui-detail.png")

        // Hostile content renders as text: no script ran, no element was made from it.
        try browser.click("#detail-close")
        try browser.type("#search-input", #"name:"<script>window.__pwned=1</script>""#)
        try browser.click("#search-button")
        try browser.wait("the hostile event is found") { try count() == 1 }
        try browser.wait("its row is shown") { (try browser.script("return document.querySelectorAll('tr.event-row').length;") as? Int) == 1 }
        try browser.click("tr.event-row")
        try browser.wait("its detail is shown") { try browser.text("#detail-json").contains("hostile-0001") }
        let state = try browser.script("""
            return [window.__pwned === undefined, document.scripts.length, document.querySelectorAll('img').length,
                    document.querySelector('tr.event-row').textContent.includes('<script>')];
            """) as? [Any]
        #expect(state?[0] as? Bool == true, "a script from the event ran")
        #expect(state?[1] as? Int == 1, "only the page's own script")
        #expect(state?[2] as? Int == 0, "an element was made from the event's text")
        #expect(state?[3] as? Bool == true, "the name is shown as text")
        try browser.screenshot(shots + "/ui-hostile.png")

        // A search the server cannot take says why, and the page stays usable.
        try browser.click("#detail-close")
        try browser.type("#search-input", "colour:red")
        try browser.click("#search-button")
        try browser.wait("the error names the term") { try browser.text("#error").contains("'colour' is not a field") }
    }
}
