import AuditBlock
import AuditModel
import AuditStore
import Foundation
import OpenSSLKit
import SharedFixtures
import Testing

@testable import AuditAlerts
@testable import AuditHunt

/// A real-shaped event as JSON bytes.
func huntEvent(_ auditID: String, verb: String, resource: String, namespace: String? = "payments", subresource: String? = nil,
               user: String = "alice@example.com", code: Int = 200, time: String, stage: String = "ResponseComplete",
               requestObject: String? = nil) -> [UInt8] {
    var ref = #""resource":"\#(resource)","apiVersion":"v1""#
    if let namespace { ref += #","namespace":"\#(namespace)""# }
    if let subresource { ref += #","subresource":"\#(subresource)""# }
    let body = requestObject.map { #","requestObject":\#($0)"# } ?? ""
    return Array(#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"\#(auditID)","stage":"\#(stage)","requestURI":"/api/v1/\#(resource)","verb":"\#(verb)","user":{"username":"\#(user)","groups":["system:authenticated"]},"sourceIPs":["10.1.2.3"],"userAgent":"kubectl/v1.30.2","objectRef":{\#(ref)},"responseStatus":{"metadata":{},"code":\#(code)}\#(body),"requestReceivedTimestamp":"\#(time)","stageTimestamp":"\#(time)"}"#.utf8)
}

func sigmaRules(_ yaml: String) throws -> AlertRuleSet {
    try AlertRuleSet.load(yaml: yaml, source: "test.yml", includeBuiltins: false)
}

/// The paged path over a store (as through an aggregator).
struct PagedOnly: HuntSource {
    let inner: StoreHuntSource
    func page(_ prefilter: AlertPrefilter, since: Timestamp?, until: Timestamp?, after cursor: String?, limit: Int)
        async throws -> (events: [HuntEvent], next: String?) {
        try await inner.page(prefilter, since: since, until: until, after: cursor, limit: limit)
    }
}

/// A firing as compared between `alerts test` and a hunt.
struct FiringKey: Hashable, CustomStringConvertible {
    var rule: String
    var auditID: String
    var stage: String
    init(_ f: AlertFiring) { rule = f.rule; auditID = f.auditID; stage = f.stage }
    var description: String { "\(rule) \(auditID) \(stage)" }
}

func counted(_ firings: [AlertFiring]) -> [FiringKey: Int] {
    firings.reduce(into: [:]) { $0[FiringKey($1), default: 0] += 1 }
}

/// Events given to a scratch SQLite store, one batch per 500.
func store(_ events: [[UInt8]], cluster: String = "prod") async throws -> (SQLiteStore, String) {
    let dir = TestTemporaries.directory("hunt")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let s = try SQLiteStore(path: dir + "/s.sqlite")
    var batch = 0
    for chunk in stride(from: 0, to: events.count, by: 500) {
        var part: [IngestEvent] = []
        for b in events[chunk..<min(events.count, chunk + 500)] {
            part.append(IngestEvent(bytes: b, summary: try EventScanner.scan(b), digest: SHA256.hash(b)))
        }
        batch += 1
        _ = try await s.ingest(IngestBatch(cluster: cluster, node: "m1", batchID: "b\(batch)", events: part))
    }
    return (s, dir)
}

/// What `alerts test` finds on the same events, in timestamp order (the store's order).
func tested(_ events: [[UInt8]], rules: AlertRuleSet) -> [AlertFiring] {
    let views = events.compactMap { AuditEventView(bytes: $0) }.enumerated()
        .sorted { ($0.element.timestamp ?? .distantPast, $0.offset) < ($1.element.timestamp ?? .distantPast, $1.offset) }.map(\.element)
    let contents = AuditEventFileContents(source: "t", format: .jsonLines, events: views, problems: [])
    return AlertTester.run(contents: contents, engine: AlertEngine(rules: rules), cluster: "prod", node: "m1").firings
}

@Suite struct HuntPlanTests {
    @Test func builtinSecretRuleNeedsSecretsAndReadVerbs() throws {
        let engine = AlertEngine(rules: .builtin)
        let p = try #require(engine.prefilters.first { $0.rule == "secret-read-by-non-system-user" }?.prefilter)
        #expect(p.constraints[.resource] == AlertPrefilter.Values(["secrets"]))
        #expect(p.constraints[.verb] == AlertPrefilter.Values(["get", "list", "watch"]))
        #expect(p.constraints[.user] == nil, "a negated prefix leaves user open")
        let denied = try #require(engine.prefilters.first { $0.rule == "secret-access-denied" }?.prefilter)
        #expect(denied.constraints[.code] == AlertPrefilter.Values(["401", "403"]))
    }

    @Test func anyOverDifferentFieldsLeavesThemOpenAndOverOneFieldUnites() throws {
        let rules = try AlertRuleSet.load(yaml: """
            apiVersion: auditship.io/v1
            kind: AlertRules
            rules:
              - name: either
                severity: low
                when:
                  any:
                    - {field: verb, equals: delete}
                    - {field: resource, equals: secrets}
                message: x
              - name: one-field
                severity: low
                when:
                  all:
                    - any:
                        - {field: verb, equals: delete}
                        - {field: verb, in: [patch, update]}
                    - {field: namespace, equals: prod}
                message: x
            """, source: "t.yaml", includeBuiltins: false)
        let byRule = Dictionary(uniqueKeysWithValues: AlertEngine(rules: rules).prefilters.map { ($0.rule, $0.prefilter) })
        #expect(byRule["either"]?.isOpen == true)
        #expect(byRule["one-field"]?.constraints[.verb] == AlertPrefilter.Values(["delete", "patch", "update"]))
        #expect(byRule["one-field"]?.constraints[.namespace] == AlertPrefilter.Values(["prod"]))
        // Read in one pass, an open rule's scan takes every event and the other scans keep their rules;
        // read page by page, an open rule makes the hunt one scan of everything with every rule.
        let plan = HuntPlan(rules: rules)
        #expect(plan.scans.map(\.rules) == [["either"], ["one-field"]])
        #expect(plan.pagedScans.count == 1)
        #expect(plan.pagedScans[0].prefilter.isOpen)
        #expect(plan.pagedScans[0].rules == ["either", "one-field"])
    }

    @Test func sigmaValuesAreCaseInsensitiveUnlessCased() throws {
        let rules = try sigmaRules("""
            title: Secret deleted
            logsource: {product: kubernetes, service: audit}
            detection:
                sel:
                    verb: delete
                    objectRef.resource|cased: secrets
                    objectRef.namespace|startswith: prod
                condition: sel
            level: high
            """)
        let p = try #require(AlertEngine(rules: rules).prefilters.first?.prefilter)
        #expect(p.constraints[.verb] == AlertPrefilter.Values(["delete"], caseInsensitive: true))
        #expect(p.constraints[.resource] == AlertPrefilter.Values(["secrets"]))
        #expect(p.constraints[.namespace] == nil, "a prefix is not an exact value")
        #expect(HuntPlan.searchText(p) == "resource:secrets", "the search box has no case-insensitive match: verb is left to the rows")
    }

    @Test func searchTextLeavesOutValuesTheSearchBoxWouldReadDifferently() {
        let p = AlertPrefilter([.user: .init(["a b", "c"]), .namespace: .init(["prod"]), .code: .init(["403"])])
        #expect(HuntPlan.searchText(p) == "code:403 ns:prod")
    }
}

@Suite struct HuntStoreTests {
    /// Events that fire, and near misses, for the built-in pack and a Sigma rule, hunted from a store:
    /// the same firings as `alerts test` over the same events, including a resource in capitals that
    /// only the case-insensitive Sigma rule matches and a suppression window that spans events.
    @Test func huntOverAStoreFindsWhatTheTesterFinds() async throws {
        var events: [[UInt8]] = []
        for i in 0..<400 {
            let t = String(format: "2026-03-01T10:%02d:%02d.000000Z", i / 60, i % 60)
            switch i % 8 {
            case 0: events.append(huntEvent("a-\(i)", verb: "get", resource: "secrets", time: t))
            case 1: events.append(huntEvent("a-\(i)", verb: "get", resource: "secrets", user: "system:serviceaccount:x:y", time: t))
            case 2: events.append(huntEvent("a-\(i)", verb: "create", resource: "pods", subresource: "exec", code: 101, time: t))
            case 3: events.append(huntEvent("a-\(i)", verb: "delete", resource: "Secrets", time: t))
            case 4: events.append(huntEvent("a-\(i)", verb: "get", resource: "secrets", code: 403, time: t))
            default: events.append(huntEvent("a-\(i)", verb: "list", resource: "configmaps", time: t))
            }
        }
        var rules = try AlertRuleSet.load(yaml: """
            title: Secret deleted
            logsource: {product: kubernetes, service: audit}
            detection:
                sel:
                    verb: delete
                    objectRef.resource: secrets
                condition: sel
            level: high
            """, source: "sigma.yml", includeBuiltins: true)
        let (s, dir) = try await store(events)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let want = tested(events, rules: rules)
        #expect(want.contains { $0.rule == "Secret deleted" })
        #expect(want.contains { $0.rule == "pod-exec" })
        let plan = HuntPlan(rules: rules)
        #expect(plan.scans.count >= 1)
        // One pass over the store's blocks (SQLite), and scan by scan, page by page (any other source).
        let report = try await Hunter.run(rules: rules, plan: plan, source: StoreHuntSource(store: s), since: nil, until: nil)
        #expect(counted(report.firings) == counted(want))
        #expect(report.firings.map(FiringKey.init) == want.map(FiringKey.init), "in event order")
        let paged = try await Hunter.run(rules: rules, plan: plan, source: PagedOnly(inner: StoreHuntSource(store: s)), since: nil, until: nil, pageSize: 37)
        #expect(paged.firings.map(FiringKey.init) == want.map(FiringKey.init))
        // A window: only its events.
        let since = try #require(Timestamp(rfc3339: "2026-03-01T10:02:00Z")), until = try #require(Timestamp(rfc3339: "2026-03-01T10:04:00Z"))
        let windowed = try await Hunter.run(rules: rules, plan: plan, source: StoreHuntSource(store: s), since: since, until: until)
        #expect(!windowed.firings.isEmpty)
        #expect(windowed.firings.allSatisfy { ($0.eventTime ?? .distantPast) >= Date(timeIntervalSince1970: 1_772_359_320) })
        #expect(windowed.firings.count < want.count)

        // With only rules whose prefilters are closed, the hunt reads fewer events than the store holds.
        rules = rules.keeping(only: ["Secret deleted", "secret-access-denied", "pod-exec"])
        let narrow = HuntPlan(rules: rules)
        #expect(narrow.scans.allSatisfy { !$0.prefilter.isOpen })
        let small = try await Hunter.run(rules: rules, plan: narrow, source: StoreHuntSource(store: s), since: nil, until: nil)
        #expect(counted(small.firings) == counted(tested(events, rules: rules)))
        #expect(small.eventsRead < events.count, "read \(small.eventsRead) of \(events.count)")
        try await s.close()
    }

    /// The exactness the hunt rests on: over every event of the real-world logs, every rule of the
    /// built-in pack and of SigmaHQ's Kubernetes rules that holds for an event has a prefilter the
    /// event's stored columns pass.
    @Test(.needsShared("real-world/audit-logs"), .needsShared("real-world/rules/sigma"))
    func everyMatchingEventPassesItsRulesPrefilter() throws {
        let rules = try AlertRuleSet.load(paths: [SharedData.path("real-world/rules/sigma")], includeBuiltins: true)
        let engine = AlertEngine(rules: rules)
        let prefilters = Dictionary(uniqueKeysWithValues: engine.prefilters.map { ($0.rule, HuntPlan.matches($0.prefilter)) })
        let dir = SharedData.path("real-world/audit-logs")
        var checked = 0, matched = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() where !file.hasSuffix(".md") {
            for view in AuditEventFile.read(path: dir + "/" + file).events {
                guard let object = try? JSONSerialization.jsonObject(with: Data(view.doc.bytes)),
                      let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { continue }
                let bytes = [UInt8](data)
                guard let summary = try? EventScanner.scan(bytes), let reread = AuditEventView(bytes: bytes) else { continue }
                let row = BlockRow(node: "m1", summary: summary)
                checked += 1
                for rule in engine.matchingRules(view: reread) {
                    matched += 1
                    let filters = prefilters[rule] ?? []
                    #expect(filters.allSatisfy { $0.matches(row) }, "\(file): \(rule) holds but its prefilter refuses the event")
                }
            }
        }
        #expect(checked > 200)
        #expect(matched > 20)
    }
}
