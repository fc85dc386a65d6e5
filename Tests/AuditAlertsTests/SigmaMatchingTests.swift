import Foundation
import Testing

@testable import AuditAlerts

@Suite("Sigma: values, fields and modifiers")
struct SigmaMatchingTests {
    @Test("a map is AND, a value list is OR, a list of maps is OR")
    func mapsAndLists() throws {
        let d = """
                sel:
                    verb: [create, update]
                    objectRef.resource: configmaps
                condition: sel
            """
        #expect(try sigmaMatches(d, eventView(json: auditEvent(verb: "update", resource: "configmaps"))))
        #expect(try !sigmaMatches(d, eventView(json: auditEvent(verb: "delete", resource: "configmaps"))))
        #expect(try !sigmaMatches(d, eventView(json: auditEvent(verb: "create", resource: "secrets"))))
        let listOfMaps = """
                sel:
                    - verb: delete
                    - objectRef.resource: secrets
                condition: sel
            """
        #expect(try sigmaMatches(listOfMaps, eventView(json: auditEvent(verb: "delete", resource: "pods"))))
        #expect(try sigmaMatches(listOfMaps, eventView(json: auditEvent(verb: "get", resource: "secrets"))))
        #expect(try !sigmaMatches(listOfMaps, eventView(json: auditEvent(verb: "get", resource: "pods"))))
    }

    @Test("matching ignores case unless |cased")
    func caseInsensitive() throws {
        let e = eventView(json: auditEvent(verb: "get", resource: "pods", uri: "/api/v1/namespaces/x/pods/p/exec?command=%2Fbin%2Fsh"))
        #expect(try sigmaMatches("    sel:\n        requestURI|contains: '%2fbin%2fsh'\n    condition: sel", e))
        #expect(try !sigmaMatches("    sel:\n        requestURI|contains|cased: '%2fbin%2fsh'\n    condition: sel", e))
        #expect(try sigmaMatches("    sel:\n        requestURI|contains|cased: '%2Fbin%2Fsh'\n    condition: sel", e))
        #expect(try sigmaMatches("    sel:\n        verb: GET\n    condition: sel", e))
    }

    @Test("wildcards * and ?, and the escapes \\*, \\? and \\\\")
    func wildcardsAndEscapes() throws {
        let star = bareEvent(["requestURI": #"/weird/a*b?c\d"#])
        #expect(try sigmaMatches("    sel:\n        requestURI: '/weird/*'\n    condition: sel", star))
        #expect(try sigmaMatches("    sel:\n        requestURI: '/weird/a?b*'\n    condition: sel", star))
        #expect(try !sigmaMatches("    sel:\n        requestURI: '/weird/a?c*'\n    condition: sel", star))
        // \* and \? are the characters themselves; \\ is one backslash; a lone backslash before a letter stays.
        #expect(try sigmaMatches(#"    sel:\n        requestURI: '/weird/a\*b\?c\\d'\n    condition: sel"#.replacingOccurrences(of: #"\n"#, with: "\n"), star))
        #expect(try sigmaMatches(#"    sel:\n        requestURI: '/weird/a\*b\?c\d'\n    condition: sel"#.replacingOccurrences(of: #"\n"#, with: "\n"), star))
        let plain = bareEvent(["requestURI": "/weird/axbyc"])
        #expect(try sigmaMatches("    sel:\n        requestURI: '/weird/a?b?c'\n    condition: sel", plain))
        #expect(try !sigmaMatches(#"    sel:\n        requestURI: '/weird/a\?b\?c'\n    condition: sel"#.replacingOccurrences(of: #"\n"#, with: "\n"), plain))
        #expect(SigmaValueMatch.tokens(#"a\\*"#) == [.literal(#"a\"#), .anyRun])
        #expect(SigmaValueMatch.tokens(#"a\\\*"#) == [.literal(#"a\*"#)])
    }

    @Test("contains, startswith, endswith and |all")
    func stringModifiers() throws {
        let e = bareEvent(["userAgent": "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350"])
        #expect(try sigmaMatches("    sel:\n        userAgent|startswith: KUBECTL/\n    condition: sel", e))
        #expect(try sigmaMatches("    sel:\n        userAgent|endswith: '/3968350'\n    condition: sel", e))
        #expect(try !sigmaMatches("    sel:\n        userAgent|endswith: 'kubectl'\n    condition: sel", e))
        #expect(try sigmaMatches("    sel:\n        userAgent|contains|all: [linux, amd64]\n    condition: sel", e))
        #expect(try !sigmaMatches("    sel:\n        userAgent|contains|all: [linux, arm64]\n    condition: sel", e))
        #expect(try sigmaMatches("    sel:\n        userAgent|contains: [linux, arm64]\n    condition: sel", e))
    }

    @Test("numbers against strings: 403 and '403' match the number 403 and the string \"403\"")
    func numbersAndStrings() throws {
        let number = bareEvent(["responseStatus": ["code": 403]])
        let string = bareEvent(["responseStatus": ["code": "403"]])
        let other = bareEvent(["responseStatus": ["code": 404]])
        for d in ["    sel:\n        responseStatus.code: 403\n    condition: sel", "    sel:\n        responseStatus.code: '403'\n    condition: sel"] {
            #expect(try sigmaMatches(d, number))
            #expect(try sigmaMatches(d, string))
            #expect(try !sigmaMatches(d, other))
        }
        #expect(try sigmaMatches("    sel:\n        responseStatus.code: '40*'\n    condition: sel", number))
        // A word compared with a number never matches.
        #expect(try !sigmaMatches("    sel:\n        responseStatus.code: 'ALLOW'\n    condition: sel", number))
        #expect(try sigmaMatches("    sel:\n        requestObject.spec.hostNetwork: true\n    condition: sel", bareEvent(["requestObject": ["spec": ["hostNetwork": true]]])))
    }

    @Test("numeric comparisons read numbers and numeric strings")
    func comparisons() throws {
        let e = bareEvent(["responseStatus": ["code": 503]])
        #expect(try sigmaMatches("    sel:\n        responseStatus.code|gte: 500\n    condition: sel", e))
        #expect(try sigmaMatches("    sel:\n        responseStatus.code|gt: 502\n    condition: sel", e))
        #expect(try !sigmaMatches("    sel:\n        responseStatus.code|lt: 503\n    condition: sel", e))
        #expect(try sigmaMatches("    sel:\n        responseStatus.code|lte: 503\n    condition: sel", e))
        #expect(try sigmaMatches("    sel:\n        responseStatus.code|lt: 600\n    condition: sel", bareEvent(["responseStatus": ["code": "599"]])))
    }

    @Test("a list matches when any element does, at the end of a path and on the way")
    func arrays() throws {
        let e = eventView(json: auditEvent(
            verb: "create", resource: "pods", namespace: "default", groups: ["system:authenticated", "ops-admins"],
            requestObject: pod(["containers": [["name": "a", "image": "registry.corp/a:1"], ["name": "b", "image": "evil/miner:latest"]]])))
        #expect(try sigmaMatches("    sel:\n        user.groups: ops-admins\n    condition: sel", e))
        #expect(try !sigmaMatches("    sel:\n        user.groups: system:masters\n    condition: sel", e))
        #expect(try sigmaMatches("    sel:\n        requestObject.spec.containers.image|endswith: ':latest'\n    condition: sel", e))
        #expect(try !sigmaMatches("    sel:\n        requestObject.spec.containers.image|startswith: 'docker.io/'\n    condition: sel", e))
        #expect(try sigmaMatches("    sel:\n        sourceIPs|cidr: 10.0.0.0/8\n    condition: sel", e))
        #expect(try !sigmaMatches("    sel:\n        sourceIPs|cidr: 192.168.0.0/16\n    condition: sel", e))
        #expect(try sigmaMatches("    sel:\n        sourceIPs|cidr: 'fd00::/8'\n    condition: sel", bareEvent(["sourceIPs": ["127.0.0.1", "fd12:3456::1"]])))
    }

    @Test("dotted names: a key containing dots under annotations, and a literal dotted key first")
    func dottedKeys() throws {
        let e = eventView(json: auditEvent(verb: "get", resource: "secrets", decision: "forbid"))
        #expect(try sigmaMatches("    sel:\n        annotations.authorization.k8s.io/decision: forbid\n    condition: sel", e))
        #expect(try !sigmaMatches("    sel:\n        annotations.authorization.k8s.io/decision: allow\n    condition: sel", e))
        // A top-level key with dots is found as it is, and the nested path is still tried.
        let both = bareEvent(["a.b": "literal", "a": ["b": "nested"]])
        #expect(try sigmaMatches("    sel:\n        a.b: literal\n    condition: sel", both))
        #expect(try sigmaMatches("    sel:\n        a.b: nested\n    condition: sel", both))
        #expect(try !sigmaMatches("    sel:\n        a.b: other\n    condition: sel", both))
    }

    @Test("null, a lone '*', and |exists")
    func presence() throws {
        let with = eventView(json: auditEvent(verb: "create", resource: "pods", requestObject: pod(podSpec(volumes: [["name": "h", "hostPath": ["path": "/etc"]]]))))
        let without = eventView(json: auditEvent(verb: "create", resource: "pods", requestObject: pod(podSpec())))
        let nullValue = bareEvent(["impersonatedUser": NSNull()])
        // '*' matches any present value, a mapping included.
        #expect(try sigmaMatches("    sel:\n        requestObject.spec.volumes.hostPath: '*'\n    condition: sel", with))
        #expect(try !sigmaMatches("    sel:\n        requestObject.spec.volumes.hostPath: '*'\n    condition: sel", without))
        #expect(try sigmaMatches("    sel:\n        requestObject.spec.volumes.hostPath|exists: true\n    condition: sel", with))
        #expect(try sigmaMatches("    sel:\n        requestObject.spec.volumes.hostPath|exists: false\n    condition: sel", without))
        #expect(try sigmaMatches("    sel:\n        impersonatedUser: null\n    condition: sel", nullValue))
        #expect(try sigmaMatches("    sel:\n        impersonatedUser: null\n    condition: sel", without))
        #expect(try !sigmaMatches("    sel:\n        verb: null\n    condition: sel", without))
        #expect(try !sigmaMatches("    sel:\n        impersonatedUser|exists: true\n    condition: sel", nullValue))
    }

    @Test("|re with its flags, and |cidr on a single value")
    func regexAndCidr() throws {
        let e = bareEvent(["userAgent": "TruffleHog/3.1", "sourceIPs": ["172.20.4.9"]])
        #expect(try sigmaMatches("    sel:\n        userAgent|re: '^Truffle[A-Z]og/'\n    condition: sel", e))
        #expect(try !sigmaMatches("    sel:\n        userAgent|re: '^trufflehog/'\n    condition: sel", e))
        #expect(try sigmaMatches("    sel:\n        userAgent|re|i: '^trufflehog/'\n    condition: sel", e))
        #expect(try sigmaMatches("    sel:\n        sourceIPs|cidr: 172.16.0.0/12\n    condition: sel", e))
        #expect(try !sigmaMatches("    sel:\n        sourceIPs|cidr: 172.32.0.0/12\n    condition: sel", e))
    }

    @Test("the default field mapping, and sigmaFieldMap in our rules file overriding it")
    func fieldMapping() throws {
        let privileged = eventView(json: auditEvent(
            verb: "create", resource: "pods", apiGroup: "apps",
            requestObject: pod(podSpec(container: ["securityContext": ["capabilities": ["add": ["NET_ADMIN"]]]]))))
        #expect(try sigmaMatches("    sel:\n        capabilities: net_admin\n        apiGroup: apps\n    condition: sel", privileged))
        let ours = """
            apiVersion: auditship.io/v1
            kind: AlertRules
            sigmaFieldMap:
              capabilities: requestObject.spec.containers.securityContext.capabilities.drop
              team: requestObject.metadata.labels.team
            """
        let rule = sigmaRule(detection: "    sel:\n        capabilities: net_admin\n    condition: sel")
        let set = try loadSigma([ours, rule])
        #expect(set.sigmaFieldMap["capabilities"] == ["requestObject.spec.containers.securityContext.capabilities.drop"])
        #expect(set.sigmaFieldMap["apiGroup"] == ["objectRef.apiGroup"])
        #expect(AlertEngine(rules: set).matchingRules(view: privileged).isEmpty)
    }

    @Test("a Sigma rule fires once per request: ResponseComplete and Panic, not RequestReceived")
    func stages() throws {
        let set = try loadSigma([sigmaRule(detection: "    sel:\n        verb: delete\n    condition: sel")])
        let engine = AlertEngine(rules: set)
        for (stage, fires) in [("RequestReceived", false), ("ResponseStarted", false), ("ResponseComplete", true), ("Panic", true)] {
            #expect(!engine.matchingRules(view: eventView(json: auditEvent(verb: "delete", resource: "pods", stage: stage))).isEmpty == fires, "\(stage)")
        }
    }
}
