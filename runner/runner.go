package runner

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/report"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/probe"
	"github.com/firstbyte/firstbyte/targets"
)

// ControlAnswered is the hung rule's bar: the control probe must get the
// server's first byte within this time for a hang to count.
const ControlAnswered = scenarios.LateConnect

// ReasonControlSilent is the row reason when a hang is not earned.
const ReasonControlSilent = "control probe did not answer: environment broken, not a hang"

// Columns the suite adds to the Markdown table.
const (
	ColumnControl = "control first byte"
	ColumnBudget  = "budget"
	// ColumnServerBytesBeforeDeny is the observed property of
	// AuthorizationPolicy DENY scenarios: did the denied client see the
	// server's greeting before the close?
	ColumnServerBytesBeforeDeny = "server bytes before deny"
)

// Columns lists the extra columns in table order.
var Columns = []string{ColumnBudget, ColumnControl, ColumnServerBytesBeforeDeny}

// Runner runs scenarios on one target.
type Runner struct {
	Target targets.Target
	Options
	// Out receives one progress line per phase.
	Out io.Writer
	// Timed, when set, receives each phase's duration (the benchmarks sum
	// them).
	Timed func(scenario, phase string, d time.Duration)
}

// run is one scenario's state as it moves through the phases.
type run struct {
	r      *Runner
	s      scenarios.Scenario
	b      *fixtures.Bundle
	budget time.Duration
	row    *report.Row
	obs    probe.Observation
	caps   targets.Capabilities
	// deployed and remediated say what revert must undo.
	deployed, remediated bool
}

func (x *run) fail(phase string, format string, args ...any) {
	reason := fmt.Sprintf(format, args...)
	if phase != "" {
		reason = phase + ": " + reason
	}
	if x.row.Verdict == report.Fail && x.row.Reason != "" {
		x.row.Reason += "; " + reason
	} else {
		x.row.Verdict, x.row.Reason = report.Fail, reason
	}
}

// phase is one step of a scenario. The same list drives the run and the
// dry-run plan, so the plan shows the order the suite follows.
type phase struct {
	name string
	// always runs even after an earlier phase failed.
	always bool
	run    func(ctx context.Context, x *run) error
	plan   func(p Planner, b *fixtures.Bundle, budget time.Duration) []string
}

var phases = []phase{
	{name: "deploy", run: func(ctx context.Context, x *run) error {
		if name := x.caps.ServerImplementation; name != nil {
			x.row.Server = name(x.b)
		}
		if err := x.r.Target.Deploy(ctx, x.b); err != nil {
			x.fail("deploy", "%v", err)
			return err
		}
		x.deployed = true
		return nil
	}, plan: func(p Planner, b *fixtures.Bundle, _ time.Duration) []string { return p.PlanDeploy(b) }},

	{name: "remediate", run: func(ctx context.Context, x *run) error {
		if x.s.Remediation.Kind == scenarios.NoRemediation {
			return nil
		}
		x.remediated = true
		if err := x.r.Target.Remediate(ctx, x.b); err != nil {
			x.fail("remediate", "%v", err)
			return err
		}
		return nil
	}, plan: func(p Planner, b *fixtures.Bundle, _ time.Duration) []string { return p.PlanRemediate(b) }},

	{name: "probe", run: func(ctx context.Context, x *run) error {
		obs, err := x.r.Target.Probe(ctx, x.b, x.budget)
		if err != nil {
			x.fail("probe", "%v", err)
			return err
		}
		x.obs = obs
		return nil
	}, plan: func(p Planner, b *fixtures.Bundle, budget time.Duration) []string { return p.PlanProbe(b, budget) }},

	{name: "assert", run: func(ctx context.Context, x *run) error {
		x.assert(ctx)
		return nil
	}, plan: func(p Planner, b *fixtures.Bundle, budget time.Duration) []string {
		lines := []string{fmt.Sprintf("expect %s: %s", b.Scenario.Expect, expectationText(b.Scenario.Expect))}
		lines = append(lines, fmt.Sprintf("hung rule: a hung outcome counts only if the control probe gets the server's first byte within %s, else the row fails with %q", ControlAnswered, ReasonControlSilent))
		for _, l := range p.PlanControl(b, budget) {
			lines = append(lines, "control (only when the probe hangs): "+l)
		}
		return lines
	}},

	{name: "collider", run: func(ctx context.Context, x *run) error {
		if x.b.ColliderAddr == "" {
			return nil
		}
		// The check's expected outcome is predicted by the probe's decision
		// table: usually the collider answers, but a misrouted or failing
		// check is a predicted fact, asserted as such.
		want, err := predict.ExpectColliderCheck(x.b)
		if err != nil {
			x.fail("collider check", "predicting it: %v", err)
			return nil
		}
		if why := want.Judge(x.r.Target.ColliderHTTP(ctx, x.b)); why != "" {
			x.fail("collider check", "%s", why)
		}
		return nil
	}, plan: func(p Planner, b *fixtures.Bundle, _ time.Duration) []string { return p.PlanCollider(b) }},

	{name: "evidence", always: true, run: func(ctx context.Context, x *run) error {
		if x.row.Verdict != report.Fail || x.b == nil {
			return nil
		}
		dir := x.r.EvidenceDir(x.s.ID)
		x.row.Evidence = dir
		if err := x.r.Target.Evidence(ctx, x.b, dir); err != nil {
			x.r.progress("%s: evidence incomplete: %v", x.s.ID, err)
		}
		return nil
	}, plan: func(p Planner, b *fixtures.Bundle, _ time.Duration) []string { return p.PlanEvidence(b) }},

	{name: "revert", always: true, run: func(ctx context.Context, x *run) error {
		if !x.remediated {
			return nil
		}
		if err := x.r.Target.Revert(ctx, x.b); err != nil {
			x.fail("revert", "%v", err)
			return err
		}
		return nil
	}, plan: func(p Planner, b *fixtures.Bundle, _ time.Duration) []string { return p.PlanRevert(b) }},

	{name: "release", always: true, run: func(ctx context.Context, x *run) error {
		if x.caps.Release == nil {
			return nil
		}
		if err := x.caps.Release(ctx, x.b); err != nil {
			x.fail("release", "%v", err)
			return err
		}
		return nil
	}, plan: func(p Planner, _ *fixtures.Bundle, _ time.Duration) []string {
		if p.Capabilities().Release != nil {
			return []string{"tear the scenario's own resources down now"}
		}
		return []string{"nothing: the scenario's objects stay until the next scenario prunes them or tear-down removes the run"}
	}},
}

// PhaseNames lists the phases in order.
func PhaseNames() []string {
	out := make([]string, len(phases))
	for i, p := range phases {
		out[i] = p.name
	}
	return out
}

func expectationText(e scenarios.Expectation) string {
	switch {
	case e.Outcome == scenarios.Connected && e.After > 0:
		return fmt.Sprintf("outcome connected with the first byte between %s and %s", e.Earliest(), e.Latest())
	case e.Outcome == scenarios.Connected:
		return fmt.Sprintf("outcome connected with the first byte within %s", scenarios.LateConnect)
	case e.After > 0:
		return fmt.Sprintf("outcome %s, the connection held and then closed between %s and %s", e.Outcome, e.Earliest(), e.Latest())
	case e.TimedOutcome():
		return fmt.Sprintf("outcome %s within %s", e.Outcome, scenarios.LateConnect)
	default:
		return "outcome " + string(e.Outcome)
	}
}

func (r *Runner) progress(format string, args ...any) {
	if r.Out != nil {
		fmt.Fprintf(r.Out, "[e2e] %s\n", fmt.Sprintf(format, args...))
	}
}

// Run takes one scenario through render and the phases and returns its
// row: pass, fail (with the reason and the evidence folder) or skip.
func (r *Runner) Run(ctx context.Context, s scenarios.Scenario) (row report.Row) {
	start := time.Now()
	row = report.NewRow(s)
	x := &run{r: r, s: s, row: &row, budget: s.Expect.Budget(r.Budget), caps: r.Target.Capabilities()}
	row.Extra = map[string]string{ColumnBudget: x.budget.String()}
	defer func() { row.Duration = time.Since(start) }()

	b, err := r.render(ctx, s)
	if err != nil {
		x.fail("render", "%v", err)
		return row
	}
	x.b = b
	if x.caps.Requirement != nil {
		if why := x.caps.Requirement(b); why != "" {
			row.Verdict, row.Reason = report.Skip, why
			return row
		}
	}
	failed := false
	for _, p := range phases {
		if failed && !p.always {
			continue
		}
		t := time.Now()
		if err := p.run(ctx, x); err != nil {
			failed = true
		}
		d := time.Since(t)
		r.progress("%s: %s (%s)", s.ID, p.name, d.Round(time.Millisecond))
		if r.Timed != nil {
			r.Timed(s.ID, p.name, d)
		}
	}
	return row
}

func (r *Runner) render(ctx context.Context, s scenarios.Scenario) (*fixtures.Bundle, error) {
	topo, err := r.Target.Topology(ctx, s)
	if err != nil {
		return nil, err
	}
	return fixtures.Render(s, topo)
}

// assert applies the expectation, with the hung rule: a hang is only
// earned when the control probe, which bypasses the client's sidecar, got
// the server's greeting fast; otherwise the environment is broken.
func (x *run) assert(ctx context.Context) {
	obs := x.obs
	x.row.Decision = obs.Detail
	if x.s.Security.AuthorizationPolicy == scenarios.DenyClient {
		x.row.Extra[ColumnServerBytesBeforeDeny] = map[bool]string{true: "yes", false: "no"}[obs.ServerBytes > 0]
	}
	var ctl probe.Observation
	// A hang is earned on the wire: a target that sends no byte
	// (predict) predicts the control path as it predicts the probe's.
	if obs.Outcome == scenarios.Hung && x.caps.Wire {
		var err error
		ctl, err = x.r.Target.Control(ctx, x.b, x.budget)
		switch {
		case err != nil:
			x.row.Observed, x.row.FirstByte = string(obs.Outcome), obs.Timings.FirstByte
			x.fail("", "%s (%v)", ReasonControlSilent, err)
			return
		case !controlAnswered(ctl):
			x.row.Extra[ColumnControl] = controlText(ctl)
			x.row.Observed, x.row.FirstByte = string(obs.Outcome), obs.Timings.FirstByte
			x.fail("", "%s (control: %s after %s, %s)", ReasonControlSilent, ctl.Outcome, ctl.Timings.FirstByte.Round(time.Millisecond), ctl.Detail)
			return
		default:
			x.row.Extra[ColumnControl] = controlText(ctl)
		}
	}
	x.row.Judge(x.s.Expect, obs.Outcome, obs.Timings.Released())
	if !x.caps.Wire {
		// A margin says how close a measured time came to its threshold;
		// a predicted time is the configured timeout itself, not a
		// measurement, so it has none.
		x.row.Margin = ""
	}
	if obs.Outcome == scenarios.Hung && x.caps.Wire && x.row.Verdict == report.Pass {
		// The hang budget's margin: how much slower than the direct path
		// the greeting could have been before it read as a hang.
		x.row.Margin = fmt.Sprintf("%s (hang budget %s − control's first byte %s)", report.FormatMargin(x.budget-ctl.Timings.FirstByte), x.budget, report.FormatLatency(ctl.Timings.FirstByte))
	}
	if x.caps.Describe != nil {
		if desc := x.caps.Describe(x.b); desc != "" {
			x.row.Decision = desc
		}
	}
	if x.row.Verdict == report.Fail && obs.Detail != "" && !strings.Contains(x.row.Reason, obs.Detail) {
		x.row.Reason += " (" + obs.Detail + ")"
	}
}

func controlAnswered(o probe.Observation) bool {
	return o.Timings.FirstByte > 0 && o.Timings.FirstByte <= ControlAnswered
}

func controlText(o probe.Observation) string {
	if o.Timings.FirstByte <= 0 {
		return "none (" + string(o.Outcome) + ")"
	}
	return report.FormatLatency(o.Timings.FirstByte)
}
