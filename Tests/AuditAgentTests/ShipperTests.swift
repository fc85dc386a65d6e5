import AuditAgent
import Testing

@Suite struct ShipperTests {
    /// One shared aggregator list spreads a fleet: each node starts at the aggregator its
    /// name hashes to, the same one on every start.
    @Test func nodesSpreadOverAggregatorsAndKeepTheirChoice() {
        for count in [2, 3, 5] {
            var seen = [Int](repeating: 0, count: count)
            for i in 0..<300 {
                let node = "master-\(i)"
                let index = Shipper.startIndex(node: node, count: count)
                #expect((0..<count).contains(index))
                #expect(Shipper.startIndex(node: node, count: count) == index)
                seen[index] += 1
            }
            // Every aggregator gets a fair share (300 nodes: at least half of an even split).
            #expect(seen.allSatisfy { $0 >= 300 / count / 2 }, "spread over \(count): \(seen)")
        }
        #expect(Shipper.startIndex(node: "m1", count: 1) == 0)
        #expect(Shipper.startIndex(node: "m1", count: 0) == 0)
    }
}
