// Package targets is the contract between the e2e suite and the places it
// runs: kind, an existing cluster, or the local network-namespace emulation.
// The suite (e2e/) owns the table, the expectations and the reports; a
// Target owns deploying, remediating and probing. Every method takes the
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
	// Name is kind, cluster or local.
	Name() string
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

	// Topology returns the topology to render scenarios for (namespace
	// names, known addresses); the suite renders the bundle with it.
	Topology(ctx context.Context) (fixtures.Topology, error)
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
	// ColliderHTTP checks that the collider's own HTTP traffic works from
	// the client (nil when the scenario has no collider).
	ColliderHTTP(ctx context.Context, b *fixtures.Bundle) error
	// Evidence saves what explains a failure into dir: the sidecar's
	// config_dump, listener stats, pod logs, rendered manifests.
	Evidence(ctx context.Context, b *fixtures.Bundle, dir string) error
}

// ScenarioTopologist is implemented by targets that learn part of the
// topology only by starting the scenario's server (kind, cluster: the
// external server's address is its pod IP). The suite renders with
// ScenarioTopology instead of Topology when a target has it.
type ScenarioTopologist interface {
	ScenarioTopology(ctx context.Context, s scenarios.Scenario) (fixtures.Topology, error)
}

// Releaser is implemented by targets that can tear one scenario down as
// soon as the suite is done with it (local: its namespaces), so a long
// table does not hold everything until the end.
type Releaser interface {
	Release(ctx context.Context, b *fixtures.Bundle) error
}

// Describer is implemented by targets that can say, in Envoy's terms, what
// the sidecar did with the probe's connection (listener, inspectors,
// chain, cluster); the report shows it as the deciding decision.
type Describer interface {
	Describe(b *fixtures.Bundle) string
}

// ServerNamer is implemented by targets that can name the server
// implementation and version a scenario's probe talks to (embedded Go
// server, Debian's MariaDB, a digest-pinned image); reports show it per row.
type ServerNamer interface {
	ServerImplementation(b *fixtures.Bundle) string
}

// Skipper is implemented by targets that cannot run every scenario; a
// non-empty requirement skips the scenario and the report counts it.
type Skipper interface {
	Requirement(b *fixtures.Bundle) string
}
