import ArgumentParser
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
            with a reader certificate).
            """)

    enum Format: String, ExpressibleByArgument { case json, table }

    @Option(help: "Store URL: sqlite:PATH.") var store: String?
    @Option(help: "Aggregator URL (with --tls-cert/--tls-key/--ca of a reader).") var aggregator: String?
    @Option(help: "Reader certificate (PEM), with --aggregator.") var tlsCert: String?
    @Option(help: "Reader key (PEM), with --aggregator.") var tlsKey: String?
    @Option(help: "CA of the aggregator (PEM), with --aggregator.") var ca: String?
    @Option var cluster: String?
    @Option var node: String?
    @Option(help: "user.username") var user: String?
    @Option var verb: String?
    @Option(help: "Resource, or resource/subresource (pods/exec).") var resource: String?
    @Option var namespace: String?
    @Option(help: "From this time (RFC 3339), inclusive.") var since: String?
    @Option(help: "Until this time (RFC 3339), exclusive.") var until: String?
    @Option(help: "At most this many events.") var limit: Int?
    @Flag(help: "Print only the number of matching events.") var count = false
    @Option(help: "json or table.") var format: Format = .json

    func validate() throws {
        if (store == nil) == (aggregator == nil) { throw ValidationError("give exactly one of --store or --aggregator") }
        if let since, Timestamp(rfc3339: since) == nil { throw ValidationError("--since '\(since)' is not an RFC 3339 time") }
        if let until, Timestamp(rfc3339: until) == nil { throw ValidationError("--until '\(until)' is not an RFC 3339 time") }
    }

    var query: EventQuery {
        EventQuery(cluster: cluster, node: node, user: user, verb: verb, resource: resource, namespace: namespace,
                   since: since.flatMap { Timestamp(rfc3339: $0) }, until: until.flatMap { Timestamp(rfc3339: $0) }, limit: limit)
    }

    func run() async throws {
        if let store {
            guard case .sqlite(let path) = try StoreLocation(store) else {
                throw ValidationError("only sqlite: stores can be read directly in this build")
            }
            let db = try SQLiteStore(path: path, readOnly: true)
            if count {
                print(try await db.count(query))
                return
            }
            let events = try await db.events(query)
            printEvents(events.map { ($0.cluster, $0.node, $0.bytes) })
        } else if let aggregator {
            try queryAggregator(aggregator)
        }
    }

    func queryAggregator(_ base: String) throws {
        var items: [URLQueryItem] = []
        func add(_ k: String, _ v: String?) { if let v { items.append(URLQueryItem(name: k, value: v)) } }
        add("cluster", cluster); add("node", node); add("user", user); add("verb", verb); add("resource", resource)
        add("namespace", namespace); add("since", since); add("until", until); add("limit", limit.map(String.init))
        if count { add("count", "true") }
        var components = URLComponents(string: base.hasSuffix("/") ? String(base.dropLast()) : base)
        components?.path = BatchProtocol.eventsPath
        components?.queryItems = items.isEmpty ? nil : items
        guard let url = components?.string else { throw ValidationError("--aggregator '\(base)' is not a URL") }
        let client = try HTTPClient(tls: ClientTLSConfiguration(certificateFile: tlsCert, keyFile: tlsKey, caFile: ca))
        let response = try client.request(method: "GET", url: url, timeoutSeconds: 300, maxResponseBytes: 1 << 30)
        guard response.status == 200 else {
            throw ValidationError("aggregator answered \(response.status): \(response.bodyText)")
        }
        if count || format == .json {
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
