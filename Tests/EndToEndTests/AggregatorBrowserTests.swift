import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real browser on the aggregator's own HTTPS listener: Chromium presents a reader certificate
/// from its NSS database (picked by the managed policy `AutoSelectCertificateForUrls`, as an
/// organisation would deploy it), trusts the development CA from the same database, and the
/// aggregator serves it the page and answers its searches. Without the certificate, nothing.
@Suite struct AggregatorBrowserTests {
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

    @Test func aBrowserWithAReaderCertificateSearchesOnTheAggregator() throws {
        guard let (chromium, chromedriver) = try UITests.browser() else { return }
        let nss = ["/usr/bin/certutil", "/usr/bin/pk12util"]
        guard nss.allSatisfy({ FileManager.default.isExecutableFile(atPath: $0) }) else {
            if ProcessInfo.processInfo.environment["CI"] != nil { throw HarnessError("certutil and pk12util (libnss3-tools) are not installed; Tests/run installs them") }
            print("AggregatorBrowserTests skipped: certutil and pk12util are not installed (apt-get install libnss3-tools; Tests/run does)")
            return
        }
        // Chromium reads managed policies from /etc only: a test that may not write there says so.
        let policies = "/etc/chromium/policies/managed"
        guard getuid() == 0 else {
            print("AggregatorBrowserTests skipped: writing Chromium's managed policy (\(policies)) needs root")
            return
        }
        let h = try Harness()
        try h.makeCertificates(cluster: "prod", nodes: ["m1"], readers: ["alice"])
        try h.run(["generate", "--events", "400", "--seed", "12", "--start", "2026-12-01T00:00:00Z", "--rate", "1", "--out", h.dir + "/gen.log"])
        try h.run(["backfill", "--store", h.storeURL, "--cluster", "prod", "--node", "m1", "--state-dir", h.dir + "/bstate", h.dir + "/gen.log"])
        let gets = try String(contentsOfFile: h.dir + "/gen.log", encoding: .utf8).split(separator: "\n").filter { $0.contains(#""verb":"get""#) }.count
        try h.startAggregator()
        defer { h.stopAggregator() }
        let base = "https://\(h.aggregatorAddress)"

        // The browser's own home: an NSS database holding the CA (trusted for servers) and alice's
        // certificate with its key; a second home holds the CA alone.
        func home(_ name: String, withAlice: Bool) throws -> String {
            let home = h.dir + "/" + name
            let db = "sql:" + home + "/.pki/nssdb"
            try FileManager.default.createDirectory(atPath: home + "/.pki/nssdb", withIntermediateDirectories: true)
            try tool("/usr/bin/certutil", ["-N", "-d", db, "--empty-password"])
            try tool("/usr/bin/certutil", ["-A", "-d", db, "-n", "auditship development CA", "-t", "C,,", "-i", h.certs + "/ca.pem"])
            if withAlice {
                try tool("/usr/bin/openssl", ["pkcs12", "-export", "-in", h.certs + "/reader-alice.pem", "-inkey", h.certs + "/reader-alice-key.pem",
                                              "-out", h.dir + "/alice.p12", "-passout", "pass:"])
                try tool("/usr/bin/pk12util", ["-i", h.dir + "/alice.p12", "-d", db, "-W", ""])
            }
            return home
        }
        let aliceHome = try home("browser-alice", withAlice: true)
        let bareHome = try home("browser-bare", withAlice: false)

        // The policy names this aggregator's address only, so no other test's browser is affected.
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        let policy = policies + "/auditship-test-\(getpid())-\(h.aggregatorAddress.split(separator: ":").last ?? "0").json"
        let rule = #"{"pattern":"\#(base)","filter":{}}"#
        let json = try JSONSerialization.data(withJSONObject: ["AutoSelectCertificateForUrls": [rule]])
        try json.write(to: URL(fileURLWithPath: policy))
        defer { try? FileManager.default.removeItem(atPath: policy) }

        let browser = try WebDriver(dir: h.dir, chromium: chromium, chromedriver: chromedriver, environment: ["HOME": aliceHome])
        defer { browser.quit() }
        try browser.open(base + "/?q=verb:get&since=2026-11-30T00:00:00Z")
        try browser.wait("the aggregator's page shows the count of gets", seconds: 30) { Int(try browser.text("#match-count")) == gets }
        let rows = try browser.script("return document.querySelectorAll('#results tr.event-row').length;") as? Int
        #expect((rows ?? 0) > 0)
        let who = try browser.script("return fetch('/ui/info').then(r => r.json()).then(j => j.user);") as? String
        #expect(who?.contains("alice") == true, "the aggregator names the reader the browser presented: \(who ?? "nil")")
        try? browser.screenshot(UITests.screenshots + "/ui-aggregator-reader-certificate.png")

        // A browser that trusts the CA but holds no certificate gets no page and no answer.
        try FileManager.default.createDirectory(atPath: h.dir + "/bare", withIntermediateDirectories: true)
        let bare = try WebDriver(dir: h.dir + "/bare", chromium: chromium, chromedriver: chromedriver, environment: ["HOME": bareHome])
        defer { bare.quit() }
        try? bare.open(base + "/")
        let title = (try? bare.script("return document.title;") as? String) ?? ""
        let body = (try? bare.text("body")) ?? ""
        #expect(title != "auditship" && !body.contains("Search"), "a browser without a certificate got the page: \(title)")
    }
}
