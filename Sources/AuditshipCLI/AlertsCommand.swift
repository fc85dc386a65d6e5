import ArgumentParser
import AuditAlerts
import Foundation

struct AlertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts",
        abstract: "Alert rules on audit events.",
        subcommands: [AlertsTestCommand.self, AlertsCheckCommand.self, AlertsListCommand.self, AlertsHuntCommand.self])
}

struct AlertsTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Print which events of audit logs fire which alert rules (for rule authors).",
        discussion: """
            Without --rules the built-in pack is used; with --rules, the files are applied on top of it
            (a rule of the same name overrides the built-in one; `disable:` turns built-ins off).
            --rules also takes Sigma rules (product kubernetes, service audit) and directories of
            .yml/.yaml files, told apart by content; a Sigma rule for another log source is skipped
            with a warning on stderr. Reads JSON lines, pretty-printed JSON events, JSON arrays and
            EventLists. Thresholds and suppression run on each event's own timestamp. --format json
            prints one object per firing: {"rule":"…","severity":"…","auditID":"…","stage":"…"}, and
            for a Sigma rule (named by its title) also "ruleID" (its id) and "level" (its level).
            Exits 1 when a named log file cannot be read (after evaluating and printing the others).
            """)

    enum Format: String, ExpressibleByArgument { case table, json }

    @Option(help: "Alert rules file, Sigma rule file, or a directory of them (repeatable).") var rules: [String] = []
    @Flag(help: "Use only the given rules, not the built-in pack.") var noBuiltins = false
    @Option(help: "table or json.") var format: Format = .table
    @Argument(help: "Audit log files.") var logs: [String]

    func run() throws {
        let ruleSet: AlertRuleSet
        do {
            ruleSet = rules.isEmpty && !noBuiltins ? .builtin : try AlertRuleSet.load(paths: rules, includeBuiltins: !noBuiltins)
        } catch {
            throw ValidationError("\(error)")
        }
        for warning in ruleSet.warnings {
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
        }
        var all: [AlertFiring] = []
        var unreadable = 0
        for log in logs {
            let report = AlertTester.run(path: log, rules: ruleSet)
            if report.unreadable { unreadable += 1 }
            for p in report.problems {
                FileHandle.standardError.write(Data("\(log): skipped: \(p)\n".utf8))
            }
            if report.events == 0 && !report.problems.isEmpty {
                FileHandle.standardError.write(Data("\(log): no audit events read\n".utf8))
            }
            all += report.firings
        }
        switch format {
        case .json: FileHandle.standardOutput.write(Data(AlertFiringRenderer.jsonLines(all).utf8))
        case .table: print(all.isEmpty ? "no rule fired" : AlertFiringRenderer.table(all))
        }
        // What could be read was evaluated and printed; a named log that could not be read at
        // all makes the run fail, so that a script does not take a missing file for "nothing fired".
        if unreadable > 0 {
            FileHandle.standardError.write(Data("error: \(unreadable) of \(logs.count) log file(s) could not be read\n".utf8))
            throw ExitCode(1)
        }
    }
}
