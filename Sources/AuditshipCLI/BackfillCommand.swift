import ArgumentParser
import AuditAgent
import AuditAggregator
import AuditBackfill
import AuditModel
import AuditStore
import AuditWire
import Foundation
import Logging

struct BackfillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Ship historical audit logs (rotated, gzipped, archived) through the aggregator or straight into a store.",
        discussion: """
            PATH is a file, a directory (read recursively) or a glob; plain and gzip files are told apart by
            their first bytes. Per directory, kube-apiserver's and logrotate's backups are read oldest first,
            the live file last. JSON lines, pretty-printed events, JSON arrays and EventLists (v1 and v1beta1)
            are read; a line or item that is not an audit event is counted and reported, never fatal.

            A checkpoint per input file (STATE-DIR/backfill.json) moves only after the aggregator or store
            acknowledged, so an interrupted backfill (Ctrl-C, SIGTERM, SIGKILL) continues where it stopped when
            the same command runs again; events already stored are not stored twice, and a repeated run says so.
            """)

    @Option(help: "Cluster id; with --aggregator it must match the certificate.") var cluster: String
    @Option(help: "Node name the events came from.") var node: String
    @Option(help: "Directory for the backfill's checkpoints.") var stateDir: String
    @Option(help: "Aggregator URL, https://HOST:PORT (repeatable: failover in order, as the agent).") var aggregator: [String] = []
    @Option(help: "Client certificate (PEM), with --aggregator.") var tlsCert: String?
    @Option(help: "Client private key (PEM), with --aggregator.") var tlsKey: String?
    @Option(help: "CA of the aggregator's certificate (PEM), with --aggregator.") var ca: String?
    @Option(help: "Write straight into this store instead: sqlite:PATH or postgres://USER@HOST:PORT/DB.") var store: String?
    @Option(help: "File holding the PostgreSQL password (else PGPASSWORD), with --store.") var storePasswordFile: String?
    @Option(help: "Only events at or after this time (RFC 3339).") var since: String?
    @Option(help: "Only events before this time (RFC 3339).") var until: String?
    @Option(help: "Events per second at most.") var rateLimit: Double?
    @Option(help: "Kubernetes audit Policy applied before shipping.") var policy: String?
    @Option(help: "Events per batch. Default 1000.") var batchMaxEvents: Int?
    @Option(help: "With --store: batches hashed and sealed at once, committed together (default 4; 1 writes one after another).") var storeBatches: Int = 4
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String = "warning"
    @Argument(help: "Files, directories or globs to read.") var paths: [String]

    func validate() throws {
        if aggregator.isEmpty == (store == nil) { throw ValidationError("give either --aggregator (with --tls-cert, --tls-key, --ca) or --store") }
        if !aggregator.isEmpty && (tlsCert == nil || tlsKey == nil || ca == nil) {
            throw ValidationError("--aggregator needs --tls-cert, --tls-key and --ca")
        }
        if let since, Timestamp(rfc3339: since) == nil { throw ValidationError("--since '\(since)' is not an RFC 3339 time") }
        if let until, Timestamp(rfc3339: until) == nil { throw ValidationError("--until '\(until)' is not an RFC 3339 time") }
        if let rateLimit, rateLimit <= 0 { throw ValidationError("--rate-limit must be above 0") }
        if paths.isEmpty { throw ValidationError("name at least one PATH to read") }
        // The same names a certificate may carry (Protocols/identity.md), also when writing a store directly.
        do {
            try ClientIdentity.validate(cluster, "--cluster")
            try ClientIdentity.validate(node, "--node")
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() async throws {
        let logger = try LogSetup.logger("auditship.backfill", level: logLevel)
        var options = BackfillOptions(cluster: cluster, node: node, stateDirectory: stateDir, paths: paths)
        options.since = since.flatMap { Timestamp(rfc3339: $0) }
        options.until = until.flatMap { Timestamp(rfc3339: $0) }
        options.rateLimit = rateLimit
        options.policyFile = policy
        if let batchMaxEvents { options.batchMaxEvents = max(1, batchMaxEvents) }
        StopSignal.install()
        let sink: any BackfillSink
        var opened: (any EventStore)?
        if !aggregator.isEmpty, let tlsCert, let tlsKey, let ca {
            var c = AgentConfiguration(aggregatorURLs: aggregator, cluster: cluster, node: node, paths: paths, stateDirectory: stateDir,
                                       tlsCertificateFile: tlsCert, tlsKeyFile: tlsKey, caFile: ca)
            c.batchMaxEvents = options.batchMaxEvents
            sink = try AggregatorSink(configuration: c, logger: logger)
        } else if let store {
            let db = try await Aggregator.openStore(try StoreLocation(store), passwordFile: storePasswordFile, logger: logger)
            opened = db
            sink = StoreSink(store: db, cluster: cluster, node: node, concurrentBatches: storeBatches)
        } else {
            throw ValidationError("give either --aggregator or --store")
        }
        let backfill = try Backfill(options: options, sink: sink, logger: logger, progress: BackfillProgress())
        let result: BackfillSummary
        do {
            result = try await backfill.run()
        } catch {
            try? await opened?.close()
            throw error
        }
        try await opened?.close()
        if result.interrupted { throw ExitCode(130) }
    }
}
