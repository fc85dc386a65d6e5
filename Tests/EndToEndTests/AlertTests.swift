import CurlClient
import Foundation
import Gzip
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// End-to-end: alerts evaluated at the aggregator as events arrive, sent to a webhook from a
/// persistent outbox.
@Suite(.serialized) struct AlertTests {
    static func now(offset seconds: Double = 0) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date().addingTimeInterval(seconds))
    }

    /// Real-shaped events that fire, in order, the built-in rules secret-read-by-non-system-user,
    /// pod-exec and cluster-admin-binding.
    static func firingEvents() -> [(rule: String, line: String)] {
        let t = now()
        return [
            ("secret-read-by-non-system-user", #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0b6f5a52-0001-4c1e-9e55-32fbeea29301","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/secrets/db-password","verb":"get","user":{"username":"alice@example.com","groups":["system:authenticated"]},"sourceIPs":["10.1.2.3"],"userAgent":"kubectl/v1.30.2 (linux/amd64) kubernetes/3968350","objectRef":{"resource":"secrets","namespace":"payments","name":"db-password","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"\#(t)","stageTimestamp":"\#(t)","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed"}}"#),
            ("pod-exec", #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0b6f5a52-0002-4c1e-9e55-32fbeea29302","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/pods/api-7d9f/exec?command=sh&container=api&stdin=true&tty=true","verb":"create","user":{"username":"bob@example.com","groups":["system:authenticated"]},"sourceIPs":["10.1.2.4"],"userAgent":"kubectl/v1.30.2 (linux/amd64) kubernetes/3968350","objectRef":{"resource":"pods","namespace":"payments","name":"api-7d9f","apiVersion":"v1","subresource":"exec"},"responseStatus":{"metadata":{},"code":101},"requestReceivedTimestamp":"\#(t)","stageTimestamp":"\#(t)","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed"}}"#),
            ("cluster-admin-binding", #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"0b6f5a52-0003-4c1e-9e55-32fbeea29303","stage":"ResponseComplete","requestURI":"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings","verb":"create","user":{"username":"mallory@example.com","groups":["system:authenticated"]},"sourceIPs":["10.1.2.5"],"userAgent":"kubectl/v1.30.2 (linux/amd64) kubernetes/3968350","objectRef":{"resource":"clusterrolebindings","name":"backdoor","apiGroup":"rbac.authorization.k8s.io","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestObject":{"kind":"ClusterRoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"backdoor"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"mallory@example.com"}]},"requestReceivedTimestamp":"\#(t)","stageTimestamp":"\#(t)","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed"}}"#),
        ]
    }

    func append(_ lines: [String], to path: String) throws {
        let h = try #require(FileHandle(forWritingAtPath: path))
        try h.seekToEnd()
        try h.write(contentsOf: Data(lines.map { $0 + "\n" }.joined().utf8))
        try h.close()
    }

    /// An agent ships events that fire three rules, among older generated ones; the first
    /// alert is delivered, the second meets a failing receiver, the aggregator restarts with it
    /// in the outbox and the third event arrives while it is down. The receiver ends up with
    /// exactly three notifications, one per rule; a re-delivered event fires nothing again;
    /// `alerts list` shows the three as sent.
    @Test func threeRulesThreeNotificationsAcrossARestart() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "prod", nodes: ["m1"])
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        // Older events (2026-01-01): evaluated and recorded when they fire, never sent.
        let log = "\(h.dir)/audit.log"
        let noise = try h.generate(events: 300, seed: 5, node: "m1", to: log)
        let aggregatorFlags = ["--alert-webhook", receiver.url, "--alert-retry-max", "1s", "--metrics-listen", "127.0.0.1:0"]
        try h.startAggregator(extra: aggregatorFlags)
        let agent = try h.start(h.agentArguments(cluster: "prod", node: "m1", path: log, state: "\(h.dir)/state",
                                                 extra: ["--batch-linger-ms", "50"]), log: "agent.log")
        try h.waitUntil("the old events are stored", seconds: 60) { try h.count() >= noise.count }
        let firing = Self.firingEvents()

        try append([firing[0].line], to: log)
        try h.waitUntil("the first alert is delivered", seconds: 60) { receiver.delivered.count >= 1 }

        receiver.answer(503)
        try append([firing[1].line], to: log)
        try h.waitUntil("the second alert is tried and refused", seconds: 60) { receiver.requests.count >= 2 }
        h.stopAggregator()  // SIGTERM, with the second alert still in the outbox
        try append([firing[2].line], to: log)
        usleep(500_000)
        receiver.answer(200)
        try h.startAggregator(extra: aggregatorFlags)
        try h.waitUntil("three alerts are delivered", seconds: 90) { receiver.delivered.count >= 3 }

        // A re-delivery of the same events (a retrying client) is stored once and fires nothing.
        let client = try HTTPClient(tls: ClientTLSConfiguration(
            certificateFile: h.certs + "/agent-prod-m1.pem", keyFile: h.certs + "/agent-prod-m1-key.pem", caFile: h.certs + "/ca.pem"))
        let again = try client.request(method: "POST", url: "https://\(h.aggregatorAddress)/v1/batches", headers: [
            "Content-Encoding: gzip", "X-Auditship-Cluster: prod", "X-Auditship-Node: m1",
        ], body: try Gzip.compress(Array(firing.map { $0.line + "\n" }.joined().utf8)), timeoutSeconds: 30)
        #expect(again.status == 200)
        #expect(again.bodyText.contains("\"duplicates\":3"), "\(again.bodyText)")
        usleep(2_000_000)

        let delivered = receiver.delivered
        #expect(delivered.count == 3, "exactly three notifications (got \(delivered.count))")
        let bodies = delivered.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.body))) as? [String: Any] }
        #expect(bodies.compactMap { $0["rule"] as? String } == firing.map(\.rule))
        #expect(Set(delivered.compactMap { $0.headers["x-auditship-alert-id"] }).count == 3)
        #expect(bodies.allSatisfy { $0["cluster"] as? String == "prod" && $0["node"] as? String == "m1" })
        // Every body has the members Protocols/schemas/alert-notification.json requires, and no other.
        let schemaData = try Data(contentsOf: URL(fileURLWithPath: Harness.repositoryRoot + "/Protocols/schemas/alert-notification.json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: schemaData) as? [String: Any])
        let required = Set(schema["required"] as? [String] ?? [])
        let known = Set((schema["properties"] as? [String: Any] ?? [:]).keys)
        for body in bodies {
            #expect(required.isSubset(of: Set(body.keys)), "missing: \(required.subtracting(body.keys))")
            #expect(Set(body.keys).isSubset(of: known), "undocumented: \(Set(body.keys).subtracting(known))")
        }
        #expect(receiver.requests.count > 3, "the refused attempt was retried")

        let (_, out) = try h.run(["alerts", "list", "--store", h.storeURL, "--since", "1h", "--format", "json"])
        let listed = splitLines(Data(out.utf8)).compactMap { (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any] }
        let sent = listed.filter { $0["notify"] as? Bool == true }
        #expect(sent.compactMap { $0["rule"] as? String } == firing.map(\.rule))
        #expect(sent.allSatisfy { $0["delivered"] as? Bool == true })
        #expect(listed.filter { $0["notify"] as? Bool == false }.allSatisfy { ($0["eventTime"] as? String ?? "").hasPrefix("2026-01-01") })

        // Prometheus: a counter per rule (since the restart: the restarted aggregator recorded the third).
        let metrics = try HTTPClient(tls: ClientTLSConfiguration())
        let text = try metrics.request(method: "GET", url: "http://\(try h.metricsAddress(log: "aggregator.log"))/metrics").bodyText
        let (samples, _) = try PrometheusParser.parse(text)
        #expect(samples.contains { $0.name == "auditship_aggregator_alerts_total" && $0.labels["rule"] == "cluster-admin-binding"
                && $0.labels["severity"] == "critical" && $0.labels["notify"] == "true" && $0.value == 1 })
        #expect(samples.contains { $0.name == "auditship_aggregator_alert_notifications_total" && $0.labels["result"] == "delivered" && $0.value >= 1 })
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
    }

    /// A directory of Sigma rules (and one of ours with a field-map entry) given to --alert-rules: the
    /// event that matches the Sigma rule fires it once, at ResponseComplete (its RequestReceived
    /// does not), and the notification and `alerts list` name it by title with its id and level.
    @Test func sigmaRuleFromADirectoryFiresWithItsIDAndLevel() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "prod", nodes: ["m1"])
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let rules = "\(h.dir)/rules"
        try FileManager.default.createDirectory(atPath: rules, withIntermediateDirectories: true)
        try """
            title: Payments secret read outside CI
            id: 5d1e7c3a-8f2b-4a6e-9b0c-7e4f3a2d1c0b
            logsource: {product: kubernetes, service: audit}
            detection:
                sel:
                    verb: get
                    objectRef.resource: secrets
                    team: payments
                ci:
                    user.username|startswith: 'system:serviceaccount:ci:'
                condition: sel and not ci
            level: high
            """.write(toFile: rules + "/payments.yml", atomically: true, encoding: .utf8)
        try "apiVersion: auditship.io/v1\nkind: AlertRules\nsigmaFieldMap:\n  team: objectRef.namespace\n"
            .write(toFile: rules + "/fields.yaml", atomically: true, encoding: .utf8)
        try "title: GKE only\nlogsource: {product: gcp, service: gcp.audit}\ndetection:\n    sel: {verb: get}\n    condition: sel\n"
            .write(toFile: rules + "/gke.yml", atomically: true, encoding: .utf8)
        try h.startAggregator(extra: ["--alert-webhook", receiver.url, "--alert-retry-max", "1s", "--alert-rules", rules])
        let secretRead = Self.firingEvents()[0].line
        let received = secretRead.replacingOccurrences(of: #""stage":"ResponseComplete""#, with: #""stage":"RequestReceived""#)
        let client = try HTTPClient(tls: ClientTLSConfiguration(
            certificateFile: h.certs + "/agent-prod-m1.pem", keyFile: h.certs + "/agent-prod-m1-key.pem", caFile: h.certs + "/ca.pem"))
        let response = try client.request(method: "POST", url: "https://\(h.aggregatorAddress)/v1/batches", headers: [
            "Content-Encoding: gzip", "X-Auditship-Cluster: prod", "X-Auditship-Node: m1",
        ], body: try Gzip.compress(Array((received + "\n" + secretRead + "\n").utf8)), timeoutSeconds: 30)
        #expect(response.status == 200, "\(response.bodyText)")
        // The built-in secret-read rule fires too; wait for both.
        try h.waitUntil("two alerts are delivered", seconds: 60) { receiver.delivered.count >= 2 }
        usleep(1_000_000)
        let bodies = receiver.delivered.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.body))) as? [String: Any] }
        let sigma = bodies.filter { $0["ruleID"] != nil }
        #expect(sigma.count == 1, "\(bodies)")
        #expect(sigma.first?["rule"] as? String == "Payments secret read outside CI")
        #expect(sigma.first?["ruleID"] as? String == "5d1e7c3a-8f2b-4a6e-9b0c-7e4f3a2d1c0b")
        #expect(sigma.first?["level"] as? String == "high")
        #expect(sigma.first?["severity"] as? String == "high")
        #expect(sigma.first?["stage"] as? String == "ResponseComplete")
        #expect(bodies.filter { $0["ruleID"] == nil }.compactMap { $0["rule"] as? String } == ["secret-read-by-non-system-user"])
        let (_, out) = try h.run(["alerts", "list", "--store", h.storeURL, "--since", "1h", "--format", "json"])
        let listed = splitLines(Data(out.utf8)).compactMap { (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any] }
        #expect(listed.compactMap { $0["ruleID"] as? String } == ["5d1e7c3a-8f2b-4a6e-9b0c-7e4f3a2d1c0b"])
        #expect(listed.compactMap { $0["level"] as? String } == ["high"])

        // The same directory through `alerts test` (a warning for the GKE rule) and `alerts check`.
        let events = "\(h.dir)/events.log"
        try (received + "\n" + secretRead + "\n").write(toFile: events, atomically: true, encoding: .utf8)
        let (_, tested) = try h.run(["alerts", "test", "--rules", rules, "--no-builtins", "--format", "json", events])
        #expect(tested.contains("warning: \(rules)/gke.yml:2:12: skipped Sigma rule 'GKE only'"), "\(tested)")
        let lines = tested.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(lines == [#"{"rule":"Payments secret read outside CI","severity":"high","auditID":"0b6f5a52-0001-4c1e-9e55-32fbeea29301","stage":"ResponseComplete","ruleID":"5d1e7c3a-8f2b-4a6e-9b0c-7e4f3a2d1c0b","level":"high"}"#])
        let (_, checked) = try h.run(["alerts", "check", rules])
        #expect(checked.contains("1 rules checked, 0 findings"), "\(checked)")

        // A named log that cannot be read fails the run, after the readable one was evaluated.
        let missing = "\(h.dir)/no-such.log"
        let (_, partly) = try h.run(["alerts", "test", "--rules", rules, "--no-builtins", "--format", "json", events, missing], expectStatus: 1)
        #expect(partly.contains(#""ruleID":"5d1e7c3a-8f2b-4a6e-9b0c-7e4f3a2d1c0b""#), "\(partly)")
        #expect(partly.contains("\(missing): skipped: \(missing): cannot read the file: No such file or directory"), "\(partly)")
        #expect(partly.contains("error: 1 of 2 log file(s) could not be read"), "\(partly)")
    }
}
