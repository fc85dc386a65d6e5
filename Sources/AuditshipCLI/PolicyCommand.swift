import ArgumentParser
import AuditAgent
import AuditModel
import AuditPolicy
import Foundation

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Check, evaluate and simulate Kubernetes audit Policies (audit.k8s.io/v1 and v1beta1).",
        subcommands: [PolicyCheckCommand.self, PolicyEvalCommand.self, PolicySimulateCommand.self])
}

func readPolicyText(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read policy file '\(path)'") }
    return String(decoding: data, as: UTF8.self)
}

struct PolicyCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a policy; print its rules with their meaning and warn about rules that can never match.",
        discussion: "Exits 1 when the policy has errors (it would not load), 0 otherwise.")

    @Argument(help: "Policy YAML file.") var file: String

    func run() throws {
        let report = AuditPolicy.check(yaml: try readPolicyText(file), source: file)
        print(report.renderText())
        if report.hasErrors { throw ExitCode(1) }
    }
}

struct PolicyEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Print the policy's decision for each event, one JSON line each.",
        discussion: """
            Output: {"auditID":…,"stage":…,"level":"…","omitStage":true|false,"omitManagedFields":true|false,"rule":N}
            where rule is the 0-based index of the matching rule, or null. Reads standard input when no file is given.
            """)

    @Option(help: "Policy YAML file.") var policy: String
    @Argument(help: "Event files (JSON lines, plain or gzip).") var files: [String] = []

    func run() throws {
        let p: AuditPolicy
        do { p = try AuditPolicy.parse(yaml: try readPolicyText(policy), source: policy) } catch let e as PolicyError {
            throw ValidationError("\(e)")
        }
        let filter = PolicyFilter(policy: p)
        var out: [UInt8] = []
        var malformed = 0
        func handle(_ piece: LineSplitter.Piece, source: String, line: inout Int) {
            line += 1
            guard case .line(let bytes, _, _) = piece, !bytes.isEmpty else { return }
            do {
                let e = try EventScanner.scan(bytes)
                let d = filter.decide(e)
                let omit = AuditStage(rawValue: e.stage).map { d.omitStages.contains($0) } ?? false
                let text = "{\"auditID\":\(JSONText.quote(e.auditID)),\"stage\":\(JSONText.quote(e.stage)),\"level\":\"\(d.level.rawValue)\",\"omitStage\":\(omit),\"omitManagedFields\":\(d.omitManagedFields),\"rule\":\(d.ruleIndex.map(String.init) ?? "null")}\n"
                out.append(contentsOf: Array(text.utf8))
                if out.count > 1 << 16 { FileHandle.standardOutput.write(Data(out)); out.removeAll(keepingCapacity: true) }
            } catch {
                malformed += 1
                FileHandle.standardError.write(Data("\(source):\(line): skipped: \(error)\n".utf8))
            }
        }
        if files.isEmpty {
            var splitter = LineSplitter()
            var line = 0
            while let chunk = try FileHandle.standardInput.read(upToCount: 1 << 16), !chunk.isEmpty {
                splitter.feed([UInt8](chunk)) { handle($0, source: "<stdin>", line: &line) }
            }
            if splitter.hasPartialLine { splitter.feed([0x0A]) { handle($0, source: "<stdin>", line: &line) } }
        } else {
            for f in files {
                var line = 0
                try LogFileReader(path: f).forEachLine { handle($0, source: f, line: &line) }
            }
        }
        FileHandle.standardOutput.write(Data(out))
        if malformed > 0 { FileHandle.standardError.write(Data("\(malformed) line(s) skipped as malformed\n".utf8)) }
    }
}

struct PolicySimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Show what a policy would have done to existing logs: events and bytes before and after, per rule and level.")

    enum Format: String, ExpressibleByArgument { case table, json }

    @Option(help: "Policy YAML file.") var policy: String
    @Option(help: "table or json.") var format: Format = .table
    @Option(help: "How many top talkers (user × verb × resource) to list.") var top: Int = 10
    @Argument(help: "Audit logs (JSON lines, plain or gzip).") var logs: [String]

    func run() throws {
        let p: AuditPolicy
        do { p = try AuditPolicy.parse(yaml: try readPolicyText(policy), source: policy) } catch let e as PolicyError {
            throw ValidationError("\(e)")
        }
        let filter = PolicyFilter(policy: p)
        var sim = PolicySimulation(policy: p, topTalkers: top)
        var malformed = 0
        for log in logs {
            var line = 0
            try LogFileReader(path: log).forEachLine { piece in
                line += 1
                guard case .line(let bytes, _, _) = piece, !bytes.isEmpty else { return }
                guard let e = try? EventScanner.scan(bytes) else {
                    malformed += 1
                    if malformed <= 5 { FileHandle.standardError.write(Data("\(log):\(line): skipped: not an audit event\n".utf8)) }
                    return
                }
                let decision = filter.decide(e)
                let outcome: SimulatedOutcome
                switch try filter.apply(bytes, e).0 {
                case .keep: outcome = .kept(bytesAfter: bytes.count + 1)
                case .rewrite(let edited): outcome = .kept(bytesAfter: edited.count + 1)
                case .drop: outcome = .dropped
                }
                let minute = e.orderTimestamp.microseconds / 60_000_000
                sim.record(request: PolicyFilter.request(for: e), stage: AuditStage(rawValue: e.stage), originalLevel: e.level, minute: minute,
                           bytesBefore: bytes.count + 1, outcome: outcome, decision: decision)
            }
        }
        if malformed > 0 { FileHandle.standardError.write(Data("\(malformed) line(s) skipped as not audit events\n".utf8)) }
        let report = sim.report()
        switch format {
        case .table: print(report.renderTable())
        case .json: print(try report.renderJSON())
        }
    }
}
