package gate

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/report"
)

func side(t *testing.T, line string) Side {
	t.Helper()
	r, err := report.ReadFile("testdata/" + line + ".json")
	if err != nil {
		t.Fatal(err)
	}
	return Side{Line: line, Report: r}
}

// The fixtures hold a row that stays the same, a registered MySQL that
// connects on 1.30 and is closed after 15s on 1.31 (a regression), a
// prompt close that becomes a close after 15s (a change, not a
// regression: it connected on neither), a row 1.31 rejects (a regression:
// it no longer connects), and one row in each report only.
func TestDiff(t *testing.T) {
	r := Diff(side(t, "release-1.30"), side(t, "release-1.31"))
	if r.Compared != 4 {
		t.Errorf("compared %d rows, want 4", r.Compared)
	}
	var got []string
	for _, c := range r.Changes {
		got = append(got, c.ID+": "+c.From.Verdict+" → "+c.To.Verdict)
	}
	want := []string{
		"mysql-3306-se-dynamic-dns: connects → fails reset after 15s",
		"mysql-10000-dynamic-dns-no-collider: fails reset → fails reset after 15s",
		"mysql-10000-collider-timeout: connects-after 1s → not predicted: needs Istio ≥ 1.32: Istio 1.31-dev (release-1.31 2026-08-27, eed52ebb66ad) rejects it: meshConfig: unknown field",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r.Regressions() != 2 || !r.Changes[0].Regression || r.Changes[1].Regression || !r.Changes[2].Regression {
		t.Errorf("regressions %d (%+v), want the registered MySQL and the rejected row", r.Regressions(), r.Changes)
	}
	if r.ExitCode() != 1 {
		t.Errorf("exit %d with regressions, want 1", r.ExitCode())
	}
	if strings.Join(r.OnlyFrom, ",") != "smtp-25-only-on-1.30" || strings.Join(r.OnlyTo, ",") != "smtp-25-only-on-1.31" {
		t.Errorf("only in one report: %v / %v", r.OnlyFrom, r.OnlyTo)
	}
	if c := r.Changes[0]; c.From.Decisive != "203.0.113.9_3306 / tcp_proxy → outbound|3306||mysql.example" || !strings.HasPrefix(c.To.Decisive, "virtualOutbound: held by") {
		t.Errorf("decisive steps %q → %q", c.From.Decisive, c.To.Decisive)
	}
}

// The way back fixes what the way up broke: no row that connects on
// 1.31 stops connecting on 1.30, so the gate passes, and the same line
// against itself changes nothing.
func TestDiffDirection(t *testing.T) {
	back := Diff(side(t, "release-1.31"), side(t, "release-1.30"))
	if back.Regressions() != 0 || back.ExitCode() != 0 || len(back.Changes) != 3 {
		t.Errorf("1.31 → 1.30: %d regressions, %d changes; want 0 and 3", back.Regressions(), len(back.Changes))
	}
	same := Diff(side(t, "release-1.30"), side(t, "release-1.30"))
	if len(same.Changes) != 0 || same.ExitCode() != 0 || same.Compared != 5 {
		t.Errorf("a line against itself: %+v", same)
	}
}

func TestMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := Diff(side(t, "release-1.30"), side(t, "release-1.31")).WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"### firstbyte gate: Istio release-1.30 → release-1.31",
		"- from: Istio 1.30-dev (release-1.30 2026-08-26, 9739e10eb9d7)",
		"| scenario | release-1.30 | release-1.31 | decisive step on release-1.30 | decisive step on release-1.31 |",
		"| **mysql-3306-se-dynamic-dns** (regression) | connects | fails reset after 15s | 203.0.113.9_3306 / tcp_proxy → outbound\\|3306\\|\\|mysql.example | virtualOutbound: held by",
		"| mysql-10000-dynamic-dns-no-collider | fails reset | fails reset after 15s | virtualOutbound / virtualOutbound-catchall-tcp → BlackHoleCluster | virtualOutbound |",
		"Not compared (in one report only): smtp-25-only-on-1.30 on release-1.30; smtp-25-only-on-1.31 on release-1.31.",
		"gate: FAIL: 2 of 4 rows connect on release-1.30 and not on release-1.31 (3 changed)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, out)
		}
	}
	// Regressions come first, whatever the report order.
	if strings.Index(out, "mysql-10000-collider-timeout** (regression)") > strings.Index(out, "| mysql-10000-dynamic-dns-no-collider |") {
		t.Errorf("a regression is listed after a plain change:\n%s", out)
	}
}

func TestJSON(t *testing.T) {
	var b bytes.Buffer
	r := Diff(side(t, "release-1.30"), side(t, "release-1.31"))
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.From != "release-1.30" || back.ToIstio != r.ToIstio || len(back.Changes) != 3 || back.Regressions() != 2 || back.Changes[0].To.Verdict != "fails reset after 15s" {
		t.Errorf("JSON round trip: %+v", back)
	}
	var empty bytes.Buffer
	if err := Diff(side(t, "release-1.30"), side(t, "release-1.30")).WriteJSON(&empty); err != nil || !strings.Contains(empty.String(), `"changes": []`) {
		t.Errorf("no changes: want an empty list, not null: %s", empty.String())
	}
}
