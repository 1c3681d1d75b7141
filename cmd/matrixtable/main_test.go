package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/report"
	"github.com/firstbyte/firstbyte/scenarios"
)

func TestWrite(t *testing.T) {
	a := &report.Report{Target: "kind", Istio: "1.28.4", Rows: []report.Row{
		{ID: "mysql-10000-http", Expected: "hangs", Observed: "hung", Verdict: report.Pass},
		{ID: "mysql-10000-tcp", Expected: "connects", Observed: "connected", FirstByte: 3 * time.Millisecond, Verdict: report.Pass},
	}}
	b := &report.Report{Target: "kind", Istio: "1.30.5", Rows: []report.Row{
		{ID: "mysql-10000-http", Expected: "hangs", Observed: "connected", FirstByte: 2 * time.Millisecond, Verdict: report.Fail, Reason: "expected hangs, observed connected"},
	}}
	var out strings.Builder
	failed, err := Write(&out, []Column{{Report: a}, {Report: b}})
	if err != nil {
		t.Fatal(err)
	}
	if failed != 1 {
		t.Errorf("%d failed cells, want 1", failed)
	}
	for _, want := range []string{
		"| scenario | expected | kind Istio 1.28.4 | kind Istio 1.30.5 |",
		"| mysql-10000-http | hangs | pass hung | **FAIL** connected 2ms |",
		"| mysql-10000-tcp | connects | pass connected 3ms | not run |",
		"- kind Istio 1.30.5: 0 passed, 1 failed, 0 skipped",
		"summary: 2 scenarios × 2 Istio versions: 2 cells passed, 1 failed, 0 skipped",
		"- mysql-10000-http on Istio 1.30.5: expected hangs, observed connected",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// On a line with its own expectations, a listed row passes only with the
// outcome the line must show; a row that differs from the catalogue
// without an entry still fails, and so does a listed row the line skips.
func TestLineExpectations(t *testing.T) {
	r := &report.Report{Target: "predict", Istio: "1.30-dev (release-1.30 2026-08-26, 9739e10eb9d7)", Rows: []report.Row{
		{ID: "listed-as-it-is", Expected: "fails reset after 15s", Observed: "connected", Verdict: report.Fail, Reason: "expected fails reset after 15s, observed connected"},
		{ID: "listed-otherwise", Expected: "fails reset after 15s", Observed: "hung", Verdict: report.Fail, Reason: "expected fails reset after 15s, observed hung"},
		{ID: "unlisted", Expected: "connects", Observed: "hung", Verdict: report.Fail, Reason: "expected connects, observed hung"},
		{ID: "listed-skipped", Expected: "connects", Verdict: report.Skip, Reason: "needs Istio ≥ 1.31: ..."},
		{ID: "plain", Expected: "connects", Observed: "connected", Verdict: report.Pass},
	}}
	e := &LineExpect{Line: "release-1.30", File: "expect.yaml", Rows: map[string]RowExpect{
		"listed-as-it-is":  {Expect: "connects", Why: "1.30 builds the mode as not-allow-any"},
		"listed-otherwise": {Expect: "fails reset", Why: "catch-all to BlackHoleCluster"},
		"listed-skipped":   {Expect: "connects", Why: "x"},
	}}
	if !e.Describes(r) {
		t.Fatal("the release-1.30 expectations do not describe a release-1.30 report")
	}
	var out strings.Builder
	failed, err := Write(&out, []Column{{Report: r, Expect: e}})
	if err != nil {
		t.Fatal(err)
	}
	if failed != 3 {
		t.Errorf("%d failed cells, want 3 (listed-otherwise, unlisted, listed-skipped):\n%s", failed, out.String())
	}
	for _, want := range []string{
		"| listed-as-it-is | fails reset after 15s | pass connected ≠ main |",
		"| listed-otherwise | fails reset after 15s | **FAIL** hung ≠ main |",
		"| unlisted | connects | **FAIL** hung |",
		"| plain | connects | pass connected |",
		"1 passed on the line's own expectation",
		"- listed-otherwise on Istio 1.30-dev (release-1.30 2026-08-26, 9739e10eb9d7): expect.yaml: the release-1.30 line must show fails reset (catch-all to BlackHoleCluster): expected fails reset, observed hung",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// -check turns failed cells into exit 1; expectations put before another
// line's report are refused.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	r := &report.Report{Target: "predict", Istio: "1.31-dev (master 2026-04-23, b01690e6db7d)", Rows: []report.Row{
		{ID: "a", Expected: "connects", Observed: "hung", Verdict: report.Fail},
	}}
	rep := filepath.Join(dir, "report.json")
	f, err := os.Create(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	exp := filepath.Join(dir, "expect.yaml")
	if err := os.WriteFile(exp, []byte("line: release-1.30\nrows:\n  a: {expect: hangs, why: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errs strings.Builder
	if code := run([]string{rep}, &out, &errs); code != 0 {
		t.Errorf("without -check: exit %d", code)
	}
	if code := run([]string{"-check", rep}, &out, &errs); code != 1 {
		t.Errorf("-check with a failed cell: exit %d, want 1", code)
	}
	errs.Reset()
	if code := run([]string{"-expect", exp, rep}, &out, &errs); code != 2 || !strings.Contains(errs.String(), "expectations of the release-1.30 line") {
		t.Errorf("release-1.30 expectations before a master report: exit %d, %s", code, errs.String())
	}
}

// Every line's expectations file reads, names catalogue rows only, and
// says something the catalogue does not: an entry that repeats the
// catalogue's expect would hide nothing and mean nothing.
func TestTheLinesExpectations(t *testing.T) {
	files, _ := filepath.Glob("../../hack/istio/*/expect.yaml")
	catalogue := map[string]scenarios.Scenario{}
	for _, s := range scenarios.Catalogue() {
		catalogue[s.ID] = s
	}
	for _, f := range files {
		e, err := ReadLineExpect(f)
		if err != nil {
			t.Error(err)
			continue
		}
		if want := filepath.Base(filepath.Dir(f)); e.Line != want {
			t.Errorf("%s says line %s, want its folder's name %s", f, e.Line, want)
		}
		for id, r := range e.Rows {
			s, ok := catalogue[id]
			if !ok {
				t.Errorf("%s: %s is no catalogue scenario", f, id)
				continue
			}
			if got, _ := scenarios.ParseExpectation(r.Expect); got == s.Expect {
				t.Errorf("%s: %s repeats the catalogue's expect %s", f, id, s.Expect)
			}
		}
	}
}
