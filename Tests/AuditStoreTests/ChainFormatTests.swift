import AuditChain
import Foundation
import OpenSSLKit
import SharedFixtures
import Testing

/// The chain's byte formats against a test vector computed independently (Python's hashlib, from
/// the description in Protocols/integrity.md §2, where the same vector is published).
@Suite struct ChainFormatTests {
    let raw = Array(#"{"kind":"Event","auditID":"a1","stage":"ResponseComplete"}"#.utf8)

    @Test func eventLeafAndBlockHashesMatchThePublishedVector() throws {
        let digest = SHA256.hash(raw)
        #expect(SHA256.hex(digest) == "65d8edac6bbdd483b460d3806163b7cad7c1dabaa51d476eb0b58c5ceb88f42d")
        let event = ChainFormat.eventHash(cluster: "prod", node: "master-1", digest: digest)
        #expect(SHA256.hex(event) == "f167301fe45b9604e4c3fe62cd1d739aea3c7c9dfdd5b3c8983610696851bac2")
        var leaves: [UInt8] = []
        ChainFormat.appendLeaf(&leaves, id: 7, timestamp: 1_767_225_600_000_000, eventHash: event)
        #expect(leaves.count == ChainFormat.leafSize)
        #expect(ChainFormat.leaves(leaves) == [ChainLeaf(id: 7, timestamp: 1_767_225_600_000_000, eventHash: event)])
        let block = ChainBlock.next(cluster: "prod", afterHeight: 0, previous: ChainFormat.zeroHash, createdAt: 1_767_225_601_000_000,
                                    leaves: leaves, batchID: "b")
        #expect(SHA256.hex(block.leavesRoot) == "209c3061d1a50b6a2e0ed6716cdbe46ad6077c06293626c490101e187ba4a625")
        #expect(SHA256.hex(block.hash) == "0b04430c3a04ea0508d7bd4d97bda63c48bc0087c76d5a063d644a190bf01c8e")
        #expect(block.height == 1 && block.minTimestamp == 1_767_225_600_000_000 && block.maxTimestamp == 1_767_225_600_000_000)
        // Tags are part of the hash: the same bytes from another node are another event.
        #expect(ChainFormat.eventHash(cluster: "prod", node: "master-2", digest: digest) != event)
        // A blob that is not whole leaves is refused.
        #expect(ChainFormat.leaves(Array(leaves.dropLast())) == nil)
    }

    @Test func checkpointMessageIsThePublishedTextAndSignaturesRoundTrip() throws {
        let head = try #require(Hex.decode("0b04430c3a04ea0508d7bd4d97bda63c48bc0087c76d5a063d644a190bf01c8e"))
        let cp = Checkpoint(cluster: "prod", height: 1, head: head, signedAt: 1_767_225_660_000_000, prunedBefore: 0,
                            keyID: "0123456789abcdef", signature: [])
        #expect(String(decoding: cp.message, as: UTF8.self) == """
            auditship-checkpoint-v1
            cluster:prod
            height:1
            head:0b04430c3a04ea0508d7bd4d97bda63c48bc0087c76d5a063d644a190bf01c8e
            signed-at:1767225660000000
            pruned-before:0
            key:0123456789abcdef

            """)
        for key in [try PrivateKey.generateEd25519(), try PrivateKey.generateP256()] {
            let signer = try CheckpointSigner(key: key)
            let signed = try signer.sign(head: ChainHead(cluster: "prod", height: 1, hash: head), signedAt: 5, prunedBefore: 3)
            #expect(signed.isSigned(by: signer.publicKey))
            let line = signed.jsonLine
            let back = try Checkpoint(jsonLine: line)
            #expect(back == signed)
            #expect(back.isSigned(by: signer.publicKey))
            var moved = back
            moved.prunedBefore = 4
            #expect(!moved.isSigned(by: signer.publicKey), "the retention watermark is signed")
            #expect(signer.keyID.count == 16)
        }
        #expect(throws: ChainError.self) { try Checkpoint(jsonLine: "{\"format\":\"auditship-checkpoint/v1\"}") }
        #expect(throws: ChainError.self) { try Checkpoint(jsonLine: "not json") }
    }

    @Test func exportedFilesAreReadBackAndBadLinesAreNamed() throws {
        let dir = TestTemporaries.directory("cp")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let signer = try CheckpointSigner(key: try PrivateKey.generateEd25519())
        let cps = try (1...3).map { try signer.sign(head: ChainHead(cluster: "c", height: Int64($0), hash: [UInt8](repeating: UInt8($0), count: 32)),
                                                    signedAt: Int64($0), prunedBefore: 0) }
        try CheckpointExport.append(Array(cps.prefix(2)), keyID: signer.keyID, directory: dir)
        try CheckpointExport.append([cps[2]], keyID: signer.keyID, directory: dir)
        let file = dir + "/" + CheckpointExport.fileName(keyID: signer.keyID)
        let handle = try #require(FileHandle(forWritingAtPath: file))
        handle.seekToEndOfFile()
        handle.write(Data("{\"truncated\n".utf8))
        try handle.close()
        let (read, problems) = try CheckpointExport.read(path: dir)
        #expect(read == cps)
        #expect(problems.count == 1 && problems[0].hasPrefix(file + ":4: not a checkpoint"), "\(problems)")
        // After a torn last line (a crash while appending), the next append starts a line of its own.
        let more = try signer.sign(head: ChainHead(cluster: "c", height: 4, hash: [UInt8](repeating: 4, count: 32)), signedAt: 4, prunedBefore: 0)
        try CheckpointExport.append([more], keyID: signer.keyID, directory: dir)
        let (after, problemsAfter) = try CheckpointExport.read(path: dir)
        #expect(after == cps + [more])
        #expect(problemsAfter.count == 1)
    }
}
