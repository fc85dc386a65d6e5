/// The built-in rule pack, compiled in (no bundle resources).
///
/// Aligned with the seed's log-service alerts and with the behaviours of Falco's k8saudit default rules
/// (falcosecurity/plugins `plugins/k8saudit/rules/k8s_audit_rules.yaml`; the Falco rule each one follows is
/// named in its description). Differences, on purpose:
/// - Pod-spec rules (privileged, hostNetwork, hostPID, hostIPC, sensitive hostPath) look at pods
///   (`requestObject.spec`), workload templates (`requestObject.spec.template.spec`: deployments,
///   daemonsets, statefulsets, replicasets, jobs, replicationcontrollers), podtemplates
///   (`requestObject.template.spec`) and cronjobs (`requestObject.spec.jobTemplate.spec.template.spec`),
///   containers and initContainers, on create, update and patch. Falco looks at pod creation only.
///   They need the Request (or RequestResponse) audit level for those resources: at Metadata there is no
///   requestObject. There are no image allowlists: override the rule's `when` to add one.
/// - `named-secret-access` is a template: it watches the secrets in the `sensitive_secrets` list
///   (`namespace/name` entries), which is empty, so the rule is inactive until a rules file sets
///   `lists: {sensitive_secrets: [prod/db-password]}`.
/// - Secret and configmap edits exclude `system:` users (controllers write configmaps constantly). Secrets
///   in kube-system are not exempt (Falco exempts them): a person writing one there is worth an alert.
/// - How the pack fares on Falco's regression matrix and Panther's rule tests, and why it differs where it
///   does: `Protocols/alert-conformance.md`.
/// - exec, attach and portforward fire on `ResponseStarted` (as Falco) and also on `ResponseComplete`,
///   once per auditID, so a log without the ResponseStarted stage still alerts.
///
/// Lists (set or extend them in a rules file under `lists:`): `sensitive_secrets`, `sensitive_host_paths`,
/// `kube_namespaces`, `known_kube_service_accounts`, `system_role_exceptions`, `public_info_uris`.
public enum BuiltinAlertRules {
    /// The source label in messages about the pack.
    public static let source = "builtin"

    /// The names of the pack's rules, in order.
    public static var ruleNames: [String] {
        (try? AlertRuleSet.load(files: [], includeBuiltins: true))?.rules.map(\.name) ?? []
    }

    /// The pack as YAML (an `AlertRules` document, the same format as user files).
    public static let yaml = #"""
apiVersion: auditship.io/v1
kind: AlertRules
lists:
  # namespace/name of secrets whose every access alerts (named-secret-access). Empty: rule inactive.
  sensitive_secrets: []
  sensitive_host_paths:
    - /
    - /proc
    - /etc
    - /root
    - /home/admin
    - /var/run/docker.sock
    - /run/docker.sock
    - /var/run/containerd
    - /run/containerd
    - /var/run/containerd/containerd.sock
    - /run/containerd/containerd.sock
    - /var/run/crio/crio.sock
    - /run/crio/crio.sock
    - /var/lib/kubelet
    - /var/lib/kubelet/pki
    - /etc/kubernetes
    - /etc/kubernetes/manifests
    - /var/lib/docker
    - /var/lib/containerd
  kube_namespaces: [kube-system, kube-public]
  known_kube_service_accounts:
    - coredns
    - coredns-autoscaler
    - cronjob-controller
    - daemon-set-controller
    - deployment-controller
    - disruption-controller
    - endpoint-controller
    - endpointslice-controller
    - endpointslicemirroring-controller
    - generic-garbage-collector
    - horizontal-pod-autoscaler
    - job-controller
    - namespace-controller
    - node-controller
    - persistent-volume-binder
    - pod-garbage-collector
    - pv-protection-controller
    - pvc-protection-controller
    - replicaset-controller
    - resourcequota-controller
    - root-ca-cert-publisher
    - service-account-controller
    - statefulset-controller
  system_role_exceptions: [system:coredns, system:managed-certificate-controller]
  # URIs any client may read anonymously (system:public-info-viewer, service-account issuer discovery).
  public_info_uris:
    - /healthz
    - /healthz?*
    - /healthz/*
    - /livez
    - /livez?*
    - /livez/*
    - /readyz
    - /readyz?*
    - /readyz/*
    - /version
    - /version?*
    - /version/
    - /.well-known/openid-configuration*
    - /openid/v1/jwks*

rules:
  # ---- secrets -------------------------------------------------------------------------------
  - name: secret-read-by-non-system-user
    description: A user (not system:*) read secrets (get, list or watch) successfully. Falco "K8s Secret Get Successfully".
    severity: medium
    when:
      all:
        - {field: resource, equals: secrets}
        - {field: verb, in: [get, list, watch]}
        - not: {field: user, prefix: "system:"}
        - {field: code, gte: 200}
        - {field: code, lt: 300}
    suppress: 10m
    message: "{{user}} {{verb}} secret {{namespacedName}}"

  - name: named-secret-access
    description: Any access to a secret named in the sensitive_secrets list (namespace/name). Inactive until the list is set.
    severity: high
    when:
      all:
        - {field: resource, equals: secrets}
        - {field: namespacedName, in: {list: sensitive_secrets}}
    message: "{{user}} {{verb}} sensitive secret {{namespacedName}} (code {{code}})"

  - name: secret-access-denied
    description: A request on secrets was refused as unauthenticated (401) or forbidden (403). Falco "K8s Secret Get Unsuccessfully Tried".
    severity: medium
    when:
      all:
        - {field: resource, equals: secrets}
        - {field: code, in: [401, 403]}
    suppress: 5m
    message: "{{user}} was refused ({{code}}) to {{verb}} secret {{namespacedName}} from {{sourceIP}}"

  - name: secret-modified
    description: A user (not system:*) created, changed or deleted a secret. Falco "K8s Secret Created" / "K8s Secret Deleted".
    severity: medium
    when:
      all:
        - {field: resource, equals: secrets}
        - {field: verb, in: [create, update, patch, delete, deletecollection]}
        - not: {field: user, prefix: "system:"}
        - {field: code, gte: 200}
        - {field: code, lt: 300}
    message: "{{user}} {{verb}} secret {{namespacedName}}"

  - name: configmap-modified
    description: A user (not system:*) created, changed or deleted a configmap. Falco "K8s ConfigMap Created" / "K8s ConfigMap Deleted".
    severity: low
    when:
      all:
        - {field: resource, equals: configmaps}
        - {field: verb, in: [create, update, patch, delete, deletecollection]}
        - not: {field: user, prefix: "system:"}
        - {field: code, gte: 200}
        - {field: code, lt: 300}
    message: "{{user}} {{verb}} configmap {{namespacedName}}"

  - name: configmap-with-credentials
    description: A configmap written with keys or values that look like credentials (aws keys, passwords, tokens, private keys). Falco "Create/Modify Configmap With Private Credentials".
    severity: high
    when:
      all:
        - {field: resource, equals: configmaps}
        - {field: verb, in: [create, update, patch]}
        - any:
            - {field: "requestObject.data[keys]", matches: "(?i)(password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential)"}
            - {field: "requestObject.data[*]", matches: "(?i)(aws_access_key_id|aws-access-key-id|aws_s3_access_key_id|aws-s3-access-key-id|aws_secret_access_key|passphrase|-----BEGIN [A-Z ]*PRIVATE KEY-----|(password|passwd|pwd|secret|token|api[_-]?key)[\"']?\\s*[:=]\\s*\\S)"}
    message: "{{user}} {{verb}} configmap {{namespacedName}} holding credential-like data"

  # ---- interactive access to pods ---------------------------------------------------------
  - name: pod-exec
    description: Someone executed a command in a container (pods/exec). Falco "Attach/Exec Pod".
    severity: medium
    stages: [ResponseStarted, ResponseComplete, Panic]
    when:
      all:
        - {field: resource, equals: pods}
        - {field: subresource, equals: exec}
        - {field: verb, in: [create, get]}
        - not: {field: code, gte: 400}
    message: "{{user}} exec into pod {{namespacedName}}: {{requestURI}}"

  - name: pod-attach
    description: Someone attached to a running container (pods/attach). Falco "Attach/Exec Pod".
    severity: medium
    stages: [ResponseStarted, ResponseComplete, Panic]
    when:
      all:
        - {field: resource, equals: pods}
        - {field: subresource, equals: attach}
        - {field: verb, in: [create, get]}
        - not: {field: code, gte: 400}
    message: "{{user}} attached to pod {{namespacedName}}"

  - name: pod-portforward
    description: Someone port-forwarded to a pod (pods/portforward). Falco "port-forward".
    severity: medium
    stages: [ResponseStarted, ResponseComplete, Panic]
    when:
      all:
        - {field: resource, equals: pods}
        - {field: subresource, equals: portforward}
        - {field: verb, in: [create, get]}
        - not: {field: code, gte: 400}
    message: "{{user}} port-forwarded to pod {{namespacedName}}"

  - name: ephemeral-container-created
    description: An ephemeral (debug) container was added to a pod (pods/ephemeralcontainers). Falco "EphemeralContainers Created".
    severity: medium
    when:
      all:
        - {field: resource, equals: pods}
        - {field: subresource, equals: ephemeralcontainers}
        - {field: verb, in: [create, update, patch]}
    message: "{{user}} added an ephemeral container to pod {{namespacedName}}"

  # ---- pod specs (pods and workload templates) ---------------------------------------------
  - name: privileged-pod
    description: A pod or workload template with a privileged container. Falco "Create Privileged Pod".
    severity: high
    when:
      all:
        - {field: resource, in: [pods, deployments, daemonsets, statefulsets, replicasets, jobs, cronjobs, replicationcontrollers, podtemplates]}
        - {field: subresource, exists: false}
        - {field: verb, in: [create, update, patch]}
        - any:
            - {field: "requestObject.spec.containers[*].securityContext.privileged", equals: true}
            - {field: "requestObject.spec.initContainers[*].securityContext.privileged", equals: true}
            - {field: "requestObject.spec.template.spec.containers[*].securityContext.privileged", equals: true}
            - {field: "requestObject.spec.template.spec.initContainers[*].securityContext.privileged", equals: true}
            - {field: "requestObject.template.spec.containers[*].securityContext.privileged", equals: true}
            - {field: "requestObject.spec.jobTemplate.spec.template.spec.containers[*].securityContext.privileged", equals: true}
            - {field: "requestObject.spec.jobTemplate.spec.template.spec.initContainers[*].securityContext.privileged", equals: true}
    message: "{{user}} {{verb}} {{resource}} {{namespacedName}} with a privileged container"

  - name: hostnetwork-pod
    description: A pod or workload template using the host network. Falco "Create HostNetwork Pod".
    severity: medium
    when:
      all:
        - {field: resource, in: [pods, deployments, daemonsets, statefulsets, replicasets, jobs, cronjobs, replicationcontrollers, podtemplates]}
        - {field: subresource, exists: false}
        - {field: verb, in: [create, update, patch]}
        - any:
            - {field: requestObject.spec.hostNetwork, equals: true}
            - {field: requestObject.spec.template.spec.hostNetwork, equals: true}
            - {field: requestObject.template.spec.hostNetwork, equals: true}
            - {field: requestObject.spec.jobTemplate.spec.template.spec.hostNetwork, equals: true}
    message: "{{user}} {{verb}} {{resource}} {{namespacedName}} using the host network"

  - name: hostpid-pod
    description: A pod or workload template sharing the host PID namespace. Falco "Create HostPid Pod".
    severity: high
    when:
      all:
        - {field: resource, in: [pods, deployments, daemonsets, statefulsets, replicasets, jobs, cronjobs, replicationcontrollers, podtemplates]}
        - {field: subresource, exists: false}
        - {field: verb, in: [create, update, patch]}
        - any:
            - {field: requestObject.spec.hostPID, equals: true}
            - {field: requestObject.spec.template.spec.hostPID, equals: true}
            - {field: requestObject.template.spec.hostPID, equals: true}
            - {field: requestObject.spec.jobTemplate.spec.template.spec.hostPID, equals: true}
    message: "{{user}} {{verb}} {{resource}} {{namespacedName}} sharing the host PID namespace"

  - name: hostipc-pod
    description: A pod or workload template sharing the host IPC namespace. Falco "Create HostIPC Pod".
    severity: high
    when:
      all:
        - {field: resource, in: [pods, deployments, daemonsets, statefulsets, replicasets, jobs, cronjobs, replicationcontrollers, podtemplates]}
        - {field: subresource, exists: false}
        - {field: verb, in: [create, update, patch]}
        - any:
            - {field: requestObject.spec.hostIPC, equals: true}
            - {field: requestObject.spec.template.spec.hostIPC, equals: true}
            - {field: requestObject.template.spec.hostIPC, equals: true}
            - {field: requestObject.spec.jobTemplate.spec.template.spec.hostIPC, equals: true}
    message: "{{user}} {{verb}} {{resource}} {{namespacedName}} sharing the host IPC namespace"

  - name: sensitive-hostpath-mount
    description: A pod or workload template mounting a sensitive host path (/, /proc, /etc, the container runtime socket, kubelet state …, list sensitive_host_paths). Falco "Create Sensitive Mount Pod".
    severity: high
    when:
      all:
        - {field: resource, in: [pods, deployments, daemonsets, statefulsets, replicasets, jobs, cronjobs, replicationcontrollers, podtemplates]}
        - {field: subresource, exists: false}
        - {field: verb, in: [create, update, patch]}
        - any:
            - {field: "requestObject.spec.volumes[*].hostPath.path", in: {list: sensitive_host_paths}}
            - {field: "requestObject.spec.template.spec.volumes[*].hostPath.path", in: {list: sensitive_host_paths}}
            - {field: "requestObject.template.spec.volumes[*].hostPath.path", in: {list: sensitive_host_paths}}
            - {field: "requestObject.spec.jobTemplate.spec.template.spec.volumes[*].hostPath.path", in: {list: sensitive_host_paths}}
    message: "{{user}} {{verb}} {{resource}} {{namespacedName}} mounting a sensitive host path"

  - name: pod-created-in-kube-namespace
    description: A pod created in kube-system or kube-public (list kube_namespaces), except kubelet mirror pods. Falco "Pod Created in Kube Namespace".
    severity: medium
    when:
      all:
        - {field: resource, equals: pods}
        - {field: subresource, exists: false}
        - {field: verb, equals: create}
        - {field: namespace, in: {list: kube_namespaces}}
        - not: {field: user, prefix: "system:node:"}
    message: "{{user}} created pod {{namespacedName}} (images {{requestObject.spec.containers[*].image}})"

  - name: serviceaccount-created-in-kube-namespace
    description: A service account created in kube-system or kube-public, other than the controllers' own (list known_kube_service_accounts). Falco "Service Account Created in Kube Namespace".
    severity: medium
    when:
      all:
        - {field: resource, equals: serviceaccounts}
        - {field: verb, equals: create}
        - {field: namespace, in: {list: kube_namespaces}}
        - {field: code, gte: 200}
        - {field: code, lt: 300}
        - not: {field: name, in: {list: known_kube_service_accounts}}
    message: "{{user}} created service account {{namespacedName}}"

  - name: nodeport-service-created
    description: A service of type NodePort was created or changed to NodePort. Falco "Create NodePort Service".
    severity: medium
    when:
      all:
        - {field: resource, equals: services}
        - {field: subresource, exists: false}
        - {field: verb, in: [create, update, patch]}
        - {field: requestObject.spec.type, equals: NodePort}
    message: "{{user}} {{verb}} NodePort service {{namespacedName}} (node ports {{requestObject.spec.ports[*].nodePort}})"

  # ---- RBAC -------------------------------------------------------------------------------------
  - name: cluster-admin-binding
    description: A ClusterRoleBinding or RoleBinding to the cluster-admin role. Falco "Attach to cluster-admin Role".
    severity: critical
    when:
      all:
        - {field: resource, in: [clusterrolebindings, rolebindings]}
        - {field: verb, in: [create, update, patch]}
        - {field: requestObject.roleRef.name, equals: cluster-admin}
        - not: {field: user, equals: "system:apiserver"}
    message: "{{user}} bound cluster-admin with {{resource}} {{namespacedName}} to {{requestObject.subjects[*].name}}"

  - name: clusterrole-with-wildcard
    description: A Role or ClusterRole granting every verb or every resource ("*"). Falco "ClusterRole With Wildcard Created".
    severity: high
    when:
      all:
        - {field: resource, in: [clusterroles, roles]}
        - {field: verb, in: [create, update, patch]}
        - any:
            - {field: "requestObject.rules[*].verbs", contains: "*"}
            - {field: "requestObject.rules[*].resources", contains: "*"}
        - not: {field: user, equals: "system:apiserver"}
    message: "{{user}} {{verb}} {{resource}} {{namespacedName}} with wildcard rules"

  - name: clusterrole-with-pod-exec
    description: A Role or ClusterRole granting pods/exec (or pods/attach). Falco "ClusterRole With Pod Exec Created".
    severity: high
    when:
      all:
        - {field: resource, in: [clusterroles, roles]}
        - {field: verb, in: [create, update, patch]}
        - {field: "requestObject.rules[*].resources", in: [pods/exec, pods/attach]}
        - not: {field: user, equals: "system:apiserver"}
    message: "{{user}} {{verb}} {{resource}} {{namespacedName}} granting pods/exec"

  - name: system-role-modified
    description: A user (not system:*) created, changed or deleted a ClusterRole or Role named system:* (except list system_role_exceptions). Falco "System ClusterRole Modified/Deleted".
    severity: high
    when:
      all:
        - {field: resource, in: [clusterroles, roles]}
        - {field: verb, in: [create, update, patch, delete]}
        - {field: name, prefix: "system:"}
        - not: {field: name, in: {list: system_role_exceptions}}
        - not: {field: user, prefix: "system:"}
    message: "{{user}} {{verb}} {{resource}} {{namespacedName}}"

  # ---- authentication ---------------------------------------------------------------------------
  - name: anonymous-request-allowed
    description: A request by system:anonymous was allowed, other than health, version and issuer-discovery URLs (list public_info_uris). Falco "Anonymous Request Allowed".
    severity: high
    when:
      all:
        - {field: user, equals: "system:anonymous"}
        - {field: decision, equals: allow}
        - not: {field: requestURI, glob: {list: public_info_uris}}
    message: "anonymous {{verb}} {{requestURI}} allowed from {{sourceIP}}"
"""#
}
