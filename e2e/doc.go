// Package e2e is firstbyte's conformance suite on real sidecars: a Ginkgo v2
// table over the scenario catalogue (or a scenario file), run against a
// target chosen by FIRSTBYTE_TARGET or -target (kind, cluster; local joins
// the registry in targets.go).
//
// The suite owns what every target shares: rendering each scenario's
// bundle, the order of a scenario (deploy → remediate → probe → assert →
// collider check → evidence on failure → revert), the first-byte budget,
// the expectation check, the hung rule (a hang counts only when the
// control probe, on a path without the client's sidecar, got the server's
// greeting fast), evidence folders and the reports. Targets own deploying,
// remediating and probing (targets.Target).
//
// The suite runs only when a target is named: `go test ./...` skips it.
// `make e2e` (hack/e2e-kube.sh) runs it; `make e2e DRY_RUN=1` prints the
// plan (plan.go) and touches nothing.
package e2e
