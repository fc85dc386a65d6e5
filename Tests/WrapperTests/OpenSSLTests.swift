import OpenSSLKit
import Testing

@Suite struct OpenSSLTests {
    @Test func sha256KnownVector() {
        #expect(SHA256.hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(SHA256.hash([UInt8]())) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func issuesCertificatesCarryingTheIdentity() throws {
        let caKey = try PrivateKey.generateP256()
        let ca = try CertificateIssuer.issue(key: caKey, commonName: "test CA", usage: .authority, days: 1)
        let key = try PrivateKey.generateP256()
        let leaf = try CertificateIssuer.issue(key: key, commonName: "agent c/n", usage: .client,
                                               subjectAlternativeNames: ["URI:auditship://agent/c/n"], days: 1, issuer: (ca, caKey))
        let reread = try Certificate(pem: try leaf.pem())
        #expect(reread.commonName == "agent c/n")
        #expect(reread.uriSubjectAlternativeNames == ["auditship://agent/c/n"])
        #expect((reread.notAfterEpochSeconds ?? 0) > 0)
        let keyAgain = try PrivateKey(pem: try key.pem())
        #expect(try keyAgain.publicKeyPEM() == (try key.publicKeyPEM()))
    }

    @Test func signsAndVerifies() throws {
        for key in [try PrivateKey.generateEd25519(), try PrivateKey.generateP256()] {
            let message = Array("chain head".utf8)
            let signature = try key.sign(message)
            let pub = try PublicKey(pem: try key.publicKeyPEM())
            #expect(pub.verify(signature: signature, message: message))
            #expect(!pub.verify(signature: signature, message: Array("chain heae".utf8)))
        }
    }

    @Test func garbageIsAnErrorNotACrash() {
        #expect(throws: OpenSSLError.self) { try Certificate(pem: "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n") }
        #expect(throws: OpenSSLError.self) { try Certificate(der: [0x30, 0x03, 0x01]) }
        #expect(throws: OpenSSLError.self) { try PrivateKey(pem: "") }
    }
}
