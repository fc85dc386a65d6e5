import Foundation
import Testing

@testable import AuditAlerts

/// Sigma rule text around a detection block (hand-made; logsource kubernetes/audit unless given).
func sigmaRule(
    title: String = "Test rule", id: String? = "0b6f7a52-90c4-4c1e-8d8e-2f5f9d7c1a01", level: String = "high",
    logsource: String = "product: kubernetes\n    service: audit", detection: String
) -> String {
    var text = "title: \(title)\n"
    if let id { text += "id: \(id)\n" }
    text += "status: test\nlogsource:\n    \(logsource)\ndetection:\n\(detection)\nlevel: \(level)\n"
    return text
}

/// Loads Sigma (and our) documents without the built-in pack.
func loadSigma(_ texts: [String]) throws(AlertRulesError) -> AlertRuleSet {
    try AlertRuleSet.load(
        files: texts.enumerated().map { AlertRulesSource(yaml: $1, source: "rule\($0 + 1).yml") }, includeBuiltins: false)
}

/// The error diagnostics of loading, or [] when it loads.
func sigmaErrors(_ texts: [String]) -> [AlertDiagnostic] {
    do {
        _ = try loadSigma(texts)
        return []
    } catch {
        return error.diagnostics
    }
}

/// An event from a JSON object literal.
func eventView(_ object: [String: Any]) -> AuditEventView { AuditEventView(dictionary: object) }

/// An event from JSON text (as from `auditEvent`).
func eventView(json: String) -> AuditEventView {
    AuditEventView(data: Data(json.utf8)) ?? AuditEventView(dictionary: [:])
}

/// Whether the one rule of a detection matches the event.
func sigmaMatches(_ detection: String, _ event: AuditEventView) throws -> Bool {
    let set = try loadSigma([sigmaRule(detection: detection)])
    #expect(set.rules.count == 1)
    return !AlertEngine(rules: set).matchingRules(view: event).isEmpty
}

/// A minimal ResponseComplete event with `fields` on top.
func bareEvent(_ fields: [String: Any]) -> AuditEventView {
    var e: [String: Any] = ["kind": "Event", "auditID": "a1", "stage": "ResponseComplete", "verb": "get"]
    for (k, v) in fields { e[k] = v }
    return eventView(e)
}
