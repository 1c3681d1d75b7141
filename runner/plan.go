package runner

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/report"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/targets"
)

// Planner is a target that can describe what it would do without doing it
// (the kind and cluster targets). The dry run needs it; a target without
// it cannot dry-run.
type Planner interface {
	targets.Target
	RunID() string
	PlanSetup() []string
	PlanTeardown() []string
	// PlanTopology returns the topology to render with in a dry run, and
	// the step that would learn what is only known at run time.
	PlanTopology(s scenarios.Scenario) (fixtures.Topology, []string)
	PlanDeploy(b *fixtures.Bundle) []string
	PlanRemediate(b *fixtures.Bundle) []string
	PlanProbe(b *fixtures.Bundle, budget time.Duration) []string
	PlanControl(b *fixtures.Bundle, budget time.Duration) []string
	PlanCollider(b *fixtures.Bundle) []string
	PlanRevert(b *fixtures.Bundle) []string
	PlanEvidence(b *fixtures.Bundle) []string
}

// Admitter is a target that checks the whole run before set-up (the
// cluster target refuses mesh-wide changes without
// FIRSTBYTE_DISPOSABLE_MESH=1); PlanMeshWide describes that check.
type Admitter interface {
	Admit(list []scenarios.Scenario) error
	PlanMeshWide(list []scenarios.Scenario) []string
}

// LinePlanner is a target run over a matrix of Istio lines (kind, in the
// e2e workflow): the plan names each line and the node image it runs on.
type LinePlanner interface {
	PlanIstioLines() []string
}

// PlannedScenario is one scenario of a plan with its rendered bundle.
type PlannedScenario struct {
	Scenario scenarios.Scenario
	Bundle   *fixtures.Bundle
}

// Plan is a dry run's result: what was printed, and the bundles behind it
// (tests check them).
type Plan struct {
	Scenarios []PlannedScenario
	// Kinds are the object kinds the scenarios render.
	Kinds []string
}

func writeLines(w io.Writer, indent string, lines []string) {
	for _, l := range lines {
		fmt.Fprintf(w, "%s%s\n", indent, l)
	}
}

// WritePlan prints the full ordered plan of a run: set-up, then every
// scenario phase by phase, tear-down and reports. It renders every
// scenario (strictly decoded, as a real run would) and touches nothing
// else. source names where the scenarios came from.
func WritePlan(w io.Writer, p Planner, list []scenarios.Scenario, source string, o Options) (*Plan, error) {
	plan := &Plan{}
	fmt.Fprintf(w, "firstbyte e2e plan — target %s, Istio %s, run %s\n", p.Name(), p.IstioVersion(), p.RunID())
	fmt.Fprintf(w, "dry run: nothing is created, built, loaded or probed; no Docker and no cluster are needed\n")
	fmt.Fprintf(w, "scenarios: %d from %s; base first-byte budget %s; reports to %s\n\n", len(list), source, o.Budget, o.ReportDir())

	if lp, ok := p.(LinePlanner); ok {
		fmt.Fprintf(w, "== Istio lines (hack/versions.env ISTIO_VERSIONS, the e2e workflow's matrix: one job per line, ISTIO_VERSION=<line>)\n")
		writeLines(w, "", lp.PlanIstioLines())
		fmt.Fprintln(w)
	}
	if ap, ok := p.(interface{ PlanAmbientProfile() []string }); ok {
		if lines := ap.PlanAmbientProfile(); len(lines) > 0 {
			fmt.Fprintf(w, "== data-plane profiles (switching is cluster-wide: one cluster per profile)\n")
			writeLines(w, "", lines)
			fmt.Fprintln(w)
		}
	}
	if a, ok := p.(Admitter); ok {
		fmt.Fprintf(w, "== mesh-wide changes\n")
		writeLines(w, "", a.PlanMeshWide(list))
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "== set-up (e2e-framework env funcs, in order; the first failure stops the run)\n")
	writeLines(w, "", p.PlanSetup())

	fmt.Fprintf(w, "\n== scenarios, one at a time; each: render → %s (evidence only on failure; evidence and revert run even after a failure)\n", strings.Join(PhaseNames(), " → "))
	kinds := map[string]bool{}
	for i, s := range list {
		topo, topoPlan := p.PlanTopology(s)
		b, err := fixtures.Render(s, topo)
		if err != nil {
			return nil, fmt.Errorf("rendering %s for the plan: %w", s.ID, err)
		}
		plan.Scenarios = append(plan.Scenarios, PlannedScenario{Scenario: s, Bundle: b})
		for _, o := range append(append([]fixtures.Object{}, b.Base...), b.Final...) {
			kinds[o.Kind] = true
		}
		budget := s.Expect.Budget(o.Budget)
		fmt.Fprintf(w, "\n-- [%d/%d] %s: expect %s (budget %s)\n", i+1, len(list), s.ID, s.Expect, budget)
		fmt.Fprintf(w, "   %s\n", s.Why)
		fmt.Fprintf(w, "   labels: %s\n", strings.Join(s.Labels(), ", "))
		if req := p.Capabilities().Requirement; req != nil {
			if why := req(b); why != "" {
				fmt.Fprintf(w, "   skipped on this target (counted as skipped): %s\n", why)
				continue
			}
		}
		fmt.Fprintf(w, "   render:\n")
		writeLines(w, "     ", topoPlan)
		for _, ph := range phases {
			fmt.Fprintf(w, "   %s:\n", ph.name)
			writeLines(w, "     ", ph.plan(p, b, budget))
		}
	}

	fmt.Fprintf(w, "\n== tear-down (also on failure and on SIGINT/SIGTERM: Ginkgo's interrupt handler runs it)\n")
	writeLines(w, "", p.PlanTeardown())

	fmt.Fprintf(w, "\n== reports\n")
	fmt.Fprintf(w, "%s, %s, %s (expected vs observed, first-byte latency) in %s\n", report.Files.JUnit, report.Files.JSON, report.Files.Markdown, o.ReportDir())
	fmt.Fprintf(w, "Ginkgo's own JUnit: %s; evidence of failed scenarios: %s\n", GinkgoJUnitFile, o.EvidenceDir("<scenario-id>"))
	fmt.Fprintf(w, "the Markdown table is printed at the end of the run\n")

	for k := range kinds {
		plan.Kinds = append(plan.Kinds, k)
	}
	sort.Strings(plan.Kinds)
	fmt.Fprintf(w, "\nobject kinds rendered: %s (plus the target's control Deployment)\n", strings.Join(plan.Kinds, ", "))
	return plan, nil
}

// GinkgoJUnitFile is the name of Ginkgo's JUnit report in the report dir.
const GinkgoJUnitFile = "ginkgo-junit.xml"
