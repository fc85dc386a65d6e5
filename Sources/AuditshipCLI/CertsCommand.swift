import ArgumentParser
import AuditWire
import Foundation
import OpenSSLKit

struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Development certificates for mutual TLS.",
        subcommands: [CertsInitCommand.self])
}

struct CertsInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a development CA, an aggregator certificate and client certificates; run again to add more.",
        discussion: """
            Files in DIR: ca.pem, ca-key.pem, aggregator.pem, aggregator-key.pem, agent-C-N.pem,
            agent-C-N-key.pem, reader-NAME.pem, reader-NAME-key.pem, webhook-C.pem, webhook-C-key.pem,
            checkpoint-key.pem (Ed25519: the aggregator's --checkpoint-key) and checkpoint-key.pub.pem
            (its public half: `verify --public-key`).
            Keys are written with mode 0600. Existing files are kept: running it again on the same DIR
            keeps the CA and adds the certificates that are missing. Identities are described in
            Protocols/identity.md.
            """)

    @Option(help: "Directory to write into.") var out: String
    @Option(help: "Cluster id the agent and webhook certificates write for.") var cluster: String?
    @Option(help: "Node name: one agent certificate each (repeatable).") var node: [String] = []
    @Option(help: "Reader: NAME (reads every cluster) or NAME=CLUSTER[,CLUSTER…] (reads those only); one query-only certificate each (repeatable).") var reader: [String] = []
    @Flag(help: "Also create a certificate for kube-apiserver's webhook backend of --cluster.") var webhook = false
    @Option(help: "Extra DNS name for the aggregator certificate (repeatable).") var serverName: [String] = []
    @Option(help: "Extra IP address for the aggregator certificate (repeatable).") var serverIP: [String] = []
    @Option(help: "Validity of new leaf certificates, in days.") var days: Int = 365

    func validate() throws {
        if (!node.isEmpty || webhook) && cluster == nil { throw ValidationError("--node and --webhook need --cluster") }
        if let cluster { try ClientIdentity.validate(cluster, "cluster") }
        for n in node { try ClientIdentity.validate(n, "node") }
        for r in reader { _ = try Self.readerIdentity(r) }
    }

    /// `NAME` or `NAME=CLUSTER[,CLUSTER…]` as the reader's identity.
    static func readerIdentity(_ text: String) throws -> ClientIdentity {
        let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let clusters = parts.count == 2 ? "/" + parts[1].split(separator: ",", omittingEmptySubsequences: false).joined(separator: "+") : ""
        let uri = ClientIdentity.scheme + "reader/" + parts[0] + clusters
        do {
            return try ClientIdentity(uri: uri)
        } catch {
            throw ValidationError("--reader '\(text)': \(error.message)")
        }
    }

    func run() throws {
        let issued = try CertificateAuthorityDirectory(path: out).ensure(
            cluster: cluster, nodes: node, readers: reader, webhook: webhook,
            serverNames: serverName, serverIPs: serverIP, days: days)
        for line in issued { print(line) }
    }
}

/// A directory of development certificates.
struct CertificateAuthorityDirectory {
    let path: String

    /// Creates what is missing; returns one line per file created or kept.
    func ensure(cluster: String?, nodes: [String], readers: [String], webhook: Bool,
                serverNames: [String] = [], serverIPs: [String] = [], days: Int = 365) throws -> [String] {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        var report: [String] = []
        let caCert: Certificate
        let caKey: PrivateKey
        if exists("ca.pem") && exists("ca-key.pem") {
            caCert = try Certificate(pem: try read("ca.pem"))
            caKey = try PrivateKey(pem: try read("ca-key.pem"))
            report.append("kept     \(path)/ca.pem")
        } else {
            caKey = try PrivateKey.generateP256()
            caCert = try CertificateIssuer.issue(key: caKey, commonName: "auditship development CA", organization: "auditship",
                                                 usage: .authority, days: 3650)
            try write("ca-key.pem", try caKey.pem(), mode: 0o600)
            try write("ca.pem", try caCert.pem(), mode: 0o644)
            report.append("created  \(path)/ca.pem")
        }
        func leaf(_ name: String, cn: String, usage: CertificateUsage, sans: [String]) throws {
            if exists("\(name).pem") && exists("\(name)-key.pem") {
                report.append("kept     \(path)/\(name).pem")
                return
            }
            let key = try PrivateKey.generateP256()
            let cert = try CertificateIssuer.issue(key: key, commonName: cn, organization: "auditship", usage: usage,
                                                   subjectAlternativeNames: sans, days: days, issuer: (caCert, caKey))
            try write("\(name)-key.pem", try key.pem(), mode: 0o600)
            try write("\(name).pem", try cert.pem(), mode: 0o644)
            report.append("created  \(path)/\(name).pem  (\(sans.first { $0.hasPrefix("URI:") }?.dropFirst(4) ?? ""))")
        }
        let serverSANs = ["DNS:localhost", "IP:127.0.0.1", "IP:::1"] + serverNames.map { "DNS:\($0)" } + serverIPs.map { "IP:\($0)" }
            + ["URI:\(ClientIdentity.aggregator.uri)"]
        try leaf("aggregator", cn: "auditship aggregator", usage: .server, sans: serverSANs)
        if let cluster {
            for node in nodes {
                try leaf("agent-\(cluster)-\(node)", cn: "agent \(cluster)/\(node)", usage: .client,
                         sans: ["URI:\(ClientIdentity.agent(cluster: cluster, node: node).uri)"])
            }
            if webhook {
                try leaf("webhook-\(cluster)", cn: "kube-apiserver webhook \(cluster)", usage: .client,
                         sans: ["URI:\(ClientIdentity.webhook(cluster: cluster, node: nil).uri)"])
            }
        }
        if exists("checkpoint-key.pem") {
            report.append("kept     \(path)/checkpoint-key.pem")
        } else {
            let key = try PrivateKey.generateEd25519()
            try write("checkpoint-key.pem", try key.pem(), mode: 0o600)
            try write("checkpoint-key.pub.pem", try key.publicKeyPEM(), mode: 0o644)
            report.append("created  \(path)/checkpoint-key.pem  (Ed25519, signs chain checkpoints; public half: checkpoint-key.pub.pem)")
        }
        for reader in readers {
            let identity = try CertsInitCommand.readerIdentity(reader)
            guard case .reader(let name, _) = identity else { continue }
            try leaf("reader-\(name)", cn: "reader \(name)", usage: .client, sans: ["URI:\(identity.uri)"])
        }
        return report
    }

    private func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: "\(path)/\(name)") }

    private func read(_ name: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: "\(path)/\(name)") else {
            throw ValidationError("cannot read \(path)/\(name)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    private func write(_ name: String, _ text: String, mode: Int) throws {
        let file = "\(path)/\(name)"
        guard FileManager.default.createFile(atPath: file, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw ValidationError("cannot write \(file)")
        }
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file)
    }
}
