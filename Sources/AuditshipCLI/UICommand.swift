import ArgumentParser
import AuditAggregator
import AuditStore
import AuditUI
import Foundation

/// `auditship ui`: the web UI over a store, served on 127.0.0.1 behind a random token.
struct UICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ui",
        abstract: "Open the web UI over a store: search, time histogram, field values, event detail.",
        discussion: """
            Serves on 127.0.0.1 only (nothing is opened to the network) and prints the URL to open,
            with a random token in it, like a notebook server; without the token nothing but a
            refusal is served. Through a port-forward or an SSH tunnel, open the same URL on your
            machine. The store is opened read-only, so it can be the one a running aggregator writes.
            """)

    @Option(help: "Store URL: sqlite:PATH or postgres://USER@HOST:PORT/DB.") var store: String
    @Option(help: "File holding the PostgreSQL password (else PGPASSWORD).") var storePasswordFile: String?
    @Option(help: "Port on 127.0.0.1 (0: any free port).") var port: Int = 8484
    @Option(help: "Also write the URL to this file once listening (for scripts; it holds the token: mode 0600).") var urlFile: String?

    func run() async throws {
        let logger = try LogSetup.logger("auditship.ui", level: "notice")
        let location = try StoreLocation(store)
        let db = try await Aggregator.openStore(location, passwordFile: storePasswordFile, readOnly: true, logger: logger)
        let server = UIServer(store: db, source: "\(location)", port: port, logger: logger)
        let urlFile = self.urlFile
        do {
            try await server.run { url in
                FileHandle.standardOutput.write(Data("auditship ui: open \(url)\n(serving \(location) on 127.0.0.1 only; Ctrl-C stops it)\n".utf8))
                if let urlFile {
                    _ = FileManager.default.createFile(atPath: urlFile + ".tmp", contents: Data((url + "\n").utf8), attributes: [.posixPermissions: 0o600])
                    _ = rename(urlFile + ".tmp", urlFile)
                }
            }
        } catch {
            try? await db.close()
            throw error
        }
        try await db.close()
    }
}
