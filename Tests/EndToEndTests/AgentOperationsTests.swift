import CurlClient
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A strict parser of the Prometheus text exposition format (0.0.4):
/// every line is a HELP/TYPE comment or `name{label="value",…} number`.
struct PrometheusParser {
    struct Sample: Hashable { var name: String; var labels: [String: String]; var value: Double }
    enum Failure: Error, CustomStringConvertible {
        case bad(line: Int, text: String, why: String)
        var description: String { if case .bad(let l, let t, let w) = self { return "line \(l): \(w): \(t)" }; return "" }
    }

    static func parse(_ text: String) throws -> (samples: [Sample], types: [String: String]) {
        var samples: [Sample] = []
        var types: [String: String] = [:]
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3)
                guard parts.count >= 3, parts[1] == "HELP" || parts[1] == "TYPE" else { throw Failure.bad(line: i + 1, text: String(line), why: "bad comment") }
                if parts[1] == "TYPE" {
                    guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else {
                        throw Failure.bad(line: i + 1, text: String(line), why: "bad TYPE")
                    }
                    types[String(parts[2])] = String(parts[3])
                }
                continue
            }
            var chars = Array(line)
            var idx = 0
            func isNameChar(_ c: Character, first: Bool) -> Bool {
                c == "_" || c == ":" || (c.isASCII && c.isLetter) || (!first && c.isASCII && c.isNumber)
            }
            var name = ""
            while idx < chars.count, isNameChar(chars[idx], first: name.isEmpty) { name.append(chars[idx]); idx += 1 }
            guard !name.isEmpty else { throw Failure.bad(line: i + 1, text: String(line), why: "no metric name") }
            var labels: [String: String] = [:]
            if idx < chars.count, chars[idx] == "{" {
                idx += 1
                while idx < chars.count, chars[idx] != "}" {
                    var key = ""
                    while idx < chars.count, isNameChar(chars[idx], first: key.isEmpty), chars[idx] != ":" { key.append(chars[idx]); idx += 1 }
                    guard idx + 1 < chars.count, chars[idx] == "=", chars[idx + 1] == "\"" else { throw Failure.bad(line: i + 1, text: String(line), why: "bad label") }
                    idx += 2
                    var value = ""
                    while idx < chars.count, chars[idx] != "\"" {
                        if chars[idx] == "\\" {
                            idx += 1
                            guard idx < chars.count, ["\\", "\"", "n"].contains(chars[idx]) else { throw Failure.bad(line: i + 1, text: String(line), why: "bad escape") }
                            value.append(chars[idx] == "n" ? "\n" : chars[idx])
                        } else { value.append(chars[idx]) }
                        idx += 1
                    }
                    guard idx < chars.count else { throw Failure.bad(line: i + 1, text: String(line), why: "unterminated label value") }
                    idx += 1
                    labels[key] = value
                    if idx < chars.count, chars[idx] == "," { idx += 1 }
                }
                guard idx < chars.count else { throw Failure.bad(line: i + 1, text: String(line), why: "unterminated labels") }
                idx += 1
            }
            guard idx < chars.count, chars[idx] == " " else { throw Failure.bad(line: i + 1, text: String(line), why: "no space before value") }
            chars = Array(chars[(idx + 1)...])
            let valueText = String(chars).split(separator: " ").first.map(String.init) ?? ""
            guard let value = Double(valueText) ?? (valueText == "NaN" ? .nan : nil) else {
                throw Failure.bad(line: i + 1, text: String(line), why: "bad value")
            }
            samples.append(Sample(name: name, labels: labels, value: value))
        }
        return (samples, types)
    }
}

@Suite(.serialized) struct AgentOperationsTests {
    @Test func metricsParseAndCountWhatHappened() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "m", nodes: ["n1"])
        let log = "\(h.dir)/audit.log"
        var lines = try h.generate(events: 1000, seed: 41, node: "n1", to: log).map { String(decoding: $0, as: UTF8.self) }
        lines.insert("garbage", at: 5)
        try (lines.joined(separator: "\n") + "\n").write(toFile: log, atomically: true, encoding: .utf8)
        try h.startAggregator()
        let agent = try h.start(h.agentArguments(cluster: "m", node: "n1", path: log, state: "\(h.dir)/state",
                                                  extra: ["--metrics-listen", "127.0.0.1:0",
                                                          "--policy", Harness.repositoryRoot + "/Deploy/policies/recommended.yaml"]),
                                log: "agent.log")
        let address = try h.metricsAddress(log: "agent.log")
        let client = try HTTPClient(tls: ClientTLSConfiguration())
        var parsed: [PrometheusParser.Sample] = []
        try h.waitUntil("the agent caught up", seconds: 60) {
            let r = try client.request(method: "GET", url: "http://\(address)/metrics")
            #expect(r.status == 200)
            let (samples, types) = try PrometheusParser.parse(r.bodyText)
            #expect(types["auditship_agent_events_read_total"] == "counter")
            parsed = samples
            return samples.first { $0.name == "auditship_agent_events_read_total" }?.value == 1000
                && samples.first { $0.name == "auditship_agent_file_lag_bytes" }?.value == 0
        }
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            parsed.first { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }?.value
        }
        let dropped = try #require(value("auditship_agent_events_dropped_total", ["reason": "policy", "intentional": "true"]))
        let shipped = try #require(value("auditship_agent_events_shipped_total"))
        #expect(dropped + shipped == 1000)
        #expect(value("auditship_agent_events_dropped_total", ["reason": "invalid_json", "intentional": "false"]) == 1)
        #expect(try h.count() == Int(shipped))
        let health = try client.request(method: "GET", url: "http://\(address)/healthz")
        #expect(health.status == 200)
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
        #expect(agent.terminationStatus == 0)
    }

    /// SIGTERM while no aggregator answers: the agent gives up after its shutdown timeout,
    /// exits 0, and has not moved its checkpoint past anything unacknowledged.
    @Test func stopsWithinItsBoundWhenTheAggregatorIsDown() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "m", nodes: ["n1"])
        let log = "\(h.dir)/audit.log"
        let lines = try h.generate(events: 500, seed: 42, node: "n1", to: log)
        try h.startAggregator()
        h.stopAggregator()
        let args = h.agentArguments(cluster: "m", node: "n1", path: log, state: "\(h.dir)/state", extra: ["--shutdown-timeout-ms", "1500"])
        let agent = try h.start(args, log: "agent.log")
        try h.waitUntil("the agent retries", seconds: 30) { h.read("agent.log").contains("aggregator unreachable") }
        let stopAt = Date()
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
        let took = Date().timeIntervalSince(stopAt)
        #expect(agent.terminationStatus == 0)
        #expect(took < 30, "stopping took \(took) s")  // a bound, not a speed: the timeout is 1.5 s
        // Nothing was acknowledged, so a restart with an aggregator ships everything.
        try h.startAggregator()
        let (status, _) = try h.run(args + ["--exit-when-caught-up"])
        #expect(status == 0)
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(lines))
    }
}
