package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/report"
	"github.com/firstbyte/firstbyte/runner"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/probe"
	predicttarget "github.com/firstbyte/firstbyte/targets/predict"
	"github.com/spf13/pflag"
)

const predictUsage = `firstbyte predict: decide scenarios with Istio's own config generator, sending no traffic

  firstbyte predict              the built-in catalogue
  firstbyte predict FILE         a scenario file (a bug report), instead of the catalogue

Prints the table (expected vs predicted, the deciding listener / chain → cluster) and
writes report.md, report.json, junit.xml and, for each row that differs, an evidence
folder (explain trace, manifests, the generated config_dump) under --artifacts/predict.
Exit codes: 0 every row as expected, 1 a row differs, 2 bad input, 3 predict failed.

Flags:
`

// runPredict is firstbyte predict: the predict target through the runner.
func runPredict(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("predict", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	labels := fs.StringP("labels", "l", "", "a Ginkgo label filter, as LABELS: protocol:mysql && !family:ambient")
	withCatalogue := fs.Bool("with-catalogue", false, "with FILE: predict the catalogue as well")
	artifacts := fs.String("artifacts", "artifacts", "reports root: reports go to <artifacts>/predict")
	verbose := fs.BoolP("verbose", "v", false, "print each scenario's phases as they run")
	fs.Usage = func() { fmt.Fprint(stderr, predictUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "firstbyte predict: want at most one scenario file, got %d: %v\n", fs.NArg(), fs.Args())
		return 2
	}
	o := runner.Options{Target: predicttarget.Name, Artifacts: *artifacts, WithCatalogue: *withCatalogue, Budget: probe.DefaultBudget}
	if fs.NArg() == 1 {
		abs, err := filepath.Abs(fs.Arg(0))
		if err != nil {
			fmt.Fprintf(stderr, "firstbyte predict: %v\n", err)
			return 2
		}
		o.Scenarios = abs
	}
	list, _, err := o.Selected()
	if err == nil {
		list, err = runner.FilterByLabels(list, *labels)
	}
	if err != nil {
		fmt.Fprintf(stderr, "firstbyte predict: %v\n", err)
		return 2
	}
	tunePredictGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	target := predicttarget.New()
	r := &runner.Runner{Target: target, Options: o}
	if *verbose {
		r.Out = stderr
	}
	// Istio's generator waits on informer syncs: 4 scenarios per core keep
	// both cores busy (measured for the catalogue in package predict).
	rep, err := r.Table(ctx, list, 4*runtime.GOMAXPROCS(0))
	if err != nil {
		fmt.Fprintf(stderr, "firstbyte predict: %v\n", err)
		return 3
	}
	return writePredictReport(stdout, stderr, rep, o, target.Generations())
}

// predictGCPercent is the collector's target for a predict run. Each of
// Istio's generator runs builds a fake API server, informers and a push
// context and drops them, so a run makes garbage fast while keeping little
// live: at Go's default (100) the collector took a fifth of the
// catalogue's CPU. At 400 the catalogue runs about 15% faster
// (docs/benchmarks.md) and its peak RSS stays small. GOGC in the
// environment overrides it.
const predictGCPercent = 400

func tunePredictGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(predictGCPercent)
	}
}

// writePredictReport writes the report files, prints the table and the
// closing lines ("mismatches: N" last) and returns the exit code.
func writePredictReport(stdout, stderr io.Writer, rep *report.Report, o runner.Options, generations int64) int {
	if err := rep.WriteDir(o.ReportDir()); err != nil {
		fmt.Fprintf(stderr, "firstbyte predict: writing the reports: %v\n", err)
		return 3
	}
	if err := rep.WriteMarkdown(stdout); err != nil {
		fmt.Fprintf(stderr, "firstbyte predict: %v\n", err)
		return 3
	}
	pass, fail, skip := rep.Counts()
	fmt.Fprintf(stdout, "predicted %d scenarios in %s (Istio's generator ran %d times); %d skipped\n", pass+fail, rep.Duration.Round(1e6), generations, skip)
	fmt.Fprintf(stdout, "reports: %s\nistio: %s\nmismatches: %d\n", o.ReportDir(), rep.Istio, fail)
	if fail > 0 {
		return 1
	}
	return 0
}

const explainUsage = `firstbyte explain: one scenario's decisions, step by step, from Istio's generator

  firstbyte explain ID             a catalogue scenario
  firstbyte explain ID -f FILE     a scenario of FILE (looked up there first)

Exit codes: 0 the prediction matches the expectation, 1 it differs, 2 bad input, 3 predict failed.

Flags:
`

// runExplain is firstbyte explain: one prediction's explain trace.
func runExplain(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("explain", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.StringP("filename", "f", "", "a scenario file holding ID")
	fs.Usage = func() { fmt.Fprint(stderr, explainUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "firstbyte explain: want one scenario id (ids: the catalogue's, or -f FILE's), got %v\n", fs.Args())
		return 2
	}
	id := fs.Arg(0)
	all := scenarios.Catalogue()
	where := "the catalogue (" + scenarios.CatalogueFamilies() + ")"
	if *file != "" {
		user, err := scenarios.LoadFile(*file)
		if err != nil {
			fmt.Fprintf(stderr, "firstbyte explain: -f %s:\n%v\n", *file, err)
			return 2
		}
		all, where = append(user, all...), where+" or "+*file
	}
	s, ok := scenarios.Lookup(all, id)
	if !ok {
		fmt.Fprintf(stderr, "firstbyte explain: no scenario %q in %s\n", id, where)
		return 2
	}
	p, err := predict.NewPredictor().Predict(s)
	fmt.Fprintf(stdout, "scenario %s (%s)\n  why: %s\n  expected: %s\n\n%s", s.ID, s.Source, s.Why, s.Expect, p)
	if err != nil {
		fmt.Fprintf(stderr, "firstbyte explain: %v\n", err)
		return 3
	}
	if ok, why := s.Expect.Match(p.Outcome, p.After); !ok {
		fmt.Fprintf(stdout, "the prediction differs from the expectation: %s\n", why)
		return 1
	}
	fmt.Fprintln(stdout, "matches the expectation")
	return 0
}
