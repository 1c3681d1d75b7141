package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/scenarios"
)

func sample(t *testing.T) *Report {
	t.Helper()
	all := scenarios.Catalogue()
	hang, _ := scenarios.Lookup(all, "mysql-10000-http")
	late, _ := scenarios.Lookup(all, "mysql-10000-http-protocol-detection-timeout")
	r := &Report{Target: "local", Istio: "1.31", Duration: 3 * time.Second, ExtraColumns: []string{"server bytes before deny"}}
	a := NewRow(hang)
	a.Judge(hang.Expect, scenarios.Hung, 0)
	b := NewRow(late)
	b.Judge(late.Expect, scenarios.Connected, 20*time.Millisecond) // too early: must fail
	c := NewRow(hang)
	c.ID, c.Verdict, c.Reason = "needs-mtls", Skip, "requires Istio mTLS (kind or cluster target)"
	r.Rows = []Row{a, b, c}
	return r
}

func TestJudge(t *testing.T) {
	r := sample(t)
	if r.Rows[0].Verdict != Pass || r.Rows[1].Verdict != Fail || !strings.Contains(r.Rows[1].Reason, "after about 1s") {
		t.Fatalf("verdicts: %+v", r.Rows)
	}
	if got := r.Summary(); got != "1 passed, 1 failed, 1 skipped" {
		t.Errorf("summary %q", got)
	}
}

func TestMarkdown(t *testing.T) {
	var buf bytes.Buffer
	if err := sample(t).WriteMarkdown(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"| scenario | expected | observed | first byte | verdict | server bytes before deny | decision / reason |",
		"| mysql-10000-http | hangs | hung | - | pass | - |",
		"| **FAIL** |",
		"1 passed, 1 failed, 1 skipped",
		// local's header says its Envoy decisions are predict's.
		"Verdicts rest on: the real kernel running Istio's own iptables rules",
		"taken from predict's Envoy model, so local cannot disagree with predict about Envoy",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteDir(t *testing.T) {
	dir := t.TempDir()
	if err := sample(t).WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	var back Report
	data, _ := os.ReadFile(filepath.Join(dir, Files.JSON))
	if err := json.Unmarshal(data, &back); err != nil || len(back.Rows) != 3 || back.Rows[1].Verdict != Fail {
		t.Fatalf("json round trip: %v %+v", err, back)
	}
	if back.Basis != Basis["local"] {
		t.Errorf("report.json basis = %q, want local's", back.Basis)
	}
	var suites junitSuites
	data, _ = os.ReadFile(filepath.Join(dir, Files.JUnit))
	if err := xml.Unmarshal(data, &suites); err != nil {
		t.Fatal(err)
	}
	s := suites.Suites[0]
	if s.Tests != 3 || s.Failures != 1 || s.Skipped != 1 || s.Cases[1].Failure == nil || s.Cases[2].Skipped == nil {
		t.Errorf("junit: %+v", s)
	}
}

// Every target the suite runs says what its verdicts rest on.
func TestBasisForEveryTarget(t *testing.T) {
	for _, target := range []string{"kind", "cluster", "local", "predict"} {
		if Basis[target] == "" {
			t.Errorf("no basis for target %s", target)
		}
	}
	if !strings.Contains(Basis["kind"], "real Envoy") || strings.Contains(Basis["predict"], "real Envoy") {
		t.Errorf("kind must rest on real Envoy and predict must not: %q / %q", Basis["kind"], Basis["predict"])
	}
}
