extension PolicyRule {
    /// A one-line human reading of what the rule selects, without its number or level, e.g.
    /// `watch by system:kube-proxy on core endpoints, services`.
    public var summary: String {
        var parts: [String] = []
        parts.append(verbs.isEmpty ? "any verb" : listed(verbs))
        var who: [String] = []
        if !users.isEmpty { who.append(listed(users)) }
        if !userGroups.isEmpty { who.append("group\(userGroups.count == 1 ? "" : "s") \(listed(userGroups))") }
        if !who.isEmpty { parts.append("by " + who.joined(separator: " in ")) }
        if selectsResources {
            if resources.isEmpty {
                parts.append("on any resource")
            } else {
                parts.append("on " + resources.map(Self.describe).joined(separator: "; "))
            }
            if !namespaces.isEmpty {
                let names = namespaces.map { $0.isEmpty ? "cluster scope" : $0 }
                parts.append("in " + listed(names))
            }
        } else if !nonResourceURLs.isEmpty {
            parts.append("on non-resource URLs " + listed(nonResourceURLs))
        } else if isCatchAll {
            return "everything (catch-all)" + stagesSuffix
        } else {
            parts.append("on anything")
        }
        return parts.joined(separator: " ") + stagesSuffix
    }

    private var stagesSuffix: String {
        var extras: [String] = []
        if !omitStages.isEmpty {
            extras.append("omit " + AuditStage.allCases.filter(omitStages.contains).map(\.rawValue).joined(separator: ", "))
        }
        if let omitManagedFields { extras.append("omitManagedFields: \(omitManagedFields)") }
        return extras.isEmpty ? "" : " (" + extras.joined(separator: "; ") + ")"
    }

    static func describe(_ gr: GroupResources) -> String {
        let group = gr.group.isEmpty ? "core" : gr.group
        if gr.resources.isEmpty { return "all of \(group)" }
        var text = "\(group) \(listed(gr.resources))"
        if !gr.resourceNames.isEmpty { text += " named \(listed(gr.resourceNames))" }
        return text
    }
}

/// `a, b, c` with at most six items shown.
func listed(_ items: [String], limit: Int = 6) -> String {
    let shown = items.prefix(limit).map { $0.isEmpty ? "\"\"" : $0 }
    var text = shown.joined(separator: ", ")
    if items.count > limit { text += ", … (+\(items.count - limit) more)" }
    return text
}
