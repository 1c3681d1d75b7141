package predict

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/predict/generator"
	"github.com/firstbyte/firstbyte/scenarios"
)

var (
	scenarioFile  = flag.String("scenarios", "", "a scenario file to predict instead of the catalogue (relative paths are from the repository root)")
	withCatalogue = flag.Bool("with-catalogue", false, "with -scenarios: predict the catalogue as well")
	artifactsDir  = flag.String("artifacts", "artifacts/predict", "where TestCatalogue writes report.md, report.json, junit.xml, predictions.json and evidence (relative paths are from the repository root)")
	explainID     = flag.String("explain", "", "TestExplain: the scenario id to explain")
)

// repoPath resolves a flag path: go test runs in the package folder, but
// people type paths from the repository root.
func repoPath(t testing.TB, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, p)
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, p)
		}
	}
}

// selected is what the run predicts: the catalogue, a scenario file, or
// both.
func selected(t testing.TB) []scenarios.Scenario {
	if *scenarioFile == "" {
		return scenarios.Catalogue()
	}
	user, err := scenarios.LoadFile(repoPath(t, *scenarioFile))
	if err != nil {
		t.Fatalf("-scenarios=%s:\n%v", *scenarioFile, err)
	}
	if !*withCatalogue {
		return user
	}
	all := append(scenarios.Catalogue(), user...)
	if err := scenarios.CheckUnique(all); err != nil {
		t.Fatal(err)
	}
	return all
}

// shared is the predictor TestCatalogue and TestExplain share, so an
// explain after the table reuses its generations.
var shared = NewPredictor()

// TestCatalogue is the predict target: every selected scenario predicted
// from Istio's own code and checked against its expectation.
func TestCatalogue(t *testing.T) {
	build, err := generator.Istio()
	if err != nil {
		t.Fatal(err)
	}
	list := selected(t)
	start := time.Now()
	results := shared.PredictAll(list)
	took := time.Since(start)

	table := Table(results, build, took)
	_, _, skippedRows := table.Counts()
	facts := RunFacts{Scenarios: len(list) - skippedRows, Generations: int(shared.Generations.Load()), Artifacts: repoPath(t, *artifactsDir)}
	if err := WriteArtifacts(facts.Artifacts, table, results, shared); err != nil {
		t.Errorf("writing artifacts: %v", err)
		facts.Artifacts = ""
	}
	var out strings.Builder
	if err := WriteTable(&out, table, facts); err != nil {
		t.Fatal(err)
	}
	fmt.Print("\n" + out.String())

	// One error per mismatch, after the table, with its explain trace. No
	// subtests: the table is the per-scenario listing, and 118 "--- PASS"
	// lines would bury it under -v. A skip is not a pass: predict walks
	// every family, so any skip is an error. A scenario that needs a
	// newer Istio than this line is neither (features.go).
	for _, res := range results {
		switch {
		case res.Needs != "":
		case res.Skipped != "":
			t.Errorf("%s skipped: %s", res.Scenario.ID, res.Skipped)
		case res.Err != nil:
			t.Errorf("%s (%s): %v", res.Scenario.ID, res.Scenario.Source, res.Err)
		default:
			if ok, why := res.Scenario.Expect.Match(res.Prediction.Outcome, res.Prediction.After); !ok {
				t.Errorf("%s (%s): %s\n%s", res.Scenario.ID, res.Scenario.Source, why, res.Prediction)
			}
		}
	}
}

// TestExplain prints the explain trace of one scenario (-explain=<id>).
func TestExplain(t *testing.T) {
	if *explainID == "" {
		t.Skip("set -explain=<scenario-id> to explain a scenario (ids: scenarios/catalogue*.yaml)")
	}
	all := scenarios.Catalogue()
	if *scenarioFile != "" {
		user, err := scenarios.LoadFile(repoPath(t, *scenarioFile))
		if err != nil {
			t.Fatalf("-scenarios=%s:\n%v", *scenarioFile, err)
		}
		all = append(user, all...)
	}
	s, ok := scenarios.Lookup(all, *explainID)
	if !ok {
		where := "the catalogue (" + scenarios.CatalogueFamilies() + ")"
		if *scenarioFile != "" {
			where += " or " + *scenarioFile
		}
		t.Fatalf("-explain=%s: no such scenario in %s", *explainID, where)
	}
	p, err := shared.Predict(s)
	fmt.Printf("\nscenario %s (%s)\n  why: %s\n  expected: %s\n\n%s", s.ID, s.Source, s.Why, s.Expect, p)
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := s.Expect.Match(p.Outcome, p.After); !ok {
		t.Errorf("prediction differs from the expectation: %s", why)
	} else {
		fmt.Println("matches the expectation")
	}
}

// BenchmarkCatalogue predicts the whole catalogue per iteration with a
// fresh predictor, so every generation is paid for.
func BenchmarkCatalogue(b *testing.B) {
	list := scenarios.Catalogue()
	if _, err := generator.Istio(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		p := NewPredictor()
		var errs []error
		for _, r := range p.PredictAll(list) {
			errs = append(errs, r.Err)
		}
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(list)), "scenarios/op")
}
