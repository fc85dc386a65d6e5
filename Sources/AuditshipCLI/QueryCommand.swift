import ArgumentParser
import AuditAggregator
import AuditChain
import AuditModel
import AuditStore
import AuditWire
import CurlClient
import Foundation

struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Print stored events in timestamp order across nodes and clusters.",
        discussion: """
            --format json prints one object a line: {"cluster":"…","node":"…","event":{…the stored event…}}.
            --count prints one integer. Read a store directly (--store) or ask an aggregator (--aggregator,
            with a reader certificate). --with-proof (--store only) prints one JSON document instead: the
            events with the blocks, headers, signed checkpoint and public keys that prove them
            (Protocols/integrity.md §6); check it with `auditship verify --proof FILE --public-key KEY`. Its exit
            status is 1 when some events cannot be proven yet (no block, or no checkpoint covering them).
            """)

    enum Format: String, ExpressibleByArgument { case json, table }

    @OptionGroup var source: ReadSourceOptions
    @Option var cluster: String?
    @Option var node: String?
    @Option(help: "user.username") var user: String?
    @Option var verb: String?
    @Option(help: "Resource, or resource/subresource (pods/exec).") var resource: String?
    @Option var namespace: String?
    @Option(help: "One of user.groups.") var group: String?
    @Option(help: "objectRef.apiGroup (\"\" for the core group).") var apiGroup: String?
    @Option(help: "objectRef.name: with --resource and --namespace, one object's history.") var name: String?
    @Option(help: "Response code (404) or class (4xx).") var code: String?
    @Option(help: "Stage: RequestReceived, ResponseStarted, ResponseComplete or Panic.") var stage: String?
    @Option(help: "Text the event's JSON must contain (case-sensitive).") var text: String?
    @Option(help: "From this time (RFC 3339, or ago: 15m, 1h, 7d), inclusive.") var since: String?
    @Option(help: "Until this time (RFC 3339, or ago: 15m, 1h, 7d), exclusive.") var until: String?
    @Option(help: "At most this many events.") var limit: Int?
    @Flag(help: "Print only the number of matching events.") var count = false
    @Flag(help: "Print the auditID collisions (same cluster, auditID and stage; different events) instead of events.") var collisions = false
    @Flag(help: "Keep printing new events as they are stored, in timestamp order within the lateness window (--store only).") var follow = false
    @Option(help: "With --follow: how long to hold events back to put late arrivals in order (e.g. 5s).") var lateness: String = "5s"
    @Option(help: "Only events after this cursor (X-Auditship-Next-Cursor of a previous page).") var after: String?
    @Option(help: "Print event counts per time bucket of this width (30s, 5m, 1h, 1d) instead of events: a JSON array of {start, count}.") var histogram: String?
    @Option(help: "Print the most frequent values of these fields (comma-separated: \(FacetField.allCases.map(\.rawValue).joined(separator: ", "))) instead of events: a JSON object of field → [{value, count}].") var facets: String?
    @Option(help: "With --facets: how many values per field.") var top: Int = 10
    @Option(help: "json or table.") var format: Format = .json
    @Flag(help: "With --store and --format json: print the events as a proof bundle checkable against a signed checkpoint.") var withProof = false
    @Option(help: "With --with-proof: use only checkpoints signed by this key (PEM; repeatable). Default: any the store holds.") var publicKey: [String] = []

    func validate() throws {
        if follow && source.store == nil { throw ValidationError("--follow reads a store directly: use --store") }
        if !publicKey.isEmpty && !withProof { throw ValidationError("--public-key goes with --with-proof") }
        if withProof && (source.store == nil || format != .json || count || collisions || follow) {
            throw ValidationError("--with-proof needs --store and --format json, without --count, --collisions or --follow")
        }
        if parseDuration(lateness) == nil { throw ValidationError("--lateness '\(lateness)' is not a duration like 5s") }
        if let after, EventCursor(after) == nil { throw ValidationError("--after '\(after)' is not a cursor") }
        if let histogram, HistogramBucket.width(histogram) == nil { throw ValidationError("--histogram '\(histogram)' is not a width like 1m, 1h or 1d") }
        if let facets { do { _ = try FacetField.list(facets) } catch { throw ValidationError("--facets: \(error.message)") } }
        if top < 1 || top > 1000 { throw ValidationError("--top must be from 1 to 1000") }
        if histogram != nil && facets != nil { throw ValidationError("give one of --histogram or --facets") }
        if (histogram != nil || facets != nil) && (count || collisions || follow || withProof) {
            throw ValidationError("--histogram and --facets go without --count, --collisions, --follow or --with-proof")
        }
        if let since, QueryParameters.time(since, now: QueryParameters.now) == nil { throw ValidationError("--since '\(since)' is not an RFC 3339 time or a time ago like 1h") }
        if let until, QueryParameters.time(until, now: QueryParameters.now) == nil { throw ValidationError("--until '\(until)' is not an RFC 3339 time or a time ago like 1h") }
        if let code, QueryParameters.code(code) == nil { throw ValidationError("--code '\(code)' is not a response code like 404 or a class like 4xx") }
    }

    var query: EventQuery {
        let now = QueryParameters.now
        let c = code.flatMap { QueryParameters.code($0) }
        return EventQuery(cluster: cluster, node: node, user: user, verb: verb, resource: resource, namespace: namespace,
                          since: since.flatMap { QueryParameters.time($0, now: now) }, until: until.flatMap { QueryParameters.time($0, now: now) },
                          limit: limit, after: after.flatMap { EventCursor($0) }, group: group, apiGroup: apiGroup, name: name,
                          code: c?.code, codeClass: c?.codeClass, stage: stage, text: text)
    }

    func run() async throws {
        if let store = source.store {
            let logger = try LogSetup.logger("auditship.query", level: "error")
            let db = try await Aggregator.openStore(try StoreLocation(store), passwordFile: source.storePasswordFile, readOnly: true, logger: logger)
            do {
                try await queryStore(db)
            } catch {
                try? await db.close()
                throw error
            }
            try await db.close()
        } else if let aggregator = source.aggregator {
            try queryAggregator(aggregator)
        }
    }

    func queryStore(_ db: any EventStore) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if let histogram, let width = HistogramBucket.width(histogram) {
            let buckets = try await db.histogram(query, bucket: width)
            FileHandle.standardOutput.write(try encoder.encode(buckets.map(HistogramResponse.init)) + Data("\n".utf8))
        } else if let facets {
            let fields = try FacetField.list(facets)
            let found = try await db.facets(query, fields: fields, top: top)
            FileHandle.standardOutput.write(try encoder.encode(FacetResponse.object(found, fields: fields)) + Data("\n".utf8))
        } else if collisions {
            for c in try await db.collisions(query) {
                print("{\"cluster\":\(JSONText.quote(c.cluster)),\"auditID\":\(JSONText.quote(c.auditID)),\"stage\":\(JSONText.quote(c.stage)),\"events\":\(c.events)}")
            }
        } else if follow {
            try await followStore(db)
        } else if count {
            print(try await db.count(query))
        } else if withProof {
            guard let source = db as? any ChainSource else { throw ValidationError("this store keeps no hash chain") }
            let events = try await db.events(query)
            let trusted = publicKey.isEmpty ? nil : try ChainKeys.load(files: publicKey)
            let keyIDs = trusted.map { Set($0.keys) }
            var bundle = try await ProofBundle.build(events: events.map { (id: $0.sequence, cluster: $0.cluster, node: $0.node, raw: $0.bytes) },
                                                     source: source, keyIDs: keyIDs)
            if let trusted {
                // The keys given, not the store's copies.
                bundle.keys = [:]
                for (id, key) in trusted { bundle.keys[id] = try key.pem() }
            }
            FileHandle.standardOutput.write(Data(bundle.json()))
            let unproven = bundle.events.filter { $0.block == nil }.count
            let uncovered = Set(bundle.events.filter { $0.block != nil }.map(\.chain)).subtracting(bundle.checkpoints.map(\.cluster))
            if unproven > 0 { FileHandle.standardError.write(Data("\(unproven) events are in no block (stored before the chain existed): the proof cannot cover them\n".utf8)) }
            if !uncovered.isEmpty { FileHandle.standardError.write(Data("no signed checkpoint\(keyIDs == nil ? "" : " by the given keys") covers these events yet in chain(s) \(uncovered.sorted().joined(separator: ", ")): try again after the next checkpoint\n".utf8)) }
            // Check what was written as a reader would (with the given keys, else the bundle's own).
            let check = bundle.verify(trustedKeys: trusted)
            if unproven == 0 && uncovered.isEmpty && !check.ok {
                FileHandle.standardError.write(Data("the proof does not verify: \(check.problems.prefix(5).joined(separator: "; "))\n".utf8))
            }
            // The bundle is written either way; the status says whether it proves every event.
            if unproven > 0 || !uncovered.isEmpty || !check.ok { throw ExitCode(1) }
        } else if format == .json {
            // Pages through the cursor: memory holds one page, however many events the answer has.
            var page = query
            var remaining = query.limit
            while true {
                let size = min(remaining ?? Self.pageSize, Self.pageSize)
                page.limit = size
                let events = try await db.events(page)
                printEvents(events.map { ($0.cluster, $0.node, $0.bytes) })
                if let r = remaining { remaining = r - events.count }
                guard events.count == size, (remaining ?? 1) > 0, let last = events.last else { break }
                page.after = last.cursor
            }
        } else {
            let events = try await db.events(query)
            printEvents(events.map { ($0.cluster, $0.node, $0.bytes) })
        }
    }

    /// Events a page of `query --store --format json` reads at a time.
    static let pageSize = 10_000

    /// Prints events as they arrive: new events (by ingest sequence) are held for the lateness
    /// window and released in timestamp order; an event that arrives after later-stamped events
    /// were already printed is printed at once and reported on standard error as late.
    func followStore(_ db: any EventStore) async throws {
        guard let window = parseDuration(lateness) else { return }
        let windowMicros = window.components.seconds * 1_000_000 + window.components.attoseconds / 1_000_000_000_000
        // Start with what is stored now.
        var printedUpTo: Int64 = .min
        var last = try await db.lastSequence()
        let existing = try await db.events(query)
        printEvents(existing.map { ($0.cluster, $0.node, $0.bytes) })
        if let t = existing.last?.timestamp.microseconds { printedUpTo = t }
        var held: [StoredEvent] = []
        var lateCount = 0
        while !Task.isCancelled {
            var q = query
            q.ingestedAfter = last
            q.ingestOrder = true
            q.limit = 10_000
            q.after = nil
            let new = try await db.events(q)
            if let seq = new.last?.sequence { last = seq }
            for e in new {
                if e.timestamp.microseconds < printedUpTo {
                    lateCount += 1
                    FileHandle.standardError.write(Data("late event: \(e.cluster)/\(e.node) at \(e.timestamp) arrived after \(Timestamp(microseconds: printedUpTo)) was printed (\(lateCount) late so far)\n".utf8))
                    printEvents([(e.cluster, e.node, e.bytes)])
                } else {
                    held.append(e)
                }
            }
            let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
            held.sort { a, b in
                let x = a.cursor, y = b.cursor
                return (x.timestamp, x.received, x.auditID, x.stage, x.sequence) < (y.timestamp, y.received, y.auditID, y.stage, y.sequence)
            }
            let due = held.prefix { $0.timestamp.microseconds <= now - windowMicros }
            if !due.isEmpty {
                printEvents(due.map { ($0.cluster, $0.node, $0.bytes) })
                printedUpTo = max(printedUpTo, due.last?.timestamp.microseconds ?? printedUpTo)
                held.removeFirst(due.count)
            }
            try await Task.sleep(for: .milliseconds(new.count == 10_000 ? 0 : 250))
        }
    }

    func queryAggregator(_ base: String) throws {
        var items: [URLQueryItem] = []
        func add(_ k: String, _ v: String?) { if let v { items.append(URLQueryItem(name: k, value: v)) } }
        add("cluster", cluster); add("node", node); add("user", user); add("verb", verb); add("resource", resource)
        add("namespace", namespace); add("since", since); add("until", until); add("limit", limit.map(String.init)); add("after", after)
        add("group", group); add("apiGroup", apiGroup); add("name", name); add("code", code); add("stage", stage); add("text", text)
        if count { add("count", "true") }
        var components = URLComponents(string: base.hasSuffix("/") ? String(base.dropLast()) : base)
        if let histogram { add("bucket", histogram) }
        if let facets { add("fields", facets); add("top", String(top)) }
        components?.path = histogram != nil ? "/v1/histogram" : facets != nil ? "/v1/facets" : collisions ? "/v1/collisions" : BatchProtocol.eventsPath
        components?.queryItems = items.isEmpty ? nil : items
        guard let url = components?.string else { throw ValidationError("--aggregator '\(base)' is not a URL") }
        let client = try HTTPClient(tls: source.tls)
        let response = try client.request(method: "GET", url: url, timeoutSeconds: 300, maxResponseBytes: 1 << 30)
        guard response.status == 200 else {
            throw ValidationError("aggregator answered \(response.status): \(response.bodyText)")
        }
        if let next = response.headers["x-auditship-next-cursor"] {
            FileHandle.standardError.write(Data("more events: run again with --after \(next)\n".utf8))
        }
        if count || format == .json || collisions || histogram != nil || facets != nil {
            FileHandle.standardOutput.write(Data(response.body))
            return
        }
        var rows: [(String, String, [UInt8])] = []
        for line in response.body.split(separator: 0x0A) {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let event = obj["event"], let data = try? JSONSerialization.data(withJSONObject: event) else { continue }
            rows.append((obj["cluster"] as? String ?? "", obj["node"] as? String ?? "", [UInt8](data)))
        }
        printEvents(rows)
    }

    func printEvents(_ rows: [(String, String, [UInt8])]) {
        switch format {
        case .json:
            var out: [UInt8] = []
            for (c, n, bytes) in rows {
                out.append(contentsOf: JSONText.taggedEventLine(cluster: c, node: n, event: bytes))
                out.append(0x0A)
                if out.count > 1 << 20 { FileHandle.standardOutput.write(Data(out)); out.removeAll(keepingCapacity: true) }
            }
            FileHandle.standardOutput.write(Data(out))
        case .table:
            print(EventTable.render(rows))
        }
    }
}

/// A terminal table of events.
enum EventTable {
    static func render(_ rows: [(String, String, [UInt8])]) -> String {
        var table: [[String]] = [["TIME", "CLUSTER", "NODE", "USER", "VERB", "RESOURCE", "NAMESPACE/NAME", "CODE", "STAGE"]]
        for (c, n, bytes) in rows {
            guard let e = try? EventScanner.scan(bytes) else { continue }
            let resource = e.hasObjectRef ? e.resource + (e.subresource.isEmpty ? "" : "/" + e.subresource) : e.requestURI
            let object = [e.namespace, e.name].filter { !$0.isEmpty }.joined(separator: "/")
            table.append([e.orderTimestamp.format(fractionDigits: 3), c, n, e.username ?? "-", e.verb, resource, object,
                          e.responseCode.map(String.init) ?? "-", e.stage])
        }
        var widths = Array(repeating: 0, count: table[0].count)
        for row in table { for (i, cell) in row.enumerated() { widths[i] = min(60, max(widths[i], cell.count)) } }
        return table.map { row in
            row.enumerated().map { i, cell in
                let c = cell.count > 60 ? String(cell.prefix(57)) + "..." : cell
                return c + String(repeating: " ", count: max(0, widths[i] - c.count))
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
