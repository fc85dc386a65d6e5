// Which event fields a Sigma field name reads.
//
// A Sigma rule for this log source names audit.k8s.io/v1 Event fields by their JSON path, dotted:
// `verb`, `objectRef.resource`, `responseStatus.code`, `annotations.authorization.k8s.io/decision`.
// Such a name resolves from the event's root (`EventField.sigma`): at each level the longest run of
// dot-separated parts that is a key is tried first, then shorter runs, so the annotation key
// `authorization.k8s.io/decision` (which contains dots) is found under `annotations`, and a literal
// top-level key containing dots wins over nesting; every resolution is tried (any may match).
// A list on the way, or at the end, matches when ANY element matches (`user.groups`, `sourceIPs`,
// `requestObject.spec.containers.image` fans out over the containers). `null` and `|exists: false`
// hold when no resolution has a non-null value.
//
// Some short names used by SigmaHQ's rules (from pySigma's kubernetes pipeline) are not audit fields;
// the default mapping turns them into paths (a name may map to several paths: any of them matches):
//
//     apiGroup      objectRef.apiGroup
//     resource      objectRef.resource
//     subresource   objectRef.subresource
//     namespace     objectRef.namespace
//     name          objectRef.name
//     username      user.username
//     groups        user.groups
//     hostPath      requestObject.spec.volumes.hostPath, requestObject.spec.template.spec.volumes.hostPath
//     capabilities  requestObject.spec.{containers,initContainers,ephemeralContainers}.securityContext.capabilities.add
//     privileged    requestObject.spec.{containers,initContainers,ephemeralContainers}.securityContext.privileged
//
// Override or extend it with `sigmaFieldMap:` in one of our rules files (auditship.io/v1 AlertRules):
//
//     sigmaFieldMap:
//       hostPath: requestObject.spec.volumes.hostPath.path      # replaces the default entry
//       team: requestObject.metadata.labels.team                 # a new short name
//       image: [requestObject.spec.containers.image, requestObject.spec.initContainers.image]
//
// A later file's entry replaces an earlier one. Names not in the mapping are used as they are.
import AuditModel

public enum SigmaFieldMapping {
    private static let containerKinds = ["containers", "initContainers", "ephemeralContainers"]

    /// The default mapping: short name → the dotted paths it reads.
    public static let defaults: [String: [String]] = [
        "apiGroup": ["objectRef.apiGroup"],
        "resource": ["objectRef.resource"],
        "subresource": ["objectRef.subresource"],
        "namespace": ["objectRef.namespace"],
        "name": ["objectRef.name"],
        "username": ["user.username"],
        "groups": ["user.groups"],
        "hostPath": ["requestObject.spec.volumes.hostPath", "requestObject.spec.template.spec.volumes.hostPath"],
        "capabilities": containerKinds.map { "requestObject.spec.\($0).securityContext.capabilities.add" },
        "privileged": containerKinds.map { "requestObject.spec.\($0).securityContext.privileged" },
    ]

    /// The paths `field` reads under `mapping`.
    static func paths(_ field: String, _ mapping: [String: [String]]) -> [String] {
        if let paths = mapping[field], !paths.isEmpty { return paths }
        return [field]
    }
}
