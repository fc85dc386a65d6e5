import AuditModel
import Foundation

/// Settings of ``AuditLogGenerator``.
public struct GeneratorConfiguration: Sendable {
    /// Events to write in total.
    public var events: Int
    public var seed: UInt64
    /// The control-plane node the log is from; also names its kubelet.
    public var node: String
    /// Simulated time of the first event.
    public var start: Timestamp
    /// Average events per simulated second.
    public var rate: Double
    /// Worker nodes whose kubelets and kube-proxies talk to this apiserver.
    public var workerNodes: Int

    public init(events: Int, seed: UInt64 = 1, node: String = "master-1",
                start: Timestamp = Timestamp(microseconds: 1_767_225_600_000_000), rate: Double = 100, workerNodes: Int = 12) {
        self.events = events
        self.seed = seed
        self.node = node
        self.start = start
        self.rate = rate
        self.workerNodes = workerNodes
    }
}

/// A deterministic generator of realistic kube-apiserver audit logs
/// (`audit.k8s.io/v1`, one event a line, in the order the log backend writes them).
///
/// The mix is modelled on a real control plane: kube-proxy watches of
/// endpoints and services; kubelets getting their node and patching
/// nodes/status and pods/status; controller-manager and scheduler lease
/// renewals in kube-system; service-account controllers; people listing pods,
/// reading secrets, exec-ing into pods, and being refused (403); non-resource
/// GETs (/healthz, /version, /api). Each request's stages share one auditID
/// (RequestReceived then ResponseComplete; RequestReceived, ResponseStarted,
/// and minutes later ResponseComplete for watches). Most events are at
/// Metadata level; writes by people are at RequestResponse with bodies.
public struct AuditLogGenerator: Sequence, IteratorProtocol {
    public let configuration: GeneratorConfiguration
    private var rng: SplitMix64
    private var now: Int64
    private var emitted = 0
    private var ready: [[UInt8]] = []
    private var readyIndex = 0
    /// Watch completions scheduled in the future, latest first (the next one due is last).
    private var pendingWatchEnds: [(Int64, Request)] = []
    private let workers: [String]
    private let people = ["alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com", "ci-deployer"]
    private let namespaces = ["default", "payments", "frontend", "monitoring", "kube-system", "data"]

    public init(_ configuration: GeneratorConfiguration) {
        self.configuration = configuration
        self.rng = SplitMix64(seed: configuration.seed)
        self.now = configuration.start.microseconds
        self.workers = (1...Swift.max(1, configuration.workerNodes)).map { "worker-\($0)" }
    }

    /// The next line (without newline), or nil after `events` lines.
    public mutating func next() -> [UInt8]? {
        guard emitted < configuration.events else { return nil }
        while readyIndex >= ready.count {
            ready.removeAll(keepingCapacity: true)
            readyIndex = 0
            produce()
        }
        let line = ready[readyIndex]
        readyIndex += 1
        emitted += 1
        return line
    }

    struct Request {
        var auditID: String
        var verb: String
        var user: String
        var groups: [String]
        var uri: String
        var userAgent: String
        var sourceIP: String
        var resource: String?
        var subresource: String?
        var namespace: String?
        var name: String?
        var apiGroup: String?
        var apiVersion: String
        var code: Int
        var level: String
        var received: Int64
        var requestObject: String?
        var responseObject: String?
        var reason: String
    }

    private mutating func int(_ n: Int) -> Int { Int(rng.next() % UInt64(Swift.max(1, n))) }
    private mutating func pick<T>(_ a: [T]) -> T { a[int(a.count)] }
    private mutating func chance(_ p: Double) -> Bool { Double(rng.next() >> 11) / Double(1 << 53) < p }

    private mutating func uuid() -> String {
        let a = rng.next(), b = rng.next()
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(36)
        var bytes: [UInt8] = []
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: a >> (8 * UInt64(i)))) }
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: b >> (8 * UInt64(i)))) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        for (i, byte) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func advanceClock() {
        // Exponential inter-arrival times average 1/rate seconds per event; two events per request.
        let u: Double = Swift.max(1e-12, Double(rng.next() >> 11) / Double(1 << 53))
        let mean: Double = 2_000_000.0 / Swift.max(0.001, configuration.rate)
        now += Int64(-mean * Foundation.log(u))
    }

    /// Produces the lines of the next request (and any watch completions now due).
    private mutating func produce() {
        advanceClock()
        // Watch completions due by now come first, in time order.
        while let next = pendingWatchEnds.last, next.0 <= now {
            pendingWatchEnds.removeLast()
            ready.append(line(next.1, stage: "ResponseComplete", at: next.0))
        }
        var r = nextRequest()
        let latency = Int64(300 + int(40_000))
        ready.append(line(r, stage: "RequestReceived", at: r.received))
        if r.verb == "watch" {
            ready.append(line(r, stage: "ResponseStarted", at: r.received + latency))
            r.code = 200
            let due = r.received + Int64(300 + int(300)) * 1_000_000
            // Keep the list sorted latest first: binary search for the insertion point.
            var lo = 0, hi = pendingWatchEnds.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if pendingWatchEnds[mid].0 > due { lo = mid + 1 } else { hi = mid }
            }
            pendingWatchEnds.insert((due, r), at: lo)
        } else {
            ready.append(line(r, stage: "ResponseComplete", at: r.received + latency))
        }
    }

    private mutating func nextRequest() -> Request {
        var r = Request(auditID: uuid(), verb: "get", user: "", groups: [], uri: "/", userAgent: "", sourceIP: "10.0.0.10",
                        resource: nil, subresource: nil, namespace: nil, name: nil, apiGroup: nil, apiVersion: "v1",
                        code: 200, level: "Metadata", received: now, requestObject: nil, responseObject: nil, reason: "")
        let roll = int(1000)
        let worker = pick(workers)
        let workerIP = "10.0.1.\(1 + int(200))"
        switch roll {
        case 0..<120:  // kube-proxy watches endpoints / services
            let res = chance(0.6) ? "endpoints" : "services"
            r.verb = "watch"; r.user = "system:kube-proxy"; r.groups = ["system:authenticated"]
            r.userAgent = "kube-proxy/v1.30.2 (linux/amd64) kubernetes/3968350"; r.sourceIP = workerIP
            r.resource = res; r.uri = "/api/v1/\(res)?allowWatchBookmarks=true&resourceVersion=\(100_000 + int(900_000))&timeout=\(5 + int(5))m\(int(60))s&timeoutSeconds=\(300 + int(300))&watch=true"
            r.reason = "RBAC: allowed by ClusterRoleBinding \\\"kubeadm:node-proxier\\\" of ClusterRole \\\"system:node-proxier\\\" to User \\\"system:kube-proxy\\\""
        case 120..<420:  // kubelets
            r.user = "system:node:\(worker)"; r.groups = ["system:nodes", "system:authenticated"]
            r.userAgent = "kubelet/v1.30.2 (linux/amd64) kubernetes/3968350"; r.sourceIP = workerIP
            r.reason = ""
            let k = int(10)
            if k < 4 {
                r.verb = "get"; r.resource = "nodes"; r.name = worker; r.uri = "/api/v1/nodes/\(worker)?resourceVersion=0&timeout=10s"
            } else if k < 7 {
                r.verb = "patch"; r.resource = "nodes"; r.subresource = "status"; r.name = worker
                r.uri = "/api/v1/nodes/\(worker)/status?timeout=10s"
            } else {
                let ns = pick(namespaces)
                let pod = "\(pick(["web", "api", "worker", "cache", "exporter"]))-\(5_000 + int(4_000))-\(String(int(100_000), radix: 36))"
                r.verb = "patch"; r.resource = "pods"; r.subresource = "status"; r.namespace = ns; r.name = pod
                r.uri = "/api/v1/namespaces/\(ns)/pods/\(pod)/status"
            }
        case 420..<620:  // leader-election leases
            let who = chance(0.5) ? "kube-controller-manager" : "kube-scheduler"
            r.user = "system:\(who)"; r.groups = ["system:authenticated"]
            r.userAgent = "\(who)/v1.30.2 (linux/amd64) kubernetes/3968350/leader-election"; r.sourceIP = "10.0.0.\(10 + int(3))"
            r.verb = chance(0.5) ? "get" : "update"; r.resource = "leases"; r.apiGroup = "coordination.k8s.io"
            r.namespace = "kube-system"; r.name = who
            r.uri = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/\(who)?timeout=5s"
            r.reason = "RBAC: allowed by ClusterRoleBinding \\\"system:\(who)\\\" of ClusterRole \\\"system:\(who)\\\" to User \\\"system:\(who)\\\""
        case 620..<800:  // service-account controllers
            let controller = pick(["replicaset-controller", "deployment-controller", "endpointslice-controller", "namespace-controller", "generic-garbage-collector"])
            r.user = "system:serviceaccount:kube-system:\(controller)"
            r.groups = ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"]
            r.userAgent = "kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/3968350/system:serviceaccount:kube-system:\(controller)"
            r.sourceIP = "10.0.0.\(10 + int(3))"
            let ns = pick(namespaces)
            switch int(4) {
            case 0:
                r.verb = "list"; r.resource = "replicasets"; r.apiGroup = "apps"; r.namespace = ns
                r.uri = "/apis/apps/v1/namespaces/\(ns)/replicasets?limit=500"
            case 1:
                r.verb = "update"; r.resource = "endpointslices"; r.apiGroup = "discovery.k8s.io"; r.namespace = ns
                r.name = "svc-\(int(40))-\(String(int(50_000), radix: 36))"
                r.uri = "/apis/discovery.k8s.io/v1/namespaces/\(ns)/endpointslices/\(r.name ?? "")"
            case 2:
                r.verb = "get"; r.resource = "deployments"; r.apiGroup = "apps"; r.namespace = ns; r.name = pick(["web", "api", "worker"])
                r.uri = "/apis/apps/v1/namespaces/\(ns)/deployments/\(r.name ?? "")"
            default:
                r.verb = "watch"; r.resource = "pods"; r.uri = "/api/v1/pods?allowWatchBookmarks=true&resourceVersion=\(int(999_999))&watch=true"
            }
            r.reason = "RBAC: allowed by ClusterRoleBinding \\\"system:controller:\(controller)\\\" of ClusterRole \\\"system:controller:\(controller)\\\" to ServiceAccount \\\"\(controller)/kube-system\\\""
        case 800..<900:  // non-resource GETs
            r.user = chance(0.5) ? "system:anonymous" : "system:serviceaccount:monitoring:prometheus"
            r.groups = r.user == "system:anonymous" ? ["system:unauthenticated"] : ["system:serviceaccounts", "system:serviceaccounts:monitoring", "system:authenticated"]
            r.userAgent = r.user == "system:anonymous" ? "kube-probe/1.30" : "Prometheus/2.53.0"
            r.uri = pick(["/healthz", "/readyz", "/livez", "/version", "/api", "/apis", "/metrics"])
            r.sourceIP = "10.0.2.\(1 + int(50))"
            r.code = r.uri == "/metrics" && r.user == "system:anonymous" ? 403 : 200
            r.reason = r.user == "system:anonymous" ? "RBAC: allowed by ClusterRoleBinding \\\"system:public-info-viewer\\\" of ClusterRole \\\"system:public-info-viewer\\\" to Group \\\"system:unauthenticated\\\"" : ""
        default:  // people
            let person = pick(people)
            r.user = person; r.groups = person == "ci-deployer" ? ["ci", "system:authenticated"] : ["developers", "system:authenticated"]
            r.userAgent = person == "ci-deployer" ? "argocd-application-controller/v2.11.3" : "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350"
            r.sourceIP = "192.168.\(10 + int(5)).\(2 + int(200))"
            let ns = pick(namespaces)
            r.namespace = ns
            r.reason = "RBAC: allowed by RoleBinding \\\"developers/\(ns)\\\" of ClusterRole \\\"edit\\\" to Group \\\"developers\\\""
            switch int(10) {
            case 0, 1, 2:
                r.verb = "list"; r.resource = "pods"; r.uri = "/api/v1/namespaces/\(ns)/pods?limit=500"
            case 3, 4:
                r.verb = "get"; r.resource = "secrets"; r.name = pick(["db-credentials", "tls-cert", "api-token"])
                r.uri = "/api/v1/namespaces/\(ns)/secrets/\(r.name ?? "")"
                if chance(0.3) { r.code = 403; r.reason = "" }
            case 5:
                let pod = "web-\(5_000 + int(4_000))-\(String(int(100_000), radix: 36))"
                r.verb = "create"; r.resource = "pods"; r.subresource = "exec"; r.name = pod
                r.uri = "/api/v1/namespaces/\(ns)/pods/\(pod)/exec?command=sh&container=app&stdin=true&stdout=true&tty=true"
                r.code = 101
            case 6, 7:
                let name = pick(["app-config", "feature-flags", "nginx-conf"])
                r.verb = "update"; r.resource = "configmaps"; r.name = name
                r.uri = "/api/v1/namespaces/\(ns)/configmaps/\(name)"
                r.level = "RequestResponse"
                let version = 100_000 + int(900_000)
                let data = "\"data\":{\"LOG_LEVEL\":\"\(pick(["info", "debug", "warn"]))\",\"MAX_CONNECTIONS\":\"\(10 + int(500))\",\"FEATURE_X\":\"\(chance(0.5))\"}}"
                r.requestObject = "{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"\(name)\",\"namespace\":\"\(ns)\",\"resourceVersion\":\"\(version)\",\"labels\":{\"app\":\"\(name)\"}},\(data)"
                r.responseObject = "{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"\(name)\",\"namespace\":\"\(ns)\",\"uid\":\"\(uuid())\",\"resourceVersion\":\"\(version + 1)\",\"labels\":{\"app\":\"\(name)\"},\"managedFields\":[{\"manager\":\"kubectl-edit\",\"operation\":\"Update\",\"apiVersion\":\"v1\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:data\":{\".\":{},\"f:LOG_LEVEL\":{}}}}]},\(data)"
            case 8:
                r.verb = "patch"; r.resource = "deployments"; r.apiGroup = "apps"; r.name = pick(["web", "api", "worker"])
                r.uri = "/apis/apps/v1/namespaces/\(ns)/deployments/\(r.name ?? "")?fieldManager=kubectl-patch"
                r.level = "RequestResponse"
                r.requestObject = "{\"spec\":{\"replicas\":\(1 + int(9))}}"
                r.responseObject = "{\"kind\":\"Deployment\",\"apiVersion\":\"apps/v1\",\"metadata\":{\"name\":\"\(r.name ?? "")\",\"namespace\":\"\(ns)\",\"generation\":\(2 + int(50))},\"spec\":{\"replicas\":\(1 + int(9)),\"selector\":{\"matchLabels\":{\"app\":\"\(r.name ?? "")\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"\(r.name ?? "")\"}},\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"registry.example.com/\(r.name ?? ""):1.\(int(30)).\(int(10))\",\"resources\":{\"limits\":{\"cpu\":\"500m\",\"memory\":\"256Mi\"}}}]}}},\"status\":{\"observedGeneration\":\(1 + int(50))}}"
            default:
                r.verb = "delete"; r.resource = "pods"; r.name = "job-\(int(10_000))"
                r.uri = "/api/v1/namespaces/\(ns)/pods/\(r.name ?? "")"
                if chance(0.4) { r.code = 403; r.reason = "" }
            }
        }
        return r
    }

    private func line(_ r: Request, stage: String, at time: Int64) -> [UInt8] {
        var s = "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"\(r.level)\",\"auditID\":\"\(r.auditID)\",\"stage\":\"\(stage)\",\"requestURI\":\(JSONText.quote(r.uri)),\"verb\":\"\(r.verb)\",\"user\":{\"username\":\(JSONText.quote(r.user)),"
        if r.user.hasPrefix("system:serviceaccount:") {
            s += "\"uid\":\"\(r.auditID.prefix(8))-sa\","
        }
        s += "\"groups\":[" + r.groups.map { JSONText.quote($0) }.joined(separator: ",") + "]"
        if r.user.hasPrefix("system:serviceaccount:") {
            s += ",\"extra\":{\"authentication.kubernetes.io/credential-id\":[\"JTI=\(r.auditID.suffix(12))\"]}"
        }
        s += "},\"sourceIPs\":[\"\(r.sourceIP)\"],\"userAgent\":\(JSONText.quote(r.userAgent))"
        if let resource = r.resource {
            s += ",\"objectRef\":{\"resource\":\"\(resource)\""
            if let ns = r.namespace { s += ",\"namespace\":\"\(ns)\"" }
            if let name = r.name { s += ",\"name\":\"\(name)\"" }
            if let g = r.apiGroup { s += ",\"apiGroup\":\"\(g)\"" }
            s += ",\"apiVersion\":\"v1\""
            if let sub = r.subresource { s += ",\"subresource\":\"\(sub)\"" }
            s += "}"
        }
        if stage != "RequestReceived" {
            s += ",\"responseStatus\":{\"metadata\":{}"
            if r.code == 403 {
                s += ",\"status\":\"Failure\",\"message\":\(JSONText.quote("\(r.resource ?? "path") is forbidden: User \"\(r.user)\" cannot \(r.verb) resource")),\"reason\":\"Forbidden\",\"details\":{},\"code\":403}"
            } else {
                s += ",\"code\":\(r.code)}"
            }
        }
        if r.level == "RequestResponse" || r.level == "Request", let body = r.requestObject {
            s += ",\"requestObject\":" + body
        }
        if r.level == "RequestResponse", stage == "ResponseComplete", let body = r.responseObject {
            s += ",\"responseObject\":" + body
        }
        s += ",\"requestReceivedTimestamp\":\"\(Timestamp(microseconds: r.received).rfc3339)\",\"stageTimestamp\":\"\(Timestamp(microseconds: time).rfc3339)\""
        if stage != "RequestReceived" {
            let decision = r.code == 403 ? "forbid" : "allow"
            s += ",\"annotations\":{\"authorization.k8s.io/decision\":\"\(decision)\",\"authorization.k8s.io/reason\":\"\(r.reason)\""
            if r.resource == "pods" && r.verb != "watch" && r.verb != "list" {
                s += ",\"pod-security.kubernetes.io/enforce-policy\":\"restricted:latest\""
            }
            s += "}"
        }
        s += "}"
        return Array(s.utf8)
    }
}

