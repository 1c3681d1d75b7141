// Package runner is the suite's per-scenario flow, shared by the Ginkgo
// suite (e2e/) and the timed harnesses: render the scenario for the
// target, deploy, apply the remediation, probe through the client's
// sidecar, judge against the expectation stated up front, earn a hung
// verdict with a control probe, check the collider's own HTTP traffic,
// save evidence on failure, revert.
//
// The rules of the house live here, once, whatever the target:
//   - a hung observation counts only when a control probe of the same
//     server, on a path without the client's sidecar, saw its first byte
//     promptly; otherwise the environment is broken, not the sidecar;
//   - the collider's HTTP must keep working under every remediation;
//   - a target that cannot run a scenario skips it with the requirement
//     named, and the report counts it.
package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/report"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/probe"
	"github.com/firstbyte/firstbyte/target"
)

// DefaultBudget is the first-byte budget a hang is asserted with.
const DefaultBudget = time.Second

// ServerBytesBeforeDeny is the report column for the observed property of
// AuthorizationPolicy DENY scenarios: did the denied client see the
// server's greeting before the close?
const ServerBytesBeforeDeny = "server bytes before deny"

// Options tune a run.
type Options struct {
	// Budget is the base first-byte budget (DefaultBudget when zero); a
	// connects-after expectation widens it (Expectation.Budget).
	Budget time.Duration
	// Evidence is the folder under which a failed scenario's evidence is
	// saved as <Evidence>/<scenario-id>/; empty saves none.
	Evidence string
}

// Releaser is implemented by targets that can tear a single scenario down
// as soon as it is done (local: its namespaces).
type Releaser interface {
	Release(ctx context.Context, b *fixtures.Bundle) error
}

// Describer is implemented by targets that can say what the sidecar did
// with the probe's connection (the deciding listener and chain); the
// report shows it instead of the probe's detail.
type Describer interface {
	Describe(b *fixtures.Bundle) string
}

// Phases are the time each step took, for the benchmarks.
type Phases struct {
	Render, Deploy, Remediate, Probe, Control, Collider, Evidence, Revert, Release time.Duration
}

// Add accumulates another scenario's phases.
func (p *Phases) Add(q Phases) {
	p.Render += q.Render
	p.Deploy += q.Deploy
	p.Remediate += q.Remediate
	p.Probe += q.Probe
	p.Control += q.Control
	p.Collider += q.Collider
	p.Evidence += q.Evidence
	p.Revert += q.Revert
	p.Release += q.Release
}

// Result is one scenario's row, its observation and its timings.
type Result struct {
	Row         report.Row
	Observation probe.Observation
	Phases      Phases
}

// Run executes one scenario on the target.
func Run(ctx context.Context, tg target.Target, s scenarios.Scenario, o Options) (r Result) {
	start := time.Now()
	r.Row = report.NewRow(s)
	defer func() { r.Row.Duration = time.Since(start) }()
	budget := o.Budget
	if budget <= 0 {
		budget = DefaultBudget
	}

	t0 := time.Now()
	top, err := tg.Topology(ctx)
	if err != nil {
		r.fail("topology: %v", err)
		return r
	}
	b, err := fixtures.Render(s, top)
	if err != nil {
		r.fail("render: %v", err)
		return r
	}
	r.Phases.Render = time.Since(t0)
	if sk, ok := tg.(target.Skipper); ok {
		if req := sk.Requirement(b); req != "" {
			r.Row.Verdict, r.Row.Reason, r.Row.Observed = report.Skip, req, "-"
			return r
		}
	}

	timed := func(d *time.Duration, f func() error) error {
		t := time.Now()
		err := f()
		*d = time.Since(t)
		return err
	}
	if err := timed(&r.Phases.Deploy, func() error { return tg.Deploy(ctx, b) }); err != nil {
		r.fail("deploy: %v", err)
		r.evidence(ctx, tg, b, o)
		r.release(ctx, tg, b)
		return r
	}
	defer r.release(ctx, tg, b)
	if err := timed(&r.Phases.Remediate, func() error { return tg.Remediate(ctx, b) }); err != nil {
		r.fail("applying remediation %s: %v", s.Remediation, err)
		r.evidence(ctx, tg, b, o)
		return r
	}

	var obs probe.Observation
	if err := timed(&r.Phases.Probe, func() (err error) {
		obs, err = tg.Probe(ctx, b, s.Expect.Budget(budget))
		return err
	}); err != nil {
		r.fail("probe: %v", err)
		r.evidence(ctx, tg, b, o)
		return r
	}
	r.Observation = obs
	r.Row.Judge(s.Expect, obs.Outcome, obs.Timings.FirstByte)
	r.Row.Decision = obs.Detail
	if s.Security.AuthorizationPolicy == scenarios.DenyClient {
		r.Row.Extra = map[string]string{ServerBytesBeforeDeny: yesNo(obs.ServerBytes > 0)}
	}

	// A hang is earned only if the server answers on a direct path.
	if obs.Outcome == scenarios.Hung || r.Row.Verdict == report.Fail {
		var ctl probe.Observation
		err := timed(&r.Phases.Control, func() (err error) {
			ctl, err = tg.Control(ctx, b, budget)
			return err
		})
		switch {
		case err != nil:
			r.fail("control probe: %v", err)
		case ctl.Outcome != scenarios.Connected || ctl.Timings.FirstByte > budget/2:
			r.fail("control probe of the same server without the sidecar did not answer promptly (%s, first byte %s: %s): the environment is broken, this is not a sidecar hang",
				ctl.Outcome, report.FormatLatency(ctl.Timings.FirstByte), ctl.Detail)
		case obs.Outcome == scenarios.Hung:
			r.Row.Decision = fmt.Sprintf("TCP accepted, no server byte in %s, while the control probe got the greeting in %s", obs.Budget, report.FormatLatency(ctl.Timings.FirstByte))
		}
	}

	if b.ColliderAddr != "" {
		if err := timed(&r.Phases.Collider, func() error { return tg.ColliderHTTP(ctx, b) }); err != nil {
			r.fail("the collider's own HTTP traffic broke under remediation %s: %v", s.Remediation, err)
		}
	}
	if d, ok := tg.(Describer); ok {
		if desc := d.Describe(b); desc != "" {
			r.Row.Decision = desc
		}
	}
	if r.Row.Verdict == report.Fail {
		t := time.Now()
		r.evidence(ctx, tg, b, o)
		r.Phases.Evidence = time.Since(t)
	}
	if err := timed(&r.Phases.Revert, func() error { return tg.Revert(ctx, b) }); err != nil {
		r.fail("reverting remediation %s: %v", s.Remediation, err)
	}
	return r
}

// fail marks the row failed, keeping an earlier reason.
func (r *Result) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if r.Row.Verdict == report.Fail && r.Row.Reason != "" {
		msg = r.Row.Reason + "; " + msg
	}
	r.Row.Verdict, r.Row.Reason = report.Fail, msg
}

func (r *Result) evidence(ctx context.Context, tg target.Target, b *fixtures.Bundle, o Options) {
	if o.Evidence == "" {
		return
	}
	dir := filepath.Join(o.Evidence, b.Scenario.ID)
	if err := tg.Evidence(ctx, b, dir); err != nil {
		r.Row.Reason += fmt.Sprintf(" (evidence incomplete: %v)", err)
	}
	r.Row.Evidence = dir
}

func (r *Result) release(ctx context.Context, tg target.Target, b *fixtures.Bundle) {
	if rl, ok := tg.(Releaser); ok {
		t := time.Now()
		if err := rl.Release(ctx, b); err != nil {
			r.fail("releasing the scenario: %v", err)
		}
		r.Phases.Release = time.Since(t)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
