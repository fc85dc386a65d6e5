import Foundation
import SharedFixtures
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real browser on the aggregator's own HTTPS listener: Chromium presents a reader certificate
/// from its NSS database (picked by the managed policy `AutoSelectCertificateForUrls`, as an
/// organisation would deploy it), trusts the development CA from the same database, and the
/// aggregator serves it the page and answers its searches. Without the certificate, nothing.
/// Serialized: Chromium reads one value of a policy when several files set it, so two browsers of
/// this suite at once would see one aggregator's address only.
@Suite(.serialized) struct AggregatorBrowserTests {
    /// Runs a tool; throws with its output when it fails.
    func tool(_ path: String, _ arguments: [String], input: String? = nil) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        let stdin = Pipe()
        p.standardInput = stdin
        try p.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw HarnessError("\(path) \(arguments.joined(separator: " ")) exited \(p.terminationStatus): \(text)") }
    }

    /// A browser for the aggregator `h` runs: alice's reader certificate in an NSS database of its
    /// own (or, `withCertificate: false`, the CA alone), picked by a managed policy naming this
    /// aggregator's address only (removed by `cleanUp`). Nil, with the reason printed, where the
    /// machine cannot.
    func browser(for h: Harness, withCertificate: Bool = true) throws -> (WebDriver, cleanUp: () -> Void)? {
        guard let (chromium, chromedriver) = try UITests.browser() else { return nil }
        let nss = ["/usr/bin/certutil", "/usr/bin/pk12util"]
        guard nss.allSatisfy({ FileManager.default.isExecutableFile(atPath: $0) }) else {
            if ProcessInfo.processInfo.environment["CI"] != nil { throw HarnessError("certutil and pk12util (libnss3-tools) are not installed; Tests/run installs them") }
            print("AggregatorBrowserTests skipped: certutil and pk12util are not installed (apt-get install libnss3-tools; Tests/run does)")
            return nil
        }
        // Chromium reads managed policies from /etc only: a test that may not write there says so.
        let policies = "/etc/chromium/policies/managed"
        guard getuid() == 0 else {
            print("AggregatorBrowserTests skipped: writing Chromium's managed policy (\(policies)) needs root")
            return nil
        }
        let name = withCertificate ? "browser-alice" : "browser-bare"
        let home = h.dir + "/" + name
        let db = "sql:" + home + "/.pki/nssdb"
        try FileManager.default.createDirectory(atPath: home + "/.pki/nssdb", withIntermediateDirectories: true)
        try tool("/usr/bin/certutil", ["-N", "-d", db, "--empty-password"])
        try tool("/usr/bin/certutil", ["-A", "-d", db, "-n", "auditship development CA", "-t", "C,,", "-i", h.certs + "/ca.pem"])
        if withCertificate {
            try tool("/usr/bin/openssl", ["pkcs12", "-export", "-in", h.certs + "/reader-alice.pem", "-inkey", h.certs + "/reader-alice-key.pem",
                                          "-out", h.dir + "/alice.p12", "-passout", "pass:"])
            try tool("/usr/bin/pk12util", ["-i", h.dir + "/alice.p12", "-d", db, "-W", ""])
        }
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        // A file left by a run that was killed would shadow this one.
        for stale in (try? FileManager.default.contentsOfDirectory(atPath: policies)) ?? [] where stale.hasPrefix("auditship-test-") {
            try? FileManager.default.removeItem(atPath: policies + "/" + stale)
        }
        let policy = policies + "/auditship-test-\(getpid())-\(name)-\(h.aggregatorAddress.split(separator: ":").last ?? "0").json"
        let rule = #"{"pattern":"https://\#(h.aggregatorAddress)","filter":{}}"#
        try JSONSerialization.data(withJSONObject: ["AutoSelectCertificateForUrls": [rule]]).write(to: URL(fileURLWithPath: policy))
        let driverDir = h.dir + "/" + name + "-driver"
        try FileManager.default.createDirectory(atPath: driverDir, withIntermediateDirectories: true)
        do {
            let browser = try WebDriver(dir: driverDir, chromium: chromium, chromedriver: chromedriver, environment: ["HOME": home])
            return (browser, { browser.quit(); try? FileManager.default.removeItem(atPath: policy) })
        } catch {
            try? FileManager.default.removeItem(atPath: policy)
            throw error
        }
    }

    @Test func aBrowserWithAReaderCertificateSearchesOnTheAggregator() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "prod", nodes: ["m1"], readers: ["alice"])
        try h.run(["generate", "--events", "400", "--seed", "12", "--start", "2026-12-01T00:00:00Z", "--rate", "1", "--out", h.dir + "/gen.log"])
        try h.run(["backfill", "--store", h.storeURL, "--cluster", "prod", "--node", "m1", "--state-dir", h.dir + "/bstate", h.dir + "/gen.log"])
        let gets = try String(contentsOfFile: h.dir + "/gen.log", encoding: .utf8).split(separator: "\n").filter { $0.contains(#""verb":"get""#) }.count
        try h.startAggregator()
        defer { h.stopAggregator() }
        let base = "https://\(h.aggregatorAddress)"
        guard let (browser, cleanUp) = try browser(for: h) else { return }
        defer { cleanUp() }
        try browser.open(base + "/?q=verb:get&since=2026-11-30T00:00:00Z")
        try browser.wait("the aggregator's page shows the count of gets", seconds: 30) { Int(try browser.text("#match-count")) == gets }
        let rows = try browser.script("return document.querySelectorAll('#results tr.event-row').length;") as? Int
        #expect((rows ?? 0) > 0)
        let who = try browser.script("return fetch('/ui/info').then(r => r.json()).then(j => j.user);") as? String
        #expect(who?.contains("alice") == true, "the aggregator names the reader the browser presented: \(who ?? "nil")")
        try? browser.screenshot(UITests.screenshots + "/ui-aggregator-reader-certificate.png")

        // A browser that trusts the CA but holds no certificate gets no page and no answer.
        guard let (bare, cleanUpBare) = try self.browser(for: h, withCertificate: false) else { return }
        defer { cleanUpBare() }
        try? bare.open(base + "/")
        let title = (try? bare.script("return document.title;") as? String) ?? ""
        let body = (try? bare.text("body")) ?? ""
        #expect(title != "auditship" && !body.contains("Search"), "a browser without a certificate got the page: \(title)")
    }

    /// The public real-world logs (../shared), backfilled and searched on the aggregator in the
    /// browser: the count the page shows is the store's, and an event's detail shows its bytes.
    @Test(.needsShared("real-world/audit-logs"))
    func realWorldEventsOnTheAggregatorInTheBrowser() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "rw", nodes: ["n"], readers: ["alice"])
        try h.run(["backfill", "--cluster", "rw", "--node", "n", "--state-dir", h.dir + "/bstate", "--store", h.storeURL,
                   SharedData.path("real-world/audit-logs")])
        let stored = try h.count()
        let deletes = try h.count(["--verb", "delete"])
        #expect(stored > 100 && deletes > 0)
        try h.startAggregator()
        defer { h.stopAggregator() }
        guard let (browser, cleanUp) = try browser(for: h) else { return }
        defer { cleanUp() }
        let base = "https://\(h.aggregatorAddress)"
        try browser.open(base + "/?q=&since=2000-01-01T00:00:00Z&until=2030-01-01T00:00:00Z")
        try browser.wait("the page counts every real-world event (\(stored))", seconds: 30) { Int(try browser.text("#match-count")) == stored }
        try browser.open(base + "/?q=verb:delete&since=2000-01-01T00:00:00Z&until=2030-01-01T00:00:00Z")
        try browser.wait("the page counts the deletes (\(deletes))", seconds: 30) { Int(try browser.text("#match-count")) == deletes }
        let auditID = try #require(try browser.script("return document.querySelector('tr.event-row').dataset.auditid;") as? String)
        try browser.click("tr.event-row")
        try browser.wait("the detail shows the event") { try browser.text("#detail-json").contains(auditID) }
    }
}
