// Matching semantics, transliterated from kube-apiserver's audit policy checker
// (staging/src/k8s.io/apiserver/pkg/audit/policy/checker.go), plus a precompiled bit-mask form.

/// Whether `rule` matches `request` (kube's `ruleMatches`).
func ruleMatches(_ rule: PolicyRule, _ request: PolicyRequest) -> Bool {
    if !rule.users.isEmpty {
        guard let user = request.user, rule.users.contains(user) else { return false }
    }
    if !rule.userGroups.isEmpty {
        guard request.user != nil, request.groups.contains(where: rule.userGroups.contains) else { return false }
    }
    if !rule.verbs.isEmpty, !rule.verbs.contains(request.verb) { return false }
    if rule.selectsResources { return ruleMatchesResource(rule, request) }
    if !rule.nonResourceURLs.isEmpty {
        guard !request.isResourceRequest else { return false }
        return rule.nonResourceURLs.contains { pathMatches(request.path, $0) }
    }
    return true
}

/// kube's `pathMatches`: `*`, exact, or prefix when the spec ends in `*`.
func pathMatches(_ path: String, _ spec: String) -> Bool {
    if spec == "*" || spec == path { return true }
    if spec.hasSuffix("*") {
        let prefix = spec.utf8.reversed().drop { $0 == UInt8(ascii: "*") }
        return path.utf8.starts(with: prefix.reversed())
    }
    return false
}

func ruleMatchesResource(_ rule: PolicyRule, _ request: PolicyRequest) -> Bool {
    guard request.isResourceRequest else { return false }
    if !rule.namespaces.isEmpty, !rule.namespaces.contains(request.namespace) { return false }
    if rule.resources.isEmpty { return true }
    return rule.resources.contains { groupResourcesMatch($0, request) }
}

/// One GroupResources entry against a resource request.
func groupResourcesMatch(_ gr: GroupResources, _ request: PolicyRequest) -> Bool {
    guard gr.group == request.apiGroup else { return false }
    if gr.resources.isEmpty { return true }
    if !gr.resourceNames.isEmpty, !gr.resourceNames.contains(request.name) { return false }
    return gr.resources.contains { resourcePatternMatches($0, resource: request.resource, subresource: request.subresource) }
}

/// `pods`, `pods/log`, `*`, `*/scale`, `pods/*` against a request's resource and subresource.
func resourcePatternMatches(_ pattern: String, resource: String, subresource: String) -> Bool {
    if pattern == "*" { return true }
    let p = pattern.utf8
    let slash = UInt8(ascii: "/")
    let star = UInt8(ascii: "*")
    if subresource.isEmpty {
        if pattern == resource { return true }
    } else {
        // pattern == resource + "/" + subresource, without building the string
        let r = resource.utf8
        let s = subresource.utf8
        if p.count == r.count + 1 + s.count, p.starts(with: r),
           p.dropFirst(r.count).first == slash, p.dropFirst(r.count + 1).elementsEqual(s) {
            return true
        }
        // "*/subresource"
        if p.count == s.count + 2, p.first == star, p.dropFirst().first == slash, p.dropFirst(2).elementsEqual(s) {
            return true
        }
    }
    // "resource/*" matches the resource and all its subresources (kube compares the bare resource)
    let r = resource.utf8
    if p.count == r.count + 2, p.starts(with: r), p.dropFirst(r.count).first == slash, p.last == star {
        return true
    }
    return false
}

/// A policy compiled for fast evaluation: rules in chunks of 64, each a bit-mask index.
final class CompiledPolicy: Sendable {
    let decisions: [PolicyDecision]
    let defaultDecision: PolicyDecision
    let chunks: [MaskIndex]

    init(rules: [PolicyRule], omitStages: Set<AuditStage>, omitManagedFields: Bool) {
        decisions = rules.enumerated().map { index, rule in
            PolicyDecision(
                level: rule.level, omitStages: omitStages.union(rule.omitStages),
                omitManagedFields: rule.omitManagedFields ?? omitManagedFields, ruleIndex: index)
        }
        defaultDecision = PolicyDecision(level: .none, omitStages: omitStages, omitManagedFields: omitManagedFields, ruleIndex: nil)
        chunks = stride(from: 0, to: rules.count, by: 64).map { start in
            MaskIndex(rules: rules[start..<min(start + 64, rules.count)], offset: start)
        }
    }

    func decision(forRule index: Int?) -> PolicyDecision {
        guard let index, decisions.indices.contains(index) else { return defaultDecision }
        return decisions[index]
    }

    @inline(__always)
    func firstMatch(_ request: PolicyRequest) -> Int? {
        for chunk in chunks {
            if let bit = chunk.firstMatch(request) { return chunk.offset + bit }
        }
        return nil
    }

    func decision(for request: PolicyRequest) -> PolicyDecision {
        if let index = firstMatch(request) { return decisions[index] }
        return defaultDecision
    }
}

/// Per-attribute hash tables from a value to the bit set of rules (bit i = rule i) that accept it.
final class MaskIndex: Sendable {
    struct ExactResource: Sendable {
        var bare: UInt64 = 0  // patterns without a slash
        var subresources: [String: UInt64] = [:]  // "res/sub" patterns
    }
    final class FrozenExact: Sendable {
        let bare: UInt64
        let subresources: StringTable<UInt64>
        init(bare: UInt64, subresources: StringTable<UInt64>) {
            self.bare = bare
            self.subresources = subresources
        }
    }
    /// The lookup form of a `GroupBuilder`.
    final class GroupIndex: Sendable {
        let anyResource: UInt64
        let star: UInt64
        let exact: StringTable<FrozenExact>
        let anyOfSubresource: StringTable<UInt64>
        let allOfResource: StringTable<UInt64>
        let named: [(bit: UInt64, entry: GroupResources)]
        init(_ b: GroupBuilder) {
            anyResource = b.anyResource
            star = b.star
            exact = StringTable(b.exact.mapValues { FrozenExact(bare: $0.bare, subresources: StringTable($0.subresources)) })
            anyOfSubresource = StringTable(b.anyOfSubresource)
            allOfResource = StringTable(b.allOfResource)
            named = b.named
        }
    }
    struct GroupBuilder: Sendable {
        var anyResource: UInt64 = 0  // entries with no resources
        var star: UInt64 = 0  // "*"
        var exact: [String: ExactResource] = [:]
        var anyOfSubresource: [String: UInt64] = [:]  // "*/sub"
        var allOfResource: [String: UInt64] = [:]  // "res/*"
        /// Entries that list resourceNames, checked one by one.
        var named: [(bit: UInt64, entry: GroupResources)] = []
    }

    let offset: Int
    let all: UInt64
    let plain: UInt64  // no resources, namespaces or nonResourceURLs
    let resourceRules: UInt64
    let nonResourceRules: UInt64
    let noUsers: UInt64
    let noGroups: UInt64
    let noVerbs: UInt64
    let users: StringTable<UInt64>
    let groups: StringTable<UInt64>
    let verbs: StringTable<UInt64>
    let noNamespaces: UInt64
    let namespaces: StringTable<UInt64>
    let noResources: UInt64
    let apiGroups: StringTable<GroupIndex>
    let urlAny: UInt64
    let urlExact: StringTable<UInt64>
    let urlPrefixes: [(prefix: String, bit: UInt64)]

    init(rules: ArraySlice<PolicyRule>, offset: Int) {
        var b = Builder()
        for (index, rule) in rules.enumerated() { b.add(rule, bit: 1 << UInt64(index)) }
        self.offset = offset
        all = b.all
        plain = b.plain
        resourceRules = b.resourceRules
        nonResourceRules = b.nonResourceRules
        noUsers = b.noUsers
        noGroups = b.noGroups
        noVerbs = b.noVerbs
        users = StringTable(b.users)
        groups = StringTable(b.groups)
        verbs = StringTable(b.verbs)
        noNamespaces = b.noNamespaces
        namespaces = StringTable(b.namespaces)
        noResources = b.noResources
        apiGroups = StringTable(b.apiGroups.mapValues(GroupIndex.init))
        urlAny = b.urlAny
        urlExact = StringTable(b.urlExact)
        urlPrefixes = b.urlPrefixes
    }

    struct Builder {
    var all: UInt64 = 0
    var plain: UInt64 = 0
    var resourceRules: UInt64 = 0
    var nonResourceRules: UInt64 = 0
    var noUsers: UInt64 = 0
    var noGroups: UInt64 = 0
    var noVerbs: UInt64 = 0
    var users: [String: UInt64] = [:]
    var groups: [String: UInt64] = [:]
    var verbs: [String: UInt64] = [:]
    var noNamespaces: UInt64 = 0
    var namespaces: [String: UInt64] = [:]
    var noResources: UInt64 = 0
    var apiGroups: [String: GroupBuilder] = [:]
    var urlAny: UInt64 = 0
    var urlExact: [String: UInt64] = [:]
    var urlPrefixes: [(prefix: String, bit: UInt64)] = []

    mutating func add(_ rule: PolicyRule, bit: UInt64) {
        do {
            all |= bit
            if rule.users.isEmpty { noUsers |= bit }
            for u in rule.users { users[u, default: 0] |= bit }
            if rule.userGroups.isEmpty { noGroups |= bit }
            for g in rule.userGroups { groups[g, default: 0] |= bit }
            if rule.verbs.isEmpty { noVerbs |= bit }
            for v in rule.verbs { verbs[v, default: 0] |= bit }
            if rule.selectsResources {
                resourceRules |= bit
                if rule.namespaces.isEmpty { noNamespaces |= bit }
                for ns in rule.namespaces { namespaces[ns, default: 0] |= bit }
                if rule.resources.isEmpty { noResources |= bit }
                for gr in rule.resources { add(gr, bit: bit) }
            } else if !rule.nonResourceURLs.isEmpty {
                nonResourceRules |= bit
                for spec in rule.nonResourceURLs {
                    if spec == "*" {
                        urlAny |= bit
                    } else {
                        urlExact[spec, default: 0] |= bit
                        if spec.hasSuffix("*") {
                            let prefix = String(spec.reversed().drop { $0 == "*" }.reversed())
                            urlPrefixes.append((prefix, bit))
                        }
                    }
                }
            } else {
                plain |= bit
            }
        }
    }

    mutating func add(_ gr: GroupResources, bit: UInt64) {
        var index = apiGroups[gr.group] ?? GroupBuilder()
        defer { apiGroups[gr.group] = index }
        if gr.resources.isEmpty {
            index.anyResource |= bit
            return
        }
        if !gr.resourceNames.isEmpty {
            index.named.append((bit, gr))
            return
        }
        for pattern in gr.resources {
            if pattern == "*" {
                index.star |= bit
                continue
            }
            if let slash = pattern.firstIndex(of: "/") {
                let res = String(pattern[..<slash])
                let sub = String(pattern[pattern.index(after: slash)...])
                index.exact[res, default: ExactResource()].subresources[sub, default: 0] |= bit
                if res == "*" { index.anyOfSubresource[sub, default: 0] |= bit }
                if sub == "*" { index.allOfResource[res, default: 0] |= bit }
            } else {
                index.exact[pattern, default: ExactResource()].bare |= bit
            }
        }
    }

    }

    @inline(__always)
    func firstMatch(_ r: PolicyRequest) -> Int? {
        var m = all
        if let user = r.user {
            if !users.isEmpty { m &= noUsers | (users[user] ?? 0) }
            if !groups.isEmpty, m & ~noGroups != 0 {
                var g = noGroups
                for group in r.groups { g |= groups[group] ?? 0 }
                m &= g
            }
        } else {
            m &= noUsers & noGroups
        }
        if !verbs.isEmpty, m & ~noVerbs != 0 { m &= noVerbs | (verbs[r.verb] ?? 0) }
        if m == 0 { return nil }
        if r.isResourceRequest {
            var part = plain
            var candidates = m & resourceRules
            if candidates != 0 {
                if candidates & ~noNamespaces != 0 { candidates &= noNamespaces | (namespaces[r.namespace] ?? 0) }
                if candidates & ~noResources != 0 { candidates &= noResources | resourceMatches(r) }
                part |= candidates
            }
            m &= part
        } else {
            var part = plain
            let candidates = m & nonResourceRules
            if candidates != 0 { part |= candidates & urlMatches(r.path) }
            m &= part
        }
        return m == 0 ? nil : m.trailingZeroBitCount
    }

    @inline(__always)
    private func urlMatches(_ path: String) -> UInt64 {
        var bits = urlAny | (urlExact[path] ?? 0)
        for (prefix, bit) in urlPrefixes where bits & bit == 0 {
            if path.utf8.starts(with: prefix.utf8) { bits |= bit }
        }
        return bits
    }

    @inline(__always)
    private func resourceMatches(_ r: PolicyRequest) -> UInt64 {
        guard let index = apiGroups[r.apiGroup] else { return 0 }
        var bits = index.anyResource | index.star
        if let exact = index.exact[r.resource] {
            if r.subresource.isEmpty {
                bits |= exact.bare
            } else if !exact.subresources.isEmpty {
                bits |= exact.subresources[r.subresource] ?? 0
            }
        }
        if !r.subresource.isEmpty, !index.anyOfSubresource.isEmpty {
            bits |= index.anyOfSubresource[r.subresource] ?? 0
        }
        if !index.allOfResource.isEmpty { bits |= index.allOfResource[r.resource] ?? 0 }
        for (bit, entry) in index.named where bits & bit == 0 {
            if groupResourcesMatch(entry, r) { bits |= bit }
        }
        return bits
    }
}
