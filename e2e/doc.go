// Package e2e is firstbyte's Ginkgo suite: a DescribeTable over the
// scenario catalogue (or a scenario file), one entry per scenario, run on
// a target chosen by FIRSTBYTE_TARGET or -target: kind, cluster, local or
// predict (the registry in targets.go). Each entry is one runner.Run
// (package runner owns the phases, the expectation check, the hung rule
// and the report rows); the suite adds labels, parallel processes, set-up
// and tear-down in BeforeSuite/DeferCleanup (also on SIGINT), and the
// reports in ReportAfterSuite.
//
// The suite runs only when a target is named: `go test ./...` skips it.
// `make e2e` runs it (hack/e2e-kube.sh for kind and cluster,
// hack/e2e-local.sh for local, which passes -test.run=^TestE2E$ so the
// package's other tests stay out of every parallel process); `make e2e
// DRY_RUN=1` prints the plan (runner.WritePlan) and touches nothing.
// make e2e TARGET=predict runs the same runner without Ginkgo
// (firstbyte predict).
//
// e2e/cmd is a symlink to the repository's cmd folder, so the path older
// docs and scripts name, `go build ./e2e/cmd/localbench`, still builds
// cmd/localbench (every binary lives under cmd/; `./...` does not follow
// symlinks, so nothing is listed twice).
package e2e
