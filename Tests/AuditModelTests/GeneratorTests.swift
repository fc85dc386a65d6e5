import AuditGenerator
import AuditModel
import Testing

@Suite struct GeneratorTests {
    @Test func sameSeedSameLog() {
        let a = Array(AuditLogGenerator(GeneratorConfiguration(events: 500, seed: 7)))
        let b = Array(AuditLogGenerator(GeneratorConfiguration(events: 500, seed: 7)))
        let c = Array(AuditLogGenerator(GeneratorConfiguration(events: 500, seed: 8)))
        #expect(a.count == 500)
        #expect(a == b)
        #expect(a != c)
    }

    @Test func everyLineIsAnAuditEventAndStagesPair() throws {
        var stages: [String: [String]] = [:]
        var users: Set<String> = []
        var metadataSizes: [Int] = []
        var levels: [String: Int] = [:]
        var codes: Set<Int> = []
        for line in AuditLogGenerator(GeneratorConfiguration(events: 5000, seed: 3)) {
            let e = try EventScanner.scan(line)
            stages[e.auditID, default: []].append(e.stage)
            users.insert(e.username ?? "")
            levels[e.level, default: 0] += 1
            if let c = e.responseCode { codes.insert(c) }
            if e.level == "Metadata" { metadataSizes.append(line.count) }
            #expect(e.stageTimestamp != nil)
        }
        for (_, s) in stages {
            #expect(s.first == "RequestReceived")
            #expect(Set(s).count == s.count)
        }
        #expect(users.contains("system:kube-proxy"))
        #expect(users.contains { $0.hasPrefix("system:node:") })
        #expect(users.contains("system:kube-scheduler"))
        #expect(codes.contains(403))
        #expect((levels["RequestResponse"] ?? 0) > 0)
        #expect((levels["Metadata"] ?? 0) > (levels["RequestResponse"] ?? 0) * 5)
        let sorted = metadataSizes.sorted()
        let median = sorted[sorted.count / 2]
        #expect(median > 400 && median < 1100, "median Metadata event size \(median)")
    }
}
