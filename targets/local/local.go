// Package local is the local target: no Docker, no cluster. Each scenario
// gets its own Linux network namespaces — a client "pod", a control host
// without a sidecar, and a world namespace holding the servers and the
// collider — Istio's own iptables rules (istio-iptables' builder, for the
// client pod's annotations) in the client namespace, and an emulated data
// plane on port 15001 that executes, on the real socket, what the predict
// evaluator decides from Istio's own generated listeners. Probes are the
// real clients, run inside the client namespace.
//
// Every scenario renders with the one world's addresses (fixtures/world.go:
// the world in 198.18.0.0/16, the veth links in 198.19.0.0/16, all inside
// 198.18.0.0/15), the same as predict's, because every scenario has its own
// world; so scenarios run in parallel and share Istio generator runs with
// predict's shared predictor.
package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/predict/generator"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/targets"
	"github.com/firstbyte/firstbyte/targets/local/netlab"
	"github.com/firstbyte/firstbyte/targets/local/upstream"
)

// Local implements targets.Target on this machine.
type Local struct {
	predictor *predict.Predictor

	mu   sync.Mutex
	runs map[string]*scenarioRun
	seq  atomic.Int64

	// servers is embedded or upstream (servers.go); upstream is set up by
	// Setup when it is upstream.
	servers  string
	upstream *upstream.Servers
}

// New returns the local target.
func New() *Local {
	return &Local{predictor: predict.Shared(), runs: map[string]*scenarioRun{}}
}

func (*Local) Name() string { return "local" }

// IstioVersion names the Istio whose generator and iptables builder the
// emulation runs.
func (*Local) IstioVersion() string {
	b, err := generator.Istio()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return b.Version() + ", emulated data plane"
}

// Setup checks root and the tools, and sweeps what killed runs left.
func (l *Local) Setup(ctx context.Context) error {
	if err := netlab.CheckPrivileges(); err != nil {
		return err
	}
	for _, tool := range []string{"ip", "iptables-restore", "iptables-save"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("the local target needs %s: apt-get install iproute2 iptables (or run .ci/run, which installs them)", tool)
		}
	}
	removed, err := netlab.Sweep()
	if len(removed) > 0 {
		fmt.Fprintf(os.Stderr, "local: removed %d network namespaces left by killed runs: %s\n", len(removed), strings.Join(removed, " "))
	}
	if err != nil {
		return err
	}
	return l.setupUpstream(ctx)
}

// Teardown closes every scenario still open. Safe to call twice.
func (l *Local) Teardown(ctx context.Context) error {
	l.mu.Lock()
	runs := l.runs
	l.runs = map[string]*scenarioRun{}
	l.mu.Unlock()
	var errs []error
	for _, r := range runs {
		errs = append(errs, r.close())
	}
	if l.upstream != nil {
		errs = append(errs, l.upstream.Close())
	}
	return errors.Join(errs...)
}

func topology() fixtures.Topology {
	t := fixtures.WorldTopology()
	t.RunID = "local"
	return t
}

// Topology is the same for every scenario: each has its own world.
func (*Local) Topology(context.Context, scenarios.Scenario) (fixtures.Topology, error) {
	return topology(), nil
}

// Capabilities implements targets.Target: real sockets, Istio's iptables
// rules and the emulated sidecars; it frees each scenario's namespaces at
// once and names the emulator's deciding decision.
func (l *Local) Capabilities() targets.Capabilities {
	return targets.Capabilities{
		Wire:                 true,
		Requirement:          l.Requirement,
		Describe:             l.Describe,
		ServerImplementation: l.ServerImplementation,
		Release:              l.Release,
	}
}

func (l *Local) run(b *fixtures.Bundle) (*scenarioRun, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.runs[b.Scenario.ID]
	if !ok {
		return nil, fmt.Errorf("scenario %s is not deployed on the local target: Deploy it first", b.Scenario.ID)
	}
	return r, nil
}

// Requirement names what a scenario needs that the local target does not
// emulate; the suite skips such scenarios and the report counts them. The
// emulator runs both sidecars in plaintext: Istio mTLS between them and
// the RBAC filter of an AuthorizationPolicy are not emulated (see
// inbound.go).
func (l *Local) Requirement(b *fixtures.Bundle) string {
	return l.requirement(b)
}
