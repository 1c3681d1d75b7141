// Package targets is the contract between the runner and the places it
// runs scenarios: kind and an existing cluster (targets/kube), the local
// network-namespace emulation (targets/local) and Istio's generator with
// no traffic at all (targets/predict). The runner (package runner, used by
// the Ginkgo suite in e2e/ and by cmd/firstbyte) owns the table, the
// expectations and the reports; a Target owns deploying, remediating and
// probing, and says what else it can do in one Capabilities value. Every method takes the
// scenario's rendered fixtures.Bundle, so all targets act on the same
// objects.
package targets

import (
	"context"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/probe"
)

// Target runs scenarios somewhere.
type Target interface {
	// Name is kind, cluster, local or predict.
	Name() string
	// Capabilities says what the target can do beyond this contract; the
	// runner reads it once per scenario instead of probing for optional
	// interfaces.
	Capabilities() Capabilities
	// Setup prepares the environment once per run (create or reuse a
	// cluster, install Istio, load the image; or create network
	// namespaces). It must fail fast with an error naming the missing
	// piece (no Docker, no KUBECONFIG, not root) and the alternative.
	Setup(ctx context.Context) error
	// Teardown removes everything the run created; it is called on
	// success, failure and interrupt, and must be safe to call twice.
	Teardown(ctx context.Context) error
	// IstioVersion names the Istio the target runs (or emulates).
	IstioVersion() string

	// Topology returns the topology to render a scenario with (namespace
	// names, known addresses); the runner renders the bundle with it.
	// Targets that learn part of it only by starting the scenario's server
	// (kind, cluster: the external server's address is its pod IP) do so
	// here.
	Topology(ctx context.Context, s scenarios.Scenario) (fixtures.Topology, error)
	// Deploy brings up the scenario's Base objects and waits until they
	// are ready.
	Deploy(ctx context.Context, b *fixtures.Bundle) error
	// Remediate applies the bundle's remediation and returns once the
	// client sidecar's configuration shows it (never a blind sleep).
	Remediate(ctx context.Context, b *fixtures.Bundle) error
	// Revert undoes Remediate.
	Revert(ctx context.Context, b *fixtures.Bundle) error

	// Probe runs the protocol probe from the client pod through its
	// sidecar, with the given first-byte budget.
	Probe(ctx context.Context, b *fixtures.Bundle, budget time.Duration) (probe.Observation, error)
	// Control probes the same server on a direct path that bypasses the
	// client sidecar; a hung verdict is only earned when this answers.
	Control(ctx context.Context, b *fixtures.Bundle, budget time.Duration) (probe.Observation, error)
	// ColliderHTTP sends the collider check, one HTTP request from the
	// client to the collider's Service on the scenario's port, and returns
	// nil when the collider's backend answered it. The runner asks only
	// when the scenario has a collider.
	ColliderHTTP(ctx context.Context, b *fixtures.Bundle) error
	// Evidence saves what explains a failure into dir: the sidecar's
	// config_dump, listener stats, pod logs, rendered manifests.
	Evidence(ctx context.Context, b *fixtures.Bundle, dir string) error
}

// Capabilities is what a target can do beyond the Target contract, as one
// value: the runner, the plan and the report read it instead of probing
// for optional interfaces. A nil func is a capability the target lacks.
type Capabilities struct {
	// Wire is true when probes cross real sockets (kind, cluster, local):
	// a hung verdict is then earned on the wire, with the control probe's
	// greeting. predict sends no byte; its verdicts are predictions.
	Wire bool
	// Requirement names what the target lacks to run a scenario ("" when
	// it can run it); the row is skipped with that reason and counted.
	Requirement func(b *fixtures.Bundle) string
	// Describe says, in Envoy's terms, what decided the probe's connection
	// (listener, inspectors, chain, cluster): the report's decision column.
	Describe func(b *fixtures.Bundle) string
	// ServerImplementation names the server implementation and version the
	// probe talks to (embedded Go server, Debian's MariaDB, a digest-pinned
	// image); reports show it per row.
	ServerImplementation func(b *fixtures.Bundle) string
	// Release tears one scenario's own resources down as soon as the runner
	// is done with it (local: its namespaces), so a long table does not
	// hold everything until the end.
	Release func(ctx context.Context, b *fixtures.Bundle) error
}
