import ArgumentParser
import AuditGenerator
import AuditModel
import Foundation

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a deterministic, realistic kube-apiserver audit log (audit.k8s.io/v1, one event a line).")

    @Option(help: "Number of events to write.") var events: Int = 10_000
    @Option(help: "Seed: the same seed gives the same log.") var seed: UInt64 = 1
    @Option(help: "Control-plane node the log is from.") var node: String = "master-1"
    @Option(help: "Simulated time of the first event (RFC 3339).") var start: String = "2026-01-01T00:00:00Z"
    @Option(help: "Average events per simulated second.") var rate: Double = 100
    @Option(help: "Output file (default: standard output).") var out: String?

    func validate() throws {
        guard events >= 0 else { throw ValidationError("--events must be 0 or more") }
        guard rate > 0 else { throw ValidationError("--rate must be positive") }
        guard Timestamp(rfc3339: start) != nil else { throw ValidationError("--start '\(start)' is not an RFC 3339 time") }
    }

    func run() throws {
        guard let startTime = Timestamp(rfc3339: start) else { throw ValidationError("--start '\(start)' is not an RFC 3339 time") }
        let generator = AuditLogGenerator(GeneratorConfiguration(events: events, seed: seed, node: node, start: startTime, rate: rate))
        let sink = try OutputSink(path: out)
        try writeAll(generator, to: sink)
    }
}

/// Writes lines with newlines through a large buffer.
func writeAll(_ generator: AuditLogGenerator, to sink: OutputSink) throws {
    var buffer: [UInt8] = []
    buffer.reserveCapacity(1 << 20)
    for line in generator {
        buffer.append(contentsOf: line)
        buffer.append(0x0A)
        if buffer.count >= 1 << 20 {
            try sink.write(buffer)
            buffer.removeAll(keepingCapacity: true)
        }
    }
    try sink.write(buffer)
    try sink.close()
}

/// A file or standard output.
final class OutputSink {
    let handle: FileHandle
    let isStdout: Bool

    init(path: String?) throws {
        if let path {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw ValidationError("cannot create '\(path)'")
            }
            guard let h = FileHandle(forWritingAtPath: path) else { throw ValidationError("cannot open '\(path)' for writing") }
            handle = h
            isStdout = false
        } else {
            handle = FileHandle.standardOutput
            isStdout = true
        }
    }

    func write(_ bytes: [UInt8]) throws {
        if !bytes.isEmpty { try handle.write(contentsOf: bytes) }
    }

    func close() throws {
        if !isStdout { try handle.close() }
    }
}
