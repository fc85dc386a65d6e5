import AuditChain
import AuditModel
import AuditStore
@testable import AuditStorePostgres
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OpenSSLKit
import PostgresNIO
import Testing

/// The PostgreSQL server of the `.postgres` backend, found or started once per test process.
///
/// - `AUDITSHIP_TEST_POSTGRES_URL` set: that server is used (password from `PGPASSWORD`);
///   each store gets a new database on it (`auditship_t_…`, left there: drop them at will).
/// - Otherwise `Tests/postgres-server start` runs once with a directory under the temporary
///   directory (installing Debian's postgresql when missing), and a watchdog process stops
///   that server and removes the directory when this test process exits, however it exits.
/// - When no server can be had, the PostgreSQL cases are cancelled (reported as skipped)
///   with the reason, also printed to standard error; with `AUDITSHIP_REQUIRE_POSTGRES=1`
///   they fail instead (for CI, where PostgreSQL must be there).
enum PostgresTestServer {
    struct Unavailable: Error, CustomStringConvertible { var description: String }

    static let server: Result<PostgresLocation, Unavailable> = locate()

    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    private static func locate() -> Result<PostgresLocation, Unavailable> {
        if let url = environment["AUDITSHIP_TEST_POSTGRES_URL"], !url.isEmpty {
            do {
                return .success(try PostgresLocation(url))
            } catch {
                return .failure(Unavailable(description: "AUDITSHIP_TEST_POSTGRES_URL: \(error)"))
            }
        }
        let script = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("postgres-server").path
        guard FileManager.default.isExecutableFile(atPath: script) else {
            return .failure(Unavailable(description: "no executable \(script) to start a server with"))
        }
        let pid = getpid()
        let dir = NSTemporaryDirectory() + "auditship-pg-\(pid)"
        let errFile = dir + ".err"
        // popen/system rather than Foundation's Process: waiting on a Process from a test task
        // can hang on Linux (the child is never reaped while the other threads are busy).
        guard let pipe = popen("/bin/bash \(shellQuote(script)) start \(shellQuote(dir)) 2>\(shellQuote(errFile))", "r") else {
            return .failure(Unavailable(description: "cannot run \(script)"))
        }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, pipe)
            if n <= 0 { break }
            output += buffer[0..<n]
        }
        let status = pclose(pipe)
        let url = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let why = ((try? String(contentsOfFile: errFile, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        try? FileManager.default.removeItem(atPath: errFile)
        guard status == 0, !url.isEmpty else {
            return .failure(Unavailable(description: "\(script) start failed (status \(status)): \(why)"))
        }
        // Stop the server when this process ends (normally, by a crash or by a signal).
        _ = system("""
            (trap '' HUP INT TERM; while kill -0 \(pid) 2>/dev/null; do sleep 1; done; \
            /bin/bash \(shellQuote(script)) stop \(shellQuote(dir)); rm -rf \(shellQuote(dir))) </dev/null >/dev/null 2>&1 &
            """)
        do {
            return .success(try PostgresLocation(url))
        } catch {
            return .failure(Unavailable(description: "\(script) printed '\(url)': \(error)"))
        }
    }

    /// The server, or the current test case is cancelled (skipped) with the reason.
    static func require() throws -> PostgresLocation {
        switch server {
        case .success(let location):
            return location
        case .failure(let why):
            if environment["AUDITSHIP_REQUIRE_POSTGRES"] == "1" {
                throw StoreError("PostgreSQL is required (AUDITSHIP_REQUIRE_POSTGRES=1) but unavailable: \(why)")
            }
            FileHandle.standardError.write(Data("skipping PostgreSQL case: \(why)\n".utf8))
            try Test.cancel("PostgreSQL unavailable: \(why)")
        }
    }

    /// A new, empty database on the server.
    static func freshDatabase() async throws -> PostgresLocation {
        let server = try require()
        let name = "auditship_t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        // One CREATE DATABASE at a time (each copies a template and fsyncs); generous bounds,
        // since the whole suite, end-to-end processes included, shares two cores.
        try await DatabaseCreation.shared.serially {
            try await PostgresStore.createDatabase(name, server: server, password: environment["PGPASSWORD"], timeout: .seconds(300))
        }
        var location = server
        location.database = name
        location.poolSize = 3
        return location
    }

    static func connect(_ location: PostgresLocation) async throws -> PostgresStore {
        try await PostgresStore.connect(location: location, password: environment["PGPASSWORD"], connectTimeout: .seconds(300))
    }
}

/// Runs database creations one after another.
actor DatabaseCreation {
    static let shared = DatabaseCreation()
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func serially(_ body: @Sendable () async throws -> Void) async throws {
        while busy { await withCheckedContinuation { waiting.append($0) } }
        busy = true
        defer {
            busy = false
            if !waiting.isEmpty { waiting.removeFirst().resume() }
        }
        try await body()
    }
}

private func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

/// `StoreBackend.postgres.make()`: a store in a database of its own.
func makePostgresStore() async throws -> any EventStore {
    try await PostgresTestServer.connect(try await PostgresTestServer.freshDatabase())
}

private func ts(day: Int, second: Int) -> String {
    // Days of January 2026.
    String(format: "2026-01-%02dT%02d:%02d:%02dZ", day, second / 3600 % 24, second / 60 % 60, second % 60)
}

/// What only the PostgreSQL store has: several aggregators on one database, daily partitions.
@Suite struct PostgresStoreTests {

    @Test func urlParsingKeepsThePasswordOut() throws {
        let l = try PostgresLocation("postgres://audit%40ship@db.example:6543/events?sslmode=require&pool=8")
        #expect(l.user == "audit@ship")
        #expect(l.host == "db.example")
        #expect(l.port == 6543)
        #expect(l.database == "events")
        #expect(l.tls == .require)
        #expect(l.poolSize == 8)
        #expect(try PostgresLocation("postgresql://u@[::1]/d").host == "::1")
        #expect(throws: StoreError.self) { try PostgresLocation("postgres://u:secret@h/d") }
        #expect(throws: StoreError.self) { try PostgresLocation("postgres://u@h:99999/d") }
        #expect(throws: StoreError.self) { try PostgresLocation("postgres://h/d") }
        #expect(throws: StoreError.self) { try PostgresLocation("postgres://u@h/d?sslmode=maybe") }
    }

    @Test func twoAggregatorsStoreEachEventOnce() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let a = try await PostgresTestServer.connect(location)
        let b = try await PostgresTestServer.connect(location)
        // 1,200 events over three days, and 20 pairs of same-auditID, other-bytes events.
        var all: [IngestEvent] = []
        for i in 0..<1200 { all.append(event("e\(i)", user: "u\(i % 7)", ts: ts(day: 1 + i % 3, second: i * 37))) }
        var forged: [IngestEvent] = []
        for i in 0..<20 { forged.append(event("e\(i * 50)", user: "mallory", ts: ts(day: 1 + (i * 50) % 3, second: i * 50 * 37))) }
        // Both aggregators get everything, in different orders and batchings, at the same time;
        // the genuine events go to one, the forged ones to the other.
        let batchesA = stride(from: 0, to: all.count, by: 100).map { Array(all[$0..<min($0 + 100, all.count)]) }
        let reversed = Array(all.reversed())
        let batchesB = stride(from: 0, to: reversed.count, by: 70).map { Array(reversed[$0..<min($0 + 70, reversed.count)]) }
        let forgedBatch = forged
        let results = try await withThrowingTaskGroup(of: IngestResult.self) { group in
            for (i, batch) in batchesA.enumerated() {
                group.addTask { try await a.ingest(IngestBatch(cluster: "c", node: "n1", batchID: "a\(i)", events: batch)) }
            }
            for (i, batch) in batchesB.enumerated() {
                group.addTask { try await b.ingest(IngestBatch(cluster: "c", node: "n2", batchID: "b\(i)", events: batch)) }
            }
            group.addTask { try await b.ingest(IngestBatch(cluster: "c", node: "n2", batchID: "forged", events: forgedBatch)) }
            var out: [IngestResult] = []
            for try await r in group { out.append(r) }
            return out
        }
        #expect(results.map(\.stored).reduce(0, +) == 1220)
        #expect(results.map(\.duplicates).reduce(0, +) == 1200)
        #expect(results.map(\.collisions).reduce(0, +) == 20)
        #expect(try await a.count(EventQuery()) == 1220)
        let stored = try await b.events(EventQuery())
        #expect(Set(stored.map(\.bytes)).count == 1220)
        #expect(stored.filter(\.collision).count == 40)
        let collisions = try await a.collisions(EventQuery())
        #expect(collisions.count == 20)
        #expect(collisions.allSatisfy { $0.events == 2 })
        // The follow path of either sees every event once.
        let followed = try await a.events(EventQuery(ingestedAfter: 0, ingestOrder: true))
        #expect(followed.count == 1220)
        #expect(Set(followed.map(\.sequence)).count == 1220)
        // The cluster's chains (lanes: batches committing at the same time take different ones),
        // extended by both: each gapless, each block naming the one before, one block per batch
        // that stored something, every event in exactly one block.
        let lanes = try await a.chainHeads().filter { ChainName.cluster(of: $0.cluster) == "c" }
        #expect(lanes.count >= 2, "concurrent batches of one cluster should have opened more than one lane")
        #expect(lanes.contains { $0.cluster == "c" })
        var blocks: [ChainBlock] = []
        for lane in lanes {
            let chain = try await a.chainBlocks(cluster: lane.cluster, from: 1, through: 10_000, leaves: true)
            #expect(chain.map(\.height) == Array(1...lane.height))
            #expect(chain.first?.previous == ChainFormat.zeroHash)
            for (x, y) in zip(chain, chain.dropFirst()) { #expect(y.previous == x.computedHash) }
            blocks += chain
        }
        #expect(blocks.count == results.filter { $0.stored > 0 }.count)
        let leafIDs = blocks.flatMap { ChainFormat.leaves($0.leaves ?? [])?.map(\.id) ?? [] }
        #expect(leafIDs.count == 1220 && Set(leafIDs) == Set(followed.map(\.sequence)))
        let signer = try CheckpointSigner(key: try PrivateKey.generateEd25519())
        let heads = try await b.chainHeads()
        try await b.saveCheckpoints(try heads.map { try signer.sign(head: $0, signedAt: 1, prunedBefore: 0) }, keyID: signer.keyID, publicKeyPEM: signer.publicKeyPEM)
        let report = try await ChainVerifier(source: a, trustedKeys: [signer.keyID: signer.publicKey]).run()
        #expect(report.ok, "\(report.clusters.flatMap(\.problems))")
        #expect(report.clusters.reduce(0) { $0 + $1.eventsVerified } == 1220)
        // A row deleted from a lane other than the first is found there.
        let other = try #require(lanes.first { $0.cluster != "c" })
        let firstBlock = try await a.chainBlocks(cluster: other.cluster, from: 1, through: 1, leaves: true).first
        let victim = try #require(ChainFormat.leaves(firstBlock?.leaves ?? [])?.first)
        _ = try await a.client.query(PostgresQuery(unsafeSQL: "DELETE FROM events WHERE id = \(victim.id)"), logger: a.logger).collect()
        let after = try await ChainVerifier(source: a, trustedKeys: [signer.keyID: signer.publicKey]).run()
        #expect(after.clusters.flatMap(\.problems).map { "\($0.kind) \($0.cluster) \($0.event ?? 0)" } == ["deleted \(other.cluster) \(victim.id)"])
        // A whole lane deleted with its events and its head is caught by that lane's checkpoint.
        let laneIDs = blocks.filter { $0.cluster == other.cluster }.flatMap { ChainFormat.leaves($0.leaves ?? [])?.map(\.id) ?? [] }
        for sql in ["DELETE FROM events WHERE id IN (\(laneIDs.map(String.init).joined(separator: ",")))",
                    "DELETE FROM chain_blocks WHERE cluster = '\(other.cluster)'", "DELETE FROM chain_heads WHERE cluster = '\(other.cluster)'"] {
            _ = try await a.client.query(PostgresQuery(unsafeSQL: sql), logger: a.logger).collect()
        }
        let gone = try await ChainVerifier(source: a, trustedKeys: [signer.keyID: signer.publicKey]).run()
        #expect(gone.clusters.flatMap(\.problems).map { "\($0.kind) \($0.cluster)" } == ["blocksMissing \(other.cluster)"], "\(gone.clusters.flatMap(\.problems))")
        try await a.close()
        try await b.close()
    }

    @Test func partitionsAreCreatedOnDemandUnderConcurrency() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let stores = [try await PostgresTestServer.connect(location), try await PostgresTestServer.connect(location)]
        // 16 batches at once, each touching the same 10 new days.
        let stored = try await withThrowingTaskGroup(of: Int.self) { group in
            for batch in 0..<16 {
                let store = stores[batch % 2]
                group.addTask {
                    let events = (0..<50).map { i in event("b\(batch)-\(i)", ts: ts(day: 1 + (i + batch) % 10, second: batch * 100 + i)) }
                    return try await store.ingest(IngestBatch(cluster: "c", node: "n\(batch)", batchID: "\(batch)", events: events)).stored
                }
            }
            var n = 0
            for try await s in group { n += s }
            return n
        }
        #expect(stored == 800)
        let first = try #require(Timestamp(rfc3339: "2026-01-01T00:00:00Z")).microseconds / 86_400_000_000
        // (Tomorrow's partition, made ahead, is not counted.)
        let days = try await stores[0].partitionDays().filter { $0 < first + 100 }
        #expect(days == Array(first..<first + 10))
        #expect(try await stores[1].count(EventQuery()) == 800)
        for s in stores { try await s.close() }
    }

    @Test func retentionDropsOldPartitions() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let s = try await PostgresTestServer.connect(location)
        let other = try await PostgresTestServer.connect(location)
        // Five days, 24 events a day, one an hour; one auditID collision on day 1.
        var events: [IngestEvent] = []
        for day in 1...5 { for hour in 0..<24 { events.append(event("d\(day)h\(hour)", ts: ts(day: day, second: hour * 3600))) } }
        events.append(event("d1h0", user: "mallory", ts: ts(day: 1, second: 60)))
        _ = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "1", events: events))
        // The other store now has day 1's partition in its cache.
        _ = try await other.ingest(IngestBatch(cluster: "c", node: "n", batchID: "w", events: [event("warm", ts: ts(day: 1, second: 30))]))
        let first = try #require(Timestamp(rfc3339: "2026-01-01T00:00:00Z")).microseconds / 86_400_000_000
        func january() async throws -> [Int64] { try await s.partitionDays().filter { $0 < first + 100 } }
        #expect(try await january() == Array(first..<first + 5))
        // Cut at noon of day 3: days 1 and 2 go whole, day 3 loses its morning.
        let cutoff = try #require(Timestamp(rfc3339: "2026-01-03T12:00:00Z"))
        let deleted = try await s.deleteEvents(before: cutoff)
        #expect(deleted == 24 + 2 + 24 + 12)
        #expect(try await january() == Array(first + 2..<first + 5))
        #expect(try await s.count(EventQuery()) == 12 + 48)
        #expect(try await s.count(EventQuery(until: cutoff)) == 0)
        #expect(try await s.collisions(EventQuery()).isEmpty)
        // A late event for a dropped day, through a store whose partition cache is stale:
        // the partition comes back, and the reused auditID is no collision (its events are gone).
        let late = try await other.ingest(IngestBatch(cluster: "c", node: "n", batchID: "2", events: [event("d1h0", user: "eve", ts: ts(day: 1, second: 7))]))
        #expect(late == IngestResult(stored: 1, duplicates: 0, collisions: 0))
        #expect(try await s.partitionDays().contains(first))
        #expect(try await s.deleteEvents(before: cutoff) == 1)
        #expect(try await s.deleteEvents(before: cutoff) == 0)
        try await s.close()
        try await other.close()
    }

    @Test func followerSeesNothingPastAnUncommittedIngest() async throws {
        // An ingest transaction announces the sequence value it saw; until it ends, followers
        // get nothing above it. Simulated with psql holding that announcement open.
        let location = try await PostgresTestServer.freshDatabase()
        let s = try await PostgresTestServer.connect(location)
        let psql = ["/usr/bin/psql"] + ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))?.map { "/usr/lib/postgresql/\($0)/bin/psql" } ?? [])
        guard let psqlPath = psql.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            try Test.cancel("no psql to hold a transaction open with")
        }
        _ = try await s.ingest(IngestBatch(cluster: "c", node: "n", batchID: "1", events: (0..<10).map { event("x\($0)", ts: ts(day: 1, second: $0)) }))
        let mark = try await s.lastSequence()
        #expect(mark == 10)
        let sql = "BEGIN; SELECT pg_advisory_xact_lock_shared((x'4155'::int8 << 48) | 4); SELECT pg_sleep(3); COMMIT;"
        let status = system("\(shellQuote(psqlPath)) -X -q -h \(shellQuote(location.host)) -p \(location.port) -U \(shellQuote(location.user)) -d \(shellQuote(location.database)) -c \(shellQuote(sql)) </dev/null >/dev/null 2>&1 &")
        #expect(status == 0)
        var held = false
        for _ in 0..<60 {
            if try await s.lastSequence() == 4 { held = true; break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(held)
        #expect(try await s.events(EventQuery(ingestedAfter: 0, ingestOrder: true)).map(\.sequence) == [1, 2, 3, 4])
        var released = false
        for _ in 0..<100 {
            if try await s.lastSequence() == 10 { released = true; break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(released)
        #expect(try await s.events(EventQuery(ingestedAfter: 4, ingestOrder: true)).map(\.sequence) == [5, 6, 7, 8, 9, 10])
        try await s.close()
    }

    /// Ingest rate from three concurrent writers with 1,000-event batches of realistic events.
    /// Runs when `AUDITSHIP_PG_BENCH` names `auditship generate` outputs (comma-separated, one per writer).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["AUDITSHIP_PG_BENCH"] != nil,
                   "a measurement, not a test: runs only when AUDITSHIP_PG_BENCH names generated logs (auditship bench --postgres is the benchmark)"))
    func ingestRate() async throws {
        let files = (ProcessInfo.processInfo.environment["AUDITSHIP_PG_BENCH"] ?? "").split(separator: ",").map(String.init)
        var streams: [[IngestEvent]] = []
        for file in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            var events: [IngestEvent] = []
            for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
                let bytes = [UInt8](line)
                events.append(IngestEvent(bytes: bytes, summary: try EventScanner.scan(bytes), digest: SHA256.hash(bytes)))
            }
            streams.append(events)
        }
        let location = try await PostgresTestServer.freshDatabase()
        let store = try await PostgresTestServer.connect(location)
        let clock = ContinuousClock()
        let started = clock.now
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for (w, events) in streams.enumerated() {
                group.addTask {
                    var n = 0
                    for (i, start) in stride(from: 0, to: events.count, by: 1000).enumerated() {
                        let batch = Array(events[start..<min(start + 1000, events.count)])
                        n += try await store.ingest(IngestBatch(cluster: "bench", node: "master-\(w + 1)", batchID: "\(w)-\(i)", events: batch)).stored
                    }
                    return n
                }
            }
            var n = 0
            for try await s in group { n += s }
            return n
        }
        let elapsed = clock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let bytes = streams.joined().map(\.bytes.count).reduce(0, +)
        print("PostgreSQL ingest: \(total) events (\(bytes / 1_000_000) MB) from \(streams.count) writers in \(String(format: "%.2f", seconds)) s: \(Int(Double(total) / seconds)) events/s")
        #expect(total == streams.map(\.count).reduce(0, +))
        try await store.close()
    }
}
