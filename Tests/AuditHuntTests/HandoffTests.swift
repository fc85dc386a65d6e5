import Foundation
import Testing

@testable import AuditHunt

@Suite struct HandoffTests {
    @Test func itemsArriveInOrderThenTheEnd() throws {
        let h = Handoff<Int>(capacity: 3)
        let producer = Thread {
            for i in 0..<1_000 { try? h.put(i) }
            h.finish(nil)
        }
        producer.start()
        var got: [Int] = []
        while let i = try h.take() { got.append(i) }
        #expect(got == Array(0..<1_000))
        #expect(try h.take() == nil)
    }

    struct Broken: Error {}

    @Test func theProducersErrorComesAfterItsItems() throws {
        let h = Handoff<Int>(capacity: 4)
        try h.put(1)
        try h.put(2)
        h.finish(Broken())
        #expect(try h.take() == 1)
        #expect(try h.take() == 2)
        #expect(throws: Broken.self) { try h.take() }
    }

    @Test func cancellingStopsAWaitingProducer() throws {
        let h = Handoff<Int>(capacity: 1)
        let stopped = Handoff<String>(capacity: 1)
        let producer = Thread {
            do {
                for i in 0... { try h.put(i) }
            } catch {
                try? stopped.put("\(type(of: error))")
            }
            h.finish(nil)
        }
        producer.start()
        #expect(try h.take() == 0)
        h.cancel()
        h.waitUntilFinished()
        #expect(try stopped.take() == "CancellationError")
    }
}
