import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Certificates renewed on disk the way a Kubernetes Secret volume changes (the file names are links
/// into `..data`, swapped in one rename): the agent's and the aggregator's renewed certificates and a
/// CA bundle that carries the old and the new CA during a roll are used from the next connection on,
/// with no restart and no failed batch; an expired client certificate is refused with the reason.
@Suite struct CertificateRotationTests {
    /// A Secret-like volume at `dir`: `..data` points at the current version, each name is a link through it.
    struct Volume {
        let dir: String
        var version = 0
        static let names = ["ca.pem", "aggregator.pem", "aggregator-key.pem", "agent.pem", "agent-key.pem"]

        init(_ dir: String) throws {
            self.dir = dir
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }

        /// Publishes a new version holding `files` (name → contents), all at once.
        mutating func publish(_ files: [String: Data]) throws {
            version += 1
            let versionDir = "..v\(version)"
            try FileManager.default.createDirectory(atPath: dir + "/" + versionDir, withIntermediateDirectories: true)
            for (name, data) in files { try data.write(to: URL(fileURLWithPath: dir + "/" + versionDir + "/" + name)) }
            try? FileManager.default.removeItem(atPath: dir + "/..data.tmp")
            try FileManager.default.createSymbolicLink(atPath: dir + "/..data.tmp", withDestinationPath: versionDir)
            guard rename(dir + "/..data.tmp", dir + "/..data") == 0 else { throw HarnessError("swapping ..data failed") }
            for name in Self.names where !FileManager.default.fileExists(atPath: dir + "/" + name) {
                try FileManager.default.createSymbolicLink(atPath: dir + "/" + name, withDestinationPath: "..data/" + name)
            }
        }

        func path(_ name: String) -> String { dir + "/" + name }
    }

    func read(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test func renewedCertificatesAndARolledCAArePickedUpWithoutARestartOrAFailedBatch() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "c", nodes: ["m1"])
        let a = h.certs
        var volume = try Volume(h.dir + "/tls")
        try volume.publish(["ca.pem": try read(a + "/ca.pem"), "aggregator.pem": try read(a + "/aggregator.pem"),
                            "aggregator-key.pem": try read(a + "/aggregator-key.pem"), "agent.pem": try read(a + "/agent-c-m1.pem"),
                            "agent-key.pem": try read(a + "/agent-c-m1-key.pem")])
        var current = try Dictionary(uniqueKeysWithValues: Volume.names.map { ($0, try read(volume.path($0))) })
        // Connections close after a second idle, so that every step below opens new ones.
        let ready = h.dir + "/aggregator.ready"
        let aggregator = try h.start(["aggregator", "--listen", "127.0.0.1:0", "--ready-file", ready, "--idle-timeout", "1s",
                                      "--tls-cert", volume.path("aggregator.pem"), "--tls-key", volume.path("aggregator-key.pem"),
                                      "--client-ca", volume.path("ca.pem"), "--store", h.storeURL], log: "aggregator.log")
        var address = ""
        try h.waitUntil("the aggregator listens", seconds: 60) {
            address = ((try? String(contentsOfFile: ready, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            return !address.isEmpty
        }
        let log = h.dir + "/audit.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let agent = try h.start(["agent", "--aggregator", "https://\(address)", "--cluster", "c", "--node", "m1", "--path", log,
                                 "--state-dir", h.dir + "/state", "--tls-cert", volume.path("agent.pem"), "--tls-key", volume.path("agent-key.pem"),
                                 "--ca", volume.path("ca.pem"), "--retry-initial-ms", "100", "--retry-max-ms", "1000"], log: "agent.log")
        var expected: [[UInt8]] = []
        var seed = 500
        func step(_ what: String, expectStored: Bool = true) throws {
            seed += 1
            let lines = try h.generate(events: 300, seed: seed, node: "m1", to: h.dir + "/step-\(seed).log")
            let handle = try #require(FileHandle(forWritingAtPath: log))
            handle.seekToEndOfFile()
            handle.write(Data(lines.flatMap { $0 + [0x0A] }))
            try handle.close()
            expected += lines
            if expectStored {
                try h.waitUntil("\(what): every event is stored", seconds: 60) { try h.count() >= expected.count }
                usleep(1_500_000)  // the connection goes idle and closes: the next step connects again
            }
        }
        try step("first certificates")

        // The agent's certificate is renewed by the same CA.
        try h.run(["certs", "init", "--out", h.dir + "/renewed", "--cluster", "c", "--node", "m1"])  // a CA of its own, unused
        try FileManager.default.removeItem(atPath: h.dir + "/renewed/agent-c-m1.pem")
        try FileManager.default.removeItem(atPath: h.dir + "/renewed/agent-c-m1-key.pem")
        for f in ["ca.pem", "ca-key.pem"] {
            try FileManager.default.removeItem(atPath: h.dir + "/renewed/" + f)
            try FileManager.default.copyItem(atPath: a + "/" + f, toPath: h.dir + "/renewed/" + f)
        }
        try h.run(["certs", "init", "--out", h.dir + "/renewed", "--cluster", "c", "--node", "m1"])
        current["agent.pem"] = try read(h.dir + "/renewed/agent-c-m1.pem")
        current["agent-key.pem"] = try read(h.dir + "/renewed/agent-c-m1-key.pem")
        try volume.publish(current)
        try step("renewed agent certificate")

        // A CA roll: first both sides trust old and new, then the aggregator and the agent move to
        // certificates of the new CA, then the old CA goes.
        let b = h.dir + "/new-ca"
        try h.makeCertificates(cluster: "c", nodes: ["m1"], into: b)
        current["ca.pem"] = try read(a + "/ca.pem") + read(b + "/ca.pem")
        try volume.publish(current)
        try step("bundle of the old and the new CA")
        current["aggregator.pem"] = try read(b + "/aggregator.pem")
        current["aggregator-key.pem"] = try read(b + "/aggregator-key.pem")
        try volume.publish(current)
        try step("aggregator certificate of the new CA")
        current["agent.pem"] = try read(b + "/agent-c-m1.pem")
        current["agent-key.pem"] = try read(b + "/agent-c-m1-key.pem")
        try volume.publish(current)
        try step("agent certificate of the new CA")
        current["ca.pem"] = try read(b + "/ca.pem")
        try volume.publish(current)
        try step("new CA only")

        let agentLog = h.read("agent.log")
        #expect(!agentLog.contains("will retry") && !agentLog.contains("cannot be reached as configured"),
                "no batch may fail during the rotation: \(agentLog.suffix(2000))")
        let aggregatorLog = h.read("aggregator.log")
        #expect(aggregatorLog.contains("aggregator certificate reloaded from disk"))
        #expect(aggregatorLog.contains("client CA bundle reloaded from disk"))
        #expect(!aggregatorLog.contains("client certificate refused"), "\(aggregatorLog.suffix(2000))")

        // An expired client certificate is refused, and the refusal says why.
        try FileManager.default.removeItem(atPath: b + "/agent-c-m1.pem")
        try FileManager.default.removeItem(atPath: b + "/agent-c-m1-key.pem")
        try h.run(["certs", "init", "--out", b, "--cluster", "c", "--node", "m1", "--days", "0"])
        var expired = current
        expired["agent.pem"] = try read(b + "/agent-c-m1.pem")
        expired["agent-key.pem"] = try read(b + "/agent-c-m1-key.pem")
        try volume.publish(expired)
        try step("expired agent certificate", expectStored: false)
        try h.waitUntil("the aggregator refuses the expired certificate, saying so", seconds: 60) {
            h.read("aggregator.log").contains("certificate has expired")
        }
        // A valid certificate again: what waited is delivered, every event stored exactly once.
        try volume.publish(current)
        try h.waitUntil("every event is stored", seconds: 60) { try h.count() >= expected.count }
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(expected))
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
        kill(aggregator.processIdentifier, SIGTERM)
        aggregator.waitUntilExit()
    }

    /// A CA's revocation list beside the CA bundle, reloaded when it changes: a revoked agent
    /// certificate is refused (also on a connection opened before the revocation), saying so;
    /// a renewed certificate delivers what waited, once.
    @Test func aRevokedClientCertificateIsRefusedOnceTheCRLSaysSo() throws {
        let h = try Harness()
        try h.makeCertificates(cluster: "c", nodes: ["m1"])
        let c = h.certs
        let db = h.dir + "/ca-db"
        try FileManager.default.createDirectory(atPath: db, withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: db + "/index.txt"))
        try Data("01\n".utf8).write(to: URL(fileURLWithPath: db + "/crlnumber"))
        try Data("""
            [ca]
            default_ca = d
            [d]
            database = \(db)/index.txt
            crlnumber = \(db)/crlnumber
            default_md = sha256
            default_crl_days = 7

            """.utf8).write(to: URL(fileURLWithPath: db + "/ca.cnf"))
        func openssl(_ args: String) throws {
            let r = Harness.shell("cd \(shellQuoted(db)) && openssl ca -batch -config ca.cnf -keyfile \(shellQuoted(c + "/ca-key.pem")) -cert \(shellQuoted(c + "/ca.pem")) \(args) 2>&1")
            guard r.status == 0 else { throw HarnessError("openssl ca \(args): \(r.output)") }
        }
        /// Writes the CA's current CRL to crl.pem in one rename.
        func publishCRL() throws {
            try openssl("-gencrl -out crl.tmp")
            guard rename(db + "/crl.tmp", h.dir + "/crl.pem") == 0 else { throw HarnessError("rename crl") }
        }
        try publishCRL()
        try h.startAggregator(extra: ["--client-crl", h.dir + "/crl.pem"])
        let log = h.dir + "/audit.log"
        var expected = try h.generate(events: 500, seed: 601, node: "m1", to: log)
        // The agent's certificate files are a link to the current pair, swapped in one rename.
        try FileManager.default.createDirectory(atPath: h.dir + "/pair-1", withIntermediateDirectories: true)
        for f in ["agent-c-m1.pem", "agent-c-m1-key.pem"] { try FileManager.default.copyItem(atPath: c + "/" + f, toPath: h.dir + "/pair-1/" + f) }
        try FileManager.default.createSymbolicLink(atPath: h.dir + "/pair", withDestinationPath: "pair-1")
        let agent = try h.start(["agent", "--aggregator", "https://\(h.aggregatorAddress)", "--cluster", "c", "--node", "m1", "--path", log,
                                 "--state-dir", h.dir + "/state", "--tls-cert", h.dir + "/pair/agent-c-m1.pem",
                                 "--tls-key", h.dir + "/pair/agent-c-m1-key.pem", "--ca", c + "/ca.pem",
                                 "--retry-initial-ms", "100", "--retry-max-ms", "1000"], log: "agent.log")
        try h.waitUntil("the first events are stored", seconds: 60) { try h.count() >= expected.count }

        // Revoked: the new CRL is picked up and the certificate refused, with the reason.
        try openssl("-revoke \(shellQuoted(h.dir + "/pair-1/agent-c-m1.pem"))")
        try publishCRL()
        let more = try h.generate(events: 500, seed: 602, node: "m1", to: h.dir + "/more.log")
        let handle = try #require(FileHandle(forWritingAtPath: log))
        handle.seekToEndOfFile()
        handle.write(Data(more.flatMap { $0 + [0x0A] }))
        try handle.close()
        expected += more
        try h.waitUntil("the revoked certificate is refused, saying so", seconds: 60) {
            h.read("aggregator.log").contains("revoked")
        }
        usleep(500_000)
        #expect(try h.count() < expected.count, "nothing from a revoked certificate may be stored")

        // Renewed: what waited is delivered, every event once.
        try FileManager.default.createDirectory(atPath: h.dir + "/pair-2", withIntermediateDirectories: true)
        try FileManager.default.removeItem(atPath: c + "/agent-c-m1.pem")
        try FileManager.default.removeItem(atPath: c + "/agent-c-m1-key.pem")
        try h.makeCertificates(cluster: "c", nodes: ["m1"])
        for f in ["agent-c-m1.pem", "agent-c-m1-key.pem"] { try FileManager.default.copyItem(atPath: c + "/" + f, toPath: h.dir + "/pair-2/" + f) }
        try FileManager.default.createSymbolicLink(atPath: h.dir + "/pair.tmp", withDestinationPath: "pair-2")
        guard rename(h.dir + "/pair.tmp", h.dir + "/pair") == 0 else { throw HarnessError("swapping the pair failed") }
        try h.waitUntil("every event is stored after the renewal", seconds: 90) { try h.count() >= expected.count }
        #expect(multiset(try h.storedEvents().map(\.event)) == multiset(expected))
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
    }
}
