// Package analyze finds server-first hazards in a real mesh before they
// bite: it reads the mesh (YAML, a live cluster, or a sidecar's config
// dump), builds each client scope's sidecar configuration with Istio's own
// generator (predict.GenerateMeshEach, one run for every scope, each
// configuration walked as it is built), walks every outbound listener with
// predict's Envoy model, and reports each listener that holds or misroutes
// a server-first connection, with its cause, the server-first destinations
// it meets, and the remediations that fix it, each checked by running the
// generator again with the remediation applied. It never encodes Istio's
// rules itself: protocol classification comes from Istio's
// ConvertProtocol, listeners from the generator, capture from Istio's
// iptables builder, outcomes from predict.
//
// Three hazard classes:
//   - inspector-hold: a listener inspector (http_inspector, tls_inspector)
//     waits for client bytes a server-first client never sends: it hangs
//     (listener_filters_timeout 0s), connects late, or is closed (the
//     timeout the generated listener sets, or Envoy's 15 s default). On
//     virtualOutbound itself (ALLOW_ANY_DYNAMIC_DNS) it takes every port
//     without a listener of its own (Finding.Port 0).
//   - port-capture: a wildcard tcp_proxy listener (a TCP ServiceEntry
//     without addresses, IST0134) proxies every address on the port to one
//     service.
//   - inbound-hold: a server's own sidecar holds a plaintext server-first
//     connection at virtualInbound (PERMISSIVE's tls_inspector, or
//     http_inspector on an undeclared port); see inbound.go.
//
// Decisions, written down: a scope is a set of sidecars Istio gives the
// same outbound configuration (same Sidecar resource, same visibility,
// same capture annotations); a hazard no known server-first destination
// meets is reported as "exposed", not as a finding, and does not fail the
// gate; exclusions (excludeOutboundIPRanges/Ports) are offered only for
// destinations outside the Kubernetes registry, since they take mesh
// traffic out of the mesh; remediation checks run the generator on the
// finding's port slice of the mesh (Services and ServiceEntries with that
// port) once that slice is shown to reproduce the finding, else on the
// whole mesh. A declared protocol (port name, appProtocol, as Istio's
// ConvertProtocol reads it) beats the well-known server-first port list.
//
// The change gate (Gate, GateReport, Compare; baseline.go) keys each
// finding's hazards by class, port, client, cause objects and
// destination, and classifies them new, fixed or unchanged against a
// baseline mesh or an earlier run's JSON report; only a new one fails.
package analyze
