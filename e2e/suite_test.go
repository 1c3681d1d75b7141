package e2e

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/report"
	"github.com/firstbyte/firstbyte/runner"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/targets"
	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/reporters"
)

var (
	opts    runner.Options
	optsErr error

	// selected are the scenarios the table runs (set before RunSpecs).
	selected []scenarios.Scenario

	suiteTarget targets.Target
	suiteRunner *runner.Runner
	runReport   *report.Report
)

func init() {
	opts, optsErr = runner.OptionsFromEnv(os.Getenv)
	opts.RegisterFlags(flag.CommandLine)
}

// TestE2E is the suite's entry point. It runs only when a target is named
// (FIRSTBYTE_TARGET or -target), so `go test ./...` skips it; with
// -dry-run (DRY_RUN=1) it prints the plan and touches nothing.
func TestE2E(t *testing.T) {
	if optsErr != nil {
		t.Fatal(optsErr)
	}
	if opts.Target == "" && !opts.DryRun {
		t.Skipf("FIRSTBYTE_TARGET is unset: the e2e suite runs against a named target (%s): make e2e, or go test ./e2e -args -target=kind; make e2e DRY_RUN=1 prints the plan", strings.Join(TargetNames(), ", "))
	}
	if opts.Target == "" {
		opts.Target = "kind"
	}
	list, source, err := opts.Selected()
	if err != nil {
		t.Fatal(err)
	}
	suiteConfig, reporterConfig := GinkgoConfiguration()
	if opts.DryRun {
		list, err = runner.FilterByLabels(list, suiteConfig.LabelFilter)
		if err != nil {
			t.Fatal(err)
		}
		tg, err := NewTarget(opts)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := tg.(runner.Planner)
		if !ok {
			t.Fatalf("target %s cannot describe a dry run", opts.Target)
		}
		if _, err := runner.WritePlan(os.Stdout, p, list, source, opts); err != nil {
			t.Fatal(err)
		}
		return
	}
	if _, ok := Targets[opts.Target]; !ok {
		t.Fatalf("unknown target %q: want one of %s", opts.Target, strings.Join(TargetNames(), ", "))
	}
	selected = list
	RunSpecs(t, "firstbyte e2e ("+opts.Target+")", suiteConfig, reporterConfig)
}

var _ = BeforeSuite(func(ctx SpecContext) {
	tg, err := NewTarget(opts)
	if err != nil {
		Fail(err.Error())
	}
	suiteTarget = tg
	if a, ok := tg.(runner.Admitter); ok {
		// The whole run is checked before set-up touches anything.
		suiteConfig, _ := GinkgoConfiguration()
		list, err := runner.FilterByLabels(selected, suiteConfig.LabelFilter)
		if err != nil {
			Fail(err.Error())
		}
		if err := a.Admit(list); err != nil {
			Fail(err.Error())
		}
	}
	// Registered before Setup, so a failed or interrupted set-up is torn
	// down too. Ginkgo runs it on SIGINT/SIGTERM as well.
	DeferCleanup(func(ctx SpecContext) {
		if err := tg.Teardown(ctx); err != nil {
			Fail(err.Error())
		}
	}, NodeTimeout(15*time.Minute))
	runReport = &report.Report{Target: opts.Target, Istio: tg.IstioVersion(), Started: time.Now(), ExtraColumns: runner.Columns}
	if err := tg.Setup(ctx); err != nil {
		Fail(err.Error())
	}
	runReport.Istio = tg.IstioVersion()
	suiteRunner = &runner.Runner{Target: tg, Options: opts, Out: GinkgoWriter}
}, NodeTimeout(60*time.Minute))

var _ = Describe("firstbyte", func() {
	entries := make([]TableEntry, 0, len(selected))
	for _, s := range selected {
		entries = append(entries, Entry(s.ID, Label(s.Labels()...), SpecTimeout(30*time.Minute), s))
	}
	DescribeTable("scenario", func(ctx SpecContext, s scenarios.Scenario) {
		row := suiteRunner.Run(ctx, s)
		// The row travels as a report entry so the report can be built
		// from every parallel process's specs (ReportAfterSuite).
		AddReportEntry(rowEntry, row, ReportEntryVisibilityNever)
		AddReportEntry("row", fmt.Sprintf("expected %s, observed %s, first byte %s: %s", row.Expected, row.Observed, report.FormatLatency(row.FirstByte), row.Verdict))
		switch row.Verdict {
		case report.Fail:
			msg := row.Reason
			if row.Evidence != "" {
				msg += "\nevidence: " + row.Evidence
			}
			Fail(msg)
		case report.Skip:
			Skip(row.Reason)
		}
	}, entries)
})

// rowEntry names the report entry that carries a scenario's report.Row.
const rowEntry = "firstbyte-row"

// rowsFrom collects the rows of every spec, from any process, in the
// order the scenarios were selected.
func rowsFrom(r Report) []report.Row {
	order := map[string]int{}
	for i, s := range selected {
		order[s.ID] = i
	}
	var rows []report.Row
	for _, sr := range r.SpecReports {
		for _, e := range sr.ReportEntries {
			if e.Name != rowEntry {
				continue
			}
			// In this process the raw value is there; from another
			// process only its JSON is.
			row, ok := e.GetRawValue().(report.Row)
			if !ok {
				if err := json.Unmarshal([]byte(e.Value.AsJSON), &row); err != nil || row.ID == "" {
					fmt.Fprintf(os.Stderr, "firstbyte report: spec %q carried an unreadable row: %v\n", sr.LeafNodeText, err)
					continue
				}
			}
			rows = append(rows, row)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return order[rows[i].ID] < order[rows[j].ID] })
	return rows
}

var _ = ReportAfterSuite("firstbyte report", func(r Report) {
	if runReport == nil {
		runReport = &report.Report{Target: opts.Target, ExtraColumns: runner.Columns}
		if suiteTarget != nil {
			runReport.Istio = suiteTarget.IstioVersion()
		}
	}
	runReport.Rows = rowsFrom(r)
	runReport.Started, runReport.Duration = r.StartTime, r.RunTime
	if len(runReport.Rows) == 0 {
		fmt.Fprintln(os.Stdout, "no scenario ran: no report written (see the failure above)")
		return
	}
	if err := runReport.WriteDir(opts.ReportDir()); err != nil {
		fmt.Fprintf(os.Stderr, "writing reports: %v\n", err)
	}
	fmt.Fprintln(os.Stdout)
	_ = runReport.WriteMarkdown(os.Stdout)
	fmt.Fprintf(os.Stdout, "reports: %s\n", opts.ReportDir())
})

var _ = ReportAfterSuite("Ginkgo JUnit", func(r Report) {
	if err := os.MkdirAll(opts.ReportDir(), 0o755); err != nil {
		return
	}
	_ = reporters.GenerateJUnitReport(r, filepath.Join(opts.ReportDir(), runner.GinkgoJUnitFile))
})
