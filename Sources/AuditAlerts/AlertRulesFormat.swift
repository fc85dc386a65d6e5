// AuditAlerts: alert rules evaluated on every stored audit event.
//
// A rules file:
//
//     apiVersion: auditship.io/v1
//     kind: AlertRules
//     disable: [configmap-modified]            # built-in rules to turn off
//     lists:
//       sensitive_secrets: [prod/db-password]   # replaces a list; {append: [...]} extends it
//     sigmaFieldMap:                            # Sigma short names → dotted paths (SigmaFieldMapping)
//       team: requestObject.metadata.labels.team
//     rules:
//       - name: pod-exec                        # a built-in name: override only the fields given
//         severity: critical
//       - name: many-forbidden                  # a new rule
//         description: Someone is refused again and again.
//         severity: high                        # info | low | medium | high | critical
//         when:
//           all:
//             - {field: code, equals: 403}
//             - not: {field: user, prefix: "system:"}
//             - field: requestObject.spec.containers[*].image   # block style: no quoting needed
//               glob: "*:latest"
//         threshold: {count: 5, window: 5m, groupBy: [user, sourceIP]}
//         suppress: 1h
//         message: "{{user}} refused {{verb}} on {{resource}} {{namespacedName}}"
//         stages: [ResponseComplete]            # default: ResponseComplete and Panic
//         enabled: true
//
// Conditions: `all: [...]`, `any: [...]`, `not: {...}`, or `{field: F, OP: V}` with one OP of
// equals, in (a list or {list: NAME}), prefix / glob (a string, a list or {list: NAME}), exists,
// gt / gte / lt / lte, contains, matches (regex). Fields: see `EventField`; a test on a field with
// several values (lists, `[*]` fan-out) is true when ANY value satisfies it (see `AlertCondition`).
// In YAML flow mappings (`{...}`) quote a path containing `[*]`: an unquoted `*` starts an alias.
//
// Parsing is strict: unknown keys, wrong types, unknown operators, fields, severities, stages,
// lists and rule names are errors, all collected, each `file:line:col: message` with a
// did-you-mean suggestion where one is near (`AlertRulesError`).
//
// Sigma rules (product kubernetes, service audit) load beside this format, from the same paths
// (files or directories, told apart by content): see `SigmaRule.swift`.
//
// Use:
//
//     let rules = try AlertRuleSet.load(paths: ["/etc/auditship/alerts.yaml"])   // pack + file
//     let engine = AlertEngine(rules: rules)            // owned by one actor
//     let firings = engine.evaluate(event: bytes, cluster: "prod", node: "master-1", now: Date())
//
// `auditship alerts test`: `AlertTester.run(path:rules:)`, then `AlertFiringRenderer.table(_:)` or
// `AlertFiringRenderer.jsonLines(_:)`.
