import ArgumentParser
import CurlClient

/// Where a reading command reads: a store directly, or an aggregator with a reader certificate
/// (`query`, `alerts hunt`).
struct ReadSourceOptions: ParsableArguments {
    @Option(help: "Store URL: sqlite:PATH or postgres://USER@HOST:PORT/DB.") var store: String?
    @Option(help: "File holding the PostgreSQL password (else PGPASSWORD).") var storePasswordFile: String?
    @Option(help: "Aggregator URL (with --tls-cert/--tls-key/--ca of a reader).") var aggregator: String?
    @Option(help: "Reader certificate (PEM), with --aggregator.") var tlsCert: String?
    @Option(help: "Reader key (PEM), with --aggregator.") var tlsKey: String?
    @Option(help: "CA of the aggregator (PEM), with --aggregator.") var ca: String?

    func validate() throws {
        if (store == nil) == (aggregator == nil) { throw ValidationError("give exactly one of --store or --aggregator") }
    }

    /// The reader certificate's TLS settings for `--aggregator`.
    var tls: ClientTLSConfiguration { ClientTLSConfiguration(certificateFile: tlsCert, keyFile: tlsKey, caFile: ca) }
}
