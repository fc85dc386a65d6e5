import ArgumentParser
import AuditAlerts
import Foundation

struct AlertsCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check alert rule files (ours or Sigma): unknown fields, tests that can never match, duplicates.",
        discussion: """
            Loads the files as --alert-rules would (on top of the built-in pack; directories load their
            .yml/.yaml files) and prints what loading accepts but is likely wrong, one line each:
            FILE:LINE:COL: rule 'NAME': MESSAGE [KIND], KIND one of unknown_field (not a field of an
            audit event), never_matches (text against the integer responseStatus.code, a verb the
            apiserver never logs such as replace), duplicate_id (two Sigma rules with one id) and,
            with --logs, too_broad (the rule matches more than --max-share of those events). Errors
            of loading (duplicate names, unknown keys, refused Sigma features) are printed as they are.
            Exits 1 when there is an error or a finding, 0 when the files are clean.
            """)

    @Argument(help: "Rule files or directories.") var files: [String]
    @Option(help: "Audit logs to measure how much each rule matches (repeatable).") var logs: [String] = []
    @Option(help: "With --logs: report rules matching more than this share of the events (0 to 1).") var maxShare: Double = 0.2
    @Flag(help: "Check the built-in pack's rules too.") var builtins = false

    func validate() throws {
        guard (0...1).contains(maxShare) else { throw ValidationError("--max-share must be between 0 and 1") }
    }

    func run() throws {
        let set: AlertRuleSet
        do {
            set = try AlertRuleSet.load(paths: files)
        } catch {
            print(error.description)
            throw ExitCode.failure
        }
        for warning in set.warnings { print("\(warning) [warning]") }
        var findings = AlertRuleChecker.check(set, includeBuiltins: builtins)
        if !logs.isEmpty {
            var events: [AuditEventView] = []
            for log in logs {
                let contents = AuditEventFile.read(path: log)
                for p in contents.problems { FileHandle.standardError.write(Data("\(log): skipped: \(p)\n".utf8)) }
                events += contents.events
            }
            findings += AlertRuleChecker.broad(set, events: events, share: maxShare, includeBuiltins: builtins)
        }
        for f in findings { print(f.description) }
        let checked = set.rules.filter { builtins || !$0.origin.hasPrefix(BuiltinAlertRules.source + ":") }.count
        print("\(checked) rules checked, \(findings.count) findings")
        if !findings.isEmpty { throw ExitCode.failure }
    }
}
