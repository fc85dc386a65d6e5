import AuditFuzzTargets
import AuditGenerator
import Foundation
import Testing

/// Replays the fuzz targets' seed corpora and every saved finding (`Tests/Fuzz/regressions/TARGET/`)
/// through the same property checks libFuzzer runs, and a few thousand deterministic mutations of
/// the seeds, so that a fixed finding stays fixed without a fuzzer build.
@Suite("fuzz targets: corpora, regressions and seeded mutations")
struct FuzzRegressionTests {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz").path

    static func inputs(_ target: String, _ kind: String) -> [(String, [UInt8])] {
        let dir = fuzzDirectory + "/\(kind)/\(target)"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
        return names.compactMap { name in
            FileManager.default.contents(atPath: dir + "/" + name).map { (kind + "/" + target + "/" + name, [UInt8]($0)) }
        }
    }

    @Test("every target has seeds", arguments: FuzzTarget.all.map(\.name))
    func seedsExist(_ name: String) throws {
        let target = try #require(FuzzTarget.named(name))
        #expect(!Self.inputs(name, "corpus").isEmpty || !target.generatedSeeds().isEmpty, "Tests/Fuzz/corpus/\(name) has no seed inputs")
    }

    @Test("seeds and saved findings keep every property", arguments: FuzzTarget.all.map(\.name))
    func replay(_ name: String) throws {
        let target = try #require(FuzzTarget.named(name))
        let generated = target.generatedSeeds().enumerated().map { ("generated seed \($0.offset)", $0.element) }
        for (file, bytes) in Self.inputs(name, "corpus") + Self.inputs(name, "regressions") + generated {
            do {
                try target.check(bytes)
            } catch {
                Issue.record("\(file): \(error)")
            }
        }
    }

    @Test("deterministic mutations of the seeds keep every property", arguments: FuzzTarget.all.map(\.name))
    func mutations(_ name: String) throws {
        let target = try #require(FuzzTarget.named(name))
        let seeds = Self.inputs(name, "corpus").map(\.1) + target.generatedSeeds()
        var rng = SplitMix64(seed: 0x5EED_0000 + UInt64(name.utf8.count))
        var violations = 0
        for i in 0..<1500 {
            var input = seeds.isEmpty ? [] : seeds[i % seeds.count]
            for _ in 0..<(1 + Int(rng.next() % 4)) { Self.mutate(&input, &rng, seeds, maxLength: target.maxLength) }
            do {
                try target.check(input)
            } catch {
                violations += 1
                if violations <= 3 {
                    Issue.record("mutation \(i): \(error); input (base64): \(Data(input).base64EncodedString())")
                }
            }
        }
        #expect(violations == 0)
    }

    /// libFuzzer-like mutations: flip, insert, delete, duplicate a range, splice another seed, interesting bytes.
    static func mutate(_ b: inout [UInt8], _ rng: inout SplitMix64, _ seeds: [[UInt8]], maxLength: Int) {
        let interesting: [UInt8] = Array("{}[]\":,\\ \n\r\t0-eE.nulltruefalse\u{7F}".utf8) + [0x00, 0xC3, 0xA9, 0xED, 0xA0, 0x80, 0xF4, 0x90, 0xFF]
        switch rng.next() % 6 {
        case 0 where !b.isEmpty:
            b[Int(rng.next() % UInt64(b.count))] ^= UInt8(truncatingIfNeeded: 1 << (rng.next() % 8))
        case 1:
            b.insert(interesting[Int(rng.next() % UInt64(interesting.count))], at: Int(rng.next() % UInt64(b.count + 1)))
        case 2 where !b.isEmpty:
            let at = Int(rng.next() % UInt64(b.count))
            b.removeSubrange(at..<min(b.count, at + 1 + Int(rng.next() % 8)))
        case 3 where !b.isEmpty:
            let at = Int(rng.next() % UInt64(b.count))
            let piece = b[at..<min(b.count, at + 1 + Int(rng.next() % 32))]
            b.insert(contentsOf: piece, at: Int(rng.next() % UInt64(b.count + 1)))
        case 4 where !seeds.isEmpty:
            let other = seeds[Int(rng.next() % UInt64(seeds.count))]
            let cut = Int(rng.next() % UInt64(b.count + 1)), from = Int(rng.next() % UInt64(other.count + 1))
            b = Array(b[..<cut]) + Array(other[from...])
        default:
            if !b.isEmpty { b[Int(rng.next() % UInt64(b.count))] = interesting[Int(rng.next() % UInt64(interesting.count))] }
        }
        if b.count > maxLength { b.removeLast(b.count - maxLength) }
    }
}
