// Package predict is the predict target: the runner's table decided by
// Istio's own config generator and firstbyte's one Envoy model, with no
// traffic. Deploy generates the sidecars' configuration (pilot's
// FakeDiscoveryServer), Probe walks the scenario's connection through the
// client pod's capture rules and that configuration (package predict), and
// the collider check walks the collider's HTTP request the same way. Its
// verdicts are predictions: Capabilities().Wire is false, so the runner
// applies no control probe to a predicted hang, and the report's header
// says what the verdicts rest on.
//
// It runs from a checkout (make e2e TARGET=predict) and without one
// (firstbyte predict FILE): all it reads at run time is the Istio module's
// VERSION file from the Go module cache.
package predict

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	pr "github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/predict/generator"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/probe"
	"github.com/firstbyte/firstbyte/targets"
)

// Name is the target's name in TARGET, the report and the registry.
const Name = "predict"

// Target predicts scenarios. It is safe for concurrent use: the runner may
// run many scenarios at once, and scenarios that give Istio the same
// objects share one generator run.
type Target struct {
	predictor *pr.Predictor
	build     generator.IstioBuild

	mu sync.Mutex
	// predictions are the probe walks by scenario id, for Describe and
	// Evidence.
	predictions map[string]outcome
}

type outcome struct {
	prediction pr.Prediction
	err        error
}

// New returns the predict target. It shares the process's predictor
// (predict.Shared) with the runner's collider-check expectation, so each
// distinct set of objects is generated once per process.
func New() *Target { return withPredictor(pr.Shared()) }

// withPredictor returns the predict target on its own predictor (the
// benchmark's fresh cache per run).
func withPredictor(p *pr.Predictor) *Target {
	return &Target{predictor: p, predictions: map[string]outcome{}}
}

// Name implements targets.Target.
func (t *Target) Name() string { return Name }

// Capabilities implements targets.Target: no wire; scenarios that use an
// Istio feature this build lacks are skipped with the line they need.
func (t *Target) Capabilities() targets.Capabilities {
	return targets.Capabilities{Requirement: t.requirement, Describe: t.describe}
}

// Setup reads which Istio the generator is: a build whose module cannot
// be found is an error that names the fix.
func (t *Target) Setup(context.Context) error {
	b, err := generator.Istio()
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	t.build = b
	return nil
}

// Teardown implements targets.Target: predict creates nothing.
func (t *Target) Teardown(context.Context) error { return nil }

// IstioVersion names the Istio build whose generator decides.
func (t *Target) IstioVersion() string {
	if t.build.Line == "" {
		if b, err := generator.Istio(); err == nil {
			t.build = b
		}
	}
	return t.build.Version()
}

// Generations counts how often Istio's generator actually ran.
func (t *Target) Generations() int64 { return t.predictor.Generations.Load() }

// Topology implements targets.Target: the one world's addresses.
func (t *Target) Topology(context.Context, scenarios.Scenario) (fixtures.Topology, error) {
	return pr.Topology(), nil
}

func (t *Target) requirement(b *fixtures.Bundle) string { return pr.Rejection(b) }

// Deploy runs Istio's generator for the bundle's objects (its remediation
// included: Final is what the sidecars see), as a cluster would push them.
func (t *Target) Deploy(_ context.Context, b *fixtures.Bundle) error {
	_, err := t.predictor.Generate(b)
	return err
}

// Remediate implements targets.Target: the generation Deploy ran already
// holds the remediation (fixtures render it into the bundle's final
// objects), so there is nothing to apply.
func (t *Target) Remediate(context.Context, *fixtures.Bundle) error { return nil }

// Revert implements targets.Target: nothing was applied.
func (t *Target) Revert(context.Context, *fixtures.Bundle) error { return nil }

// Probe predicts the probe's connection: capture, the client sidecar's
// listener, listener filters, chain and cluster, and the server side. The
// observation carries the predicted outcome and, for a held connection,
// the predicted release time (the listener filter timeout that has to
// pass); a prediction has no wire timings.
func (t *Target) Probe(_ context.Context, b *fixtures.Bundle, budget time.Duration) (probe.Observation, error) {
	p, err := t.predictor.PredictBundle(b)
	t.mu.Lock()
	t.predictions[b.Scenario.ID] = outcome{p, err}
	t.mu.Unlock()
	if err != nil {
		return probe.Observation{}, err
	}
	obs := probe.Observation{Protocol: b.Scenario.Protocol, Outcome: p.Outcome, Budget: budget, Detail: "predicted: " + p.Verdict()}
	if p.Outcome == scenarios.Connected {
		obs.Timings.FirstByte = p.After
	} else {
		obs.Timings.Closed = p.After
	}
	if p.ServerBytesBeforeDeny != nil && *p.ServerBytesBeforeDeny {
		obs.ServerBytes = 1
	}
	return obs, nil
}

// errNoWire is Control's answer: the runner asks only targets with a wire.
var errNoWire = errors.New("the predict target sends no traffic: a predicted hang needs no control probe (Capabilities().Wire is false)")

// Control implements targets.Target; see errNoWire.
func (t *Target) Control(context.Context, *fixtures.Bundle, time.Duration) (probe.Observation, error) {
	return probe.Observation{}, errNoWire
}

// ColliderHTTP predicts the collider check (predict.Predictor.ColliderCheck:
// the client's HTTP request to the collider's Service walked through the
// same capture and Envoy model as the probe) and answers as the wire
// would: nil when the collider answers, else what came of the request.
func (t *Target) ColliderHTTP(_ context.Context, b *fixtures.Bundle) error {
	c, err := t.predictor.ColliderCheck(b)
	switch {
	case err != nil:
		return fmt.Errorf("predicting the collider check: %w", err)
	case c.Reach != pr.ColliderAnswers:
		return fmt.Errorf("the collider check's request %s: %s", c.Reach, c.Why)
	}
	return nil
}

func (t *Target) describe(b *fixtures.Bundle) string {
	t.mu.Lock()
	o, ok := t.predictions[b.Scenario.ID]
	t.mu.Unlock()
	if !ok || o.err != nil {
		return ""
	}
	return o.prediction.Decision()
}

// Evidence writes the explain trace, the rendered manifests and
// meshConfig, and the client sidecar's generated config_dump.
func (t *Target) Evidence(_ context.Context, b *fixtures.Bundle, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing evidence: %w", err)
	}
	t.mu.Lock()
	o := t.predictions[b.Scenario.ID]
	t.mu.Unlock()
	explain := o.prediction.String()
	if o.err != nil {
		explain += "error: " + o.err.Error() + "\n"
	}
	files := map[string][]byte{
		"explain.txt":     []byte(explain),
		"manifests.yaml":  fixtures.Manifest(b.Final),
		"meshconfig.yaml": b.MeshConfig,
	}
	var errs []error
	if cfg, err := t.predictor.Sidecar(b); err == nil {
		dump, err := cfg.ConfigDump()
		errs = append(errs, err)
		files["config_dump.json"] = dump
	}
	for name, data := range files {
		if data == nil {
			continue
		}
		errs = append(errs, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("writing evidence for %s: %w", b.Scenario.ID, err)
	}
	return nil
}
