import ArgumentParser
import AuditAggregator
import AuditStore
import Logging

struct AggregatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aggregator",
        abstract: "Run the central server: mutual-TLS ingest from agents and kube-apiserver's webhook, the store, queries.")

    @Option(help: "YAML file with any of these flags as keys (flags win).") var config: String?
    @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free one). Default 127.0.0.1:8443.") var listen: String?
    @Option(help: "Server certificate (PEM).") var tlsCert: String?
    @Option(help: "Server private key (PEM).") var tlsKey: String?
    @Option(help: "CA that signs client certificates (PEM).") var clientCa: String?
    @Option(help: "Store URL: sqlite:PATH or postgres://USER@HOST:PORT/DB[?sslmode=require].") var store: String?
    @Option(help: "File holding the PostgreSQL password (else PGPASSWORD).") var storePasswordFile: String?
    @Option(help: "Largest compressed request body, bytes. Default 16 MiB.") var maxBodyBytes: Int?
    @Option(help: "Largest decompressed batch, bytes. Default 64 MiB.") var maxDecompressedBytes: Int?
    @Option(help: "Largest single event, bytes. Default 4 MiB.") var maxEventBytes: Int?
    @Option(help: "Deepest JSON nesting accepted in an event. Default 100.") var maxJsonDepth: Int?
    @Option(help: "Write HOST:PORT to this file once listening.") var readyFile: String?
    @Option(help: "Serve /metrics, /healthz and /readyz over plain HTTP on HOST:PORT (no client certificate).") var metricsListen: String?
    @Option(help: "Delete events older than this (e.g. 90d, 12h). Default: keep everything.") var retention: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String?

    static let keys = ["listen", "tls-cert", "tls-key", "client-ca", "store", "max-body-bytes", "max-decompressed-bytes",
                       "max-event-bytes", "max-json-depth", "ready-file", "log-level", "metrics-listen", "retention", "store-password-file"]

    func run() async throws {
        let file = try ConfigFile(path: config, allowedKeys: Self.keys)
        let logger = try LogSetup.logger("auditship.aggregator", level: logLevel ?? file.string("log-level") ?? "info")
        let (host, port) = try parseHostPort(listen ?? file.string("listen") ?? "127.0.0.1:8443", flag: "listen")
        let location = try StoreLocation(try required(store, file.string("store"), "store"))
        var limits = IngestLimits()
        if let v = try maxBodyBytes ?? file.int("max-body-bytes") { limits.maxBodyBytes = v }
        if let v = try maxDecompressedBytes ?? file.int("max-decompressed-bytes") { limits.maxDecompressedBytes = v }
        if let v = try maxEventBytes ?? file.int("max-event-bytes") { limits.maxEventBytes = v }
        if let v = try maxJsonDepth ?? file.int("max-json-depth") { limits.maxJSONDepth = v }
        var configuration = AggregatorConfiguration(
            host: host, port: port,
            tlsCertificateFile: try required(tlsCert, file.string("tls-cert"), "tls-cert"),
            tlsKeyFile: try required(tlsKey, file.string("tls-key"), "tls-key"),
            clientCAFile: try required(clientCa, file.string("client-ca"), "client-ca"),
            store: location, limits: limits, readyFile: try readyFile ?? file.string("ready-file"))
        configuration.metricsListen = try metricsListen ?? file.string("metrics-listen")
        if let text = try retention ?? file.string("retention") {
            guard let d = parseDuration(text) else { throw ValidationError("--retention '\(text)' is not a duration like 90d, 12h, 30m or 45s") }
            configuration.retention = d
        }
        let eventStore = try await Aggregator.openStore(location, passwordFile: try storePasswordFile ?? file.string("store-password-file"), logger: logger)
        logger.info("store opened", metadata: ["store": "\(location)"])
        try await Aggregator(configuration: configuration, store: eventStore, logger: logger).run()
        try await eventStore.close()
        logger.info("aggregator stopped")
    }
}

func parseHostPort(_ text: String, flag: String) throws -> (String, Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
        throw ValidationError("--\(flag) '\(text)' must be HOST:PORT")
    }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    return (host.isEmpty ? "0.0.0.0" : host, port)
}

/// `90d`, `12h`, `30m`, `45s`, `500ms`.
func parseDuration(_ text: String) -> Duration? {
    let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000)]
    for (suffix, ms) in units where text.hasSuffix(suffix) {
        let number = text.dropLast(suffix.count)
        if let n = Int64(number), n >= 0, !(suffix == "s" && number.hasSuffix("m")) { return .milliseconds(n * ms) }
    }
    return nil
}
