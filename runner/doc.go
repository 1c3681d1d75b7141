// Package runner takes scenarios through a target, the same way on every
// target: render each scenario's bundle with the target's topology, then
// deploy → remediate → probe → assert → collider check → evidence on
// failure → revert → release (phases in runner.go), judge the observation
// against the scenario's expectation with the hung rule (a hang counts on a
// wire target only when the control probe, on a path without the client's
// sidecar, got the server's greeting fast), and fill one report row.
//
// Two drivers use it: the Ginkgo suite (e2e/, one table entry per
// scenario, make e2e on kind, cluster and local) and Table (firstbyte
// predict, make e2e TARGET=predict, and the benchmarks). Options holds the
// selection both share (the catalogue or a scenario file, LABELS), and
// WritePlan prints a dry run from the same phase list.
//
// What a target can do beyond the contract is one value,
// targets.Capabilities; the runner never probes for optional interfaces.
package runner
