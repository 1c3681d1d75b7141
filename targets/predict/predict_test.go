package predict

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/report"
	"github.com/firstbyte/firstbyte/runner"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/probe"
	"github.com/google/go-cmp/cmp"
)

// TestCatalogue is the predict table as make test runs it: every catalogue
// scenario through the runner on the predict target, each row judged
// against its expectation like any target's. A skip must name the newer
// Istio line it needs; anything else that is not a pass is an error.
func TestCatalogue(t *testing.T) {
	list := scenarios.Catalogue()
	tg := New()
	r := &runner.Runner{Target: tg, Options: runner.Options{Target: Name, Artifacts: t.TempDir(), Budget: probe.DefaultBudget}}
	rep, err := r.Table(context.Background(), list, 8)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != len(list) {
		t.Fatalf("%d rows for %d scenarios", len(rep.Rows), len(list))
	}
	for _, row := range rep.Rows {
		t.Run(row.ID, func(t *testing.T) {
			switch {
			case row.Verdict == report.Skip && strings.HasPrefix(row.Reason, "needs Istio ≥ "):
				t.Skip(row.Reason)
			case row.Verdict != report.Pass:
				t.Errorf("%s: %s (observed %s, expected %s)", row.Verdict, row.Reason, row.Observed, row.Expected)
			case row.Decision == "":
				t.Error("the row names no deciding listener or chain")
			}
		})
	}
	if g := tg.Generations(); g == 0 || g >= int64(len(list)) {
		t.Errorf("Istio's generator ran %d times for %d scenarios: want each distinct set of objects generated once", g, len(list))
	}
}

// TestMismatchWritesEvidence: a row whose prediction differs from its
// expectation fails, and its evidence folder holds the explain trace (with
// the deciding inspector), the manifests and the generated config_dump.
func TestMismatchWritesEvidence(t *testing.T) {
	s, ok := scenarios.Lookup(scenarios.Catalogue(), "mysql-10000-http")
	if !ok {
		t.Fatal("the catalogue lacks mysql-10000-http")
	}
	s.ID = "mysql-10000-http-expects-connect"
	s.Expect = scenarios.Expectation{Outcome: scenarios.Connected}
	dir := t.TempDir()
	r := &runner.Runner{Target: New(), Options: runner.Options{Target: Name, Artifacts: dir, Budget: probe.DefaultBudget}}
	rep, err := r.Table(context.Background(), []scenarios.Scenario{s}, 1)
	if err != nil {
		t.Fatal(err)
	}
	row := rep.Rows[0]
	if row.Verdict != report.Fail || row.Observed != string(scenarios.Hung) {
		t.Fatalf("row = %s observed %s (%s), want a fail observing hung", row.Verdict, row.Observed, row.Reason)
	}
	for file, want := range map[string]string{
		"explain.txt":      "http_inspector",
		"manifests.yaml":   "kind: Service",
		"config_dump.json": "0.0.0.0_10000",
	} {
		data, err := os.ReadFile(filepath.Join(row.Evidence, file))
		if err != nil {
			t.Errorf("evidence: %v", err)
			continue
		}
		if !strings.Contains(string(data), want) {
			t.Errorf("evidence %s lacks %q", file, want)
		}
	}
}

// TestControlIsNeverAsked: a predicted hang is a prediction, not a wire
// observation; the runner must not ask the predict target for a control
// probe, and the row carries no control column.
func TestControlIsNeverAsked(t *testing.T) {
	s, _ := scenarios.Lookup(scenarios.Catalogue(), "mysql-10000-http")
	r := &runner.Runner{Target: New(), Options: runner.Options{Target: Name, Artifacts: t.TempDir(), Budget: probe.DefaultBudget}}
	rep, err := r.Table(context.Background(), []scenarios.Scenario{s}, 1)
	if err != nil {
		t.Fatal(err)
	}
	row := rep.Rows[0]
	if row.Verdict != report.Pass || row.Extra[runner.ColumnControl] != "" {
		t.Errorf("row = %s (%s), control %q: want a pass with no control probe", row.Verdict, row.Reason, row.Extra[runner.ColumnControl])
	}
	if _, err := New().Control(context.Background(), &fixtures.Bundle{}, 0); err == nil {
		t.Error("Control answered: the predict target has no wire")
	}
}

// TestServerBytesBeforeDenyColumn: the runner's deny column shows what the
// RBAC rule predicts (Envoy's network RBAC decides on the client's first
// bytes, after tcp_proxy dialled the server): a denied MySQL client sees
// the greeting first; an allowed one has nothing to show.
func TestServerBytesBeforeDenyColumn(t *testing.T) {
	for _, c := range []struct{ id, want string }{
		{"mysql-inbound-tcp-pa-strict-authz-deny", "yes"},
		{"mysql-inbound-tcp-pa-strict-authz-allow", ""},
	} {
		t.Run(c.id, func(t *testing.T) {
			s, ok := scenarios.Lookup(scenarios.Catalogue(), c.id)
			if !ok {
				t.Fatalf("the catalogue lacks %s", c.id)
			}
			r := &runner.Runner{Target: New(), Options: runner.Options{Target: Name, Artifacts: t.TempDir(), Budget: probe.DefaultBudget}}
			rep, err := r.Table(context.Background(), []scenarios.Scenario{s}, 1)
			if err != nil {
				t.Fatal(err)
			}
			row := rep.Rows[0]
			if diff := cmp.Diff(c.want, row.Extra[runner.ColumnServerBytesBeforeDeny]); row.Verdict != report.Pass || diff != "" {
				t.Errorf("%s (%s); deny column (-want +got):\n%s", row.Verdict, row.Reason, diff)
			}
		})
	}
}

// TestPredictedRowsHaveNoMargin: a margin measures how close a wire timing
// came to its threshold; a predicted connects-after time is the configured
// timeout itself, so predict's rows carry none.
func TestPredictedRowsHaveNoMargin(t *testing.T) {
	s, ok := scenarios.Lookup(scenarios.Catalogue(), "mysql-10000-http-protocol-detection-timeout")
	if !ok {
		t.Fatal("the catalogue lacks mysql-10000-http-protocol-detection-timeout")
	}
	r := &runner.Runner{Target: New(), Options: runner.Options{Target: Name, Artifacts: t.TempDir(), Budget: probe.DefaultBudget}}
	rep, err := r.Table(context.Background(), []scenarios.Scenario{s}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if row := rep.Rows[0]; row.Verdict != report.Pass || row.Margin != "" || row.FirstByte == 0 {
		t.Errorf("row = %s (%s), first byte %s, margin %q: want a pass with the predicted late first byte and no margin", row.Verdict, row.Reason, row.FirstByte, row.Margin)
	}
}
