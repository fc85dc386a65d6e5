import ArgumentParser
import AuditAggregator
import AuditAlerts
import AuditHunt
import AuditModel
import AuditStore
import CurlClient
import Foundation

/// `auditship alerts hunt`: would these rules have fired on what is stored?
struct AlertsHuntCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hunt",
        abstract: "Run alert rules over stored events and print what would have fired (nothing is recorded or sent).",
        discussion: """
            Reads a store directly (--store) or through an aggregator with a reader certificate (--aggregator,
            --tls-cert, --tls-key, --ca; a reader limited to some clusters hunts only those). Rules as for
            `alerts test`: the built-in pack, plus --rules files (ours or Sigma, or directories of them);
            --no-builtins for the given rules alone.

            Each rule's condition says which values of user, verb, resource, subresource, namespace and
            response code an event must have for the rule to fire; the store's index reads only those events
            (a rule that can fire on any event makes the hunt read every event of the window once). Events are
            evaluated in timestamp order with each event's own time as the clock, so thresholds and
            suppression behave as they did live. --explain prints the scans on stderr.

            Output: a table, or with --format json one object per firing, the `alerts test` object with
            "cluster", "node", "eventTime" and "message" added. A summary goes to stderr: events read,
            seconds, events per second.
            """)

    enum Format: String, ExpressibleByArgument { case table, json }

    @OptionGroup var source: ReadSourceOptions
    @Option(help: "Alert rules file, Sigma rule file, or a directory of them (repeatable).") var rules: [String] = []
    @Flag(help: "Use only the given rules, not the built-in pack.") var noBuiltins = false
    @Option(help: "Only this cluster's events.") var cluster: String?
    @Option(help: "From this time (RFC 3339, or ago: 1h, 7d, 90d), inclusive.") var since: String = "24h"
    @Option(help: "Until this time (RFC 3339, or ago), exclusive. Default: now.") var until: String?
    @Option(help: "table or json.") var format: Format = .table
    @Flag(help: "Print each scan (its prefilter and rules) on stderr.") var explain = false

    func validate() throws {
        if source.aggregator != nil, source.tlsCert == nil || source.tlsKey == nil || source.ca == nil {
            throw ValidationError("--aggregator needs --tls-cert, --tls-key and --ca (a reader certificate)")
        }
        if rules.isEmpty && noBuiltins { throw ValidationError("--no-builtins needs --rules") }
    }

    func run() async throws {
        let ruleSet: AlertRuleSet
        do {
            ruleSet = rules.isEmpty ? .builtin : try AlertRuleSet.load(paths: rules, includeBuiltins: !noBuiltins)
        } catch {
            throw ValidationError("\(error)")
        }
        for warning in ruleSet.warnings { note("warning: \(warning)") }
        let now = QueryParameters.now
        guard let from = QueryParameters.time(since, now: now) else {
            throw ValidationError("--since '\(since)' is neither a duration (1h, 90d) nor an RFC 3339 time")
        }
        var to: Timestamp?
        if let until {
            guard let t = QueryParameters.time(until, now: now) else {
                throw ValidationError("--until '\(until)' is neither a duration (1h, 90d) nor an RFC 3339 time")
            }
            to = t
        }
        let plan = HuntPlan(rules: ruleSet)
        if !plan.inactiveRules.isEmpty { note("inactive (an empty list), not hunted: \(plan.inactiveRules.joined(separator: ", "))") }
        let report: HuntReport
        if let store = source.store {
            let logger = try LogSetup.logger("auditship.hunt", level: "warning")
            let db = try await Aggregator.openStore(try StoreLocation(store), passwordFile: source.storePasswordFile, readOnly: true, logger: logger)
            do {
                report = try await Hunter.run(rules: ruleSet, plan: plan, source: StoreHuntSource(store: db, cluster: cluster),
                                              since: from, until: to)
            } catch {
                try? await db.close()
                throw error
            }
            try? await db.close()
        } else if let aggregator = source.aggregator {
            report = try await Hunter.run(rules: ruleSet, plan: plan, source: AggregatorHuntSource(base: aggregator, tls: source.tls, cluster: cluster),
                                          since: from, until: to)
        } else {
            return
        }
        if explain {
            for (i, scan) in report.scanPlan.enumerated() {
                note("scan \(i + 1): \(scan.prefilter) — \(scan.rules.joined(separator: ", "))")
            }
        }
        switch format {
        case .json:
            FileHandle.standardOutput.write(Data(report.firings.map { AlertFiringRenderer.jsonWithContext($0) + "\n" }.joined().utf8))
        case .table:
            print(report.firings.isEmpty ? "no rule would have fired" : AlertFiringRenderer.table(report.firings), terminator: "")
        }
        let rate = report.seconds > 0 ? Int(Double(report.eventsRead) / report.seconds) : report.eventsRead
        note("hunted \(plan.scans.flatMap(\.rules).count) rules in \(report.scans) scan(s): \(report.eventsRead) events read (\(report.parsed) parsed) in "
             + String(format: "%.2f", report.seconds) + " s (\(rate) events/s), \(report.firings.count) would have fired"
             + (report.malformed > 0 ? ", \(report.malformed) events not readable as JSON" : ""))
    }

    func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
}
