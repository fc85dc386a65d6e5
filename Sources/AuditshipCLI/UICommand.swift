import ArgumentParser
import AuditAggregator
import AuditStore
import AuditUI
import CurlClient
import Foundation

/// `auditship ui`: the web UI over a store, served on 127.0.0.1 behind a random token.
struct UICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ui",
        abstract: "Open the web UI over a store or an aggregator: search, time histogram, field values, event detail.",
        discussion: """
            Serves on 127.0.0.1 only (nothing is opened to the network) and prints the URL to open,
            with a random token in it, like a notebook server; without the token nothing but a
            refusal is served. Through a port-forward or an SSH tunnel, open the same URL on your
            machine. Give --store (opened read-only, so it can be the one a running aggregator
            writes) or --aggregator with a reader certificate (--tls-cert, --tls-key, --ca).
            """)

    @Option(help: "Store URL: sqlite:PATH or postgres://USER@HOST:PORT/DB.") var store: String?
    @Option(help: "Aggregator base URL (https://HOST:PORT), asked with a reader certificate.") var aggregator: String?
    @Option(help: "Reader certificate (PEM), with --aggregator.") var tlsCert: String?
    @Option(help: "Reader private key (PEM), with --aggregator.") var tlsKey: String?
    @Option(help: "CA of the aggregator's certificate (PEM), with --aggregator.") var ca: String?
    @Option(help: "File holding the PostgreSQL password (else PGPASSWORD).") var storePasswordFile: String?
    @Option(help: "Port on 127.0.0.1 (0: any free port).") var port: Int = 8484
    @Option(help: "Also write the URL to this file once listening (for scripts; it holds the token: mode 0600).") var urlFile: String?

    func validate() throws {
        if (store == nil) == (aggregator == nil) { throw ValidationError("give exactly one of --store or --aggregator") }
        if aggregator != nil && (tlsCert == nil || tlsKey == nil || ca == nil) {
            throw ValidationError("--aggregator needs --tls-cert, --tls-key and --ca (a reader certificate)")
        }
    }

    func run() async throws {
        let logger = try LogSetup.logger("auditship.ui", level: "notice")
        var db: (any EventStore)?
        let source: any UIQuerySource
        if let store {
            let location = try StoreLocation(store)
            let opened = try await Aggregator.openStore(location, passwordFile: storePasswordFile, readOnly: true, logger: logger)
            db = opened
            source = StoreQuerySource(store: opened, label: "\(location)")
        } else {
            source = AggregatorQuerySource(base: aggregator ?? "", tls: ClientTLSConfiguration(certificateFile: tlsCert, keyFile: tlsKey, caFile: ca))
        }
        let server = UIServer(source: source, port: port, logger: logger)
        let urlFile = self.urlFile
        let label = source.label
        do {
            try await server.run { url in
                FileHandle.standardOutput.write(Data("auditship ui: open \(url)\n(serving \(label) on 127.0.0.1 only; Ctrl-C stops it)\n".utf8))
                if let urlFile {
                    _ = FileManager.default.createFile(atPath: urlFile + ".tmp", contents: Data((url + "\n").utf8), attributes: [.posixPermissions: 0o600])
                    _ = rename(urlFile + ".tmp", urlFile)
                }
            }
        } catch {
            try? await db?.close()
            throw error
        }
        try await db?.close()
    }
}
