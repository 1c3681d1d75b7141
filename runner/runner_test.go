package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/report"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/probe"
	"github.com/firstbyte/firstbyte/targets"
)

// scripted is a target whose answers the test sets; it records the calls
// so the suite's order can be checked.
type scripted struct {
	probe, control probe.Observation
	controlErr     error
	remediateErr   error
	colliderErr    error
	requirement    string
	calls          []string
}

func (s *scripted) Name() string                        { return "scripted" }
func (s *scripted) Setup(context.Context) error         { return nil }
func (s *scripted) Teardown(context.Context) error      { return nil }
func (s *scripted) IstioVersion() string                { return "test" }
func (s *scripted) Requirement(*fixtures.Bundle) string { return s.requirement }
func (s *scripted) log(c string)                        { s.calls = append(s.calls, c) }
func (s *scripted) Capabilities() targets.Capabilities {
	return targets.Capabilities{Wire: true, Requirement: s.Requirement}
}
func (s *scripted) Topology(context.Context, scenarios.Scenario) (fixtures.Topology, error) {
	t := fixtures.DefaultTopology()
	t.ServerIP = "198.18.0.10"
	return t, nil
}
func (s *scripted) Deploy(context.Context, *fixtures.Bundle) error { s.log("deploy"); return nil }
func (s *scripted) Remediate(context.Context, *fixtures.Bundle) error {
	s.log("remediate")
	return s.remediateErr
}
func (s *scripted) Revert(context.Context, *fixtures.Bundle) error { s.log("revert"); return nil }
func (s *scripted) Probe(_ context.Context, _ *fixtures.Bundle, budget time.Duration) (probe.Observation, error) {
	s.log("probe " + budget.String())
	return s.probe, nil
}
func (s *scripted) Control(context.Context, *fixtures.Bundle, time.Duration) (probe.Observation, error) {
	s.log("control")
	return s.control, s.controlErr
}
func (s *scripted) ColliderHTTP(context.Context, *fixtures.Bundle) error {
	s.log("collider")
	return s.colliderErr
}
func (s *scripted) Evidence(_ context.Context, _ *fixtures.Bundle, dir string) error {
	s.log("evidence")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "note.txt"), []byte("evidence"), 0o644)
}

func obs(o scenarios.Outcome, firstByte time.Duration) probe.Observation {
	return probe.Observation{Outcome: o, Timings: scenarios.Timings{Connect: time.Millisecond, FirstByte: firstByte}, Detail: "detail"}
}

func runOne(t *testing.T, tg *scripted, id string) report.Row {
	t.Helper()
	s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
	if !ok {
		t.Fatalf("no scenario %s", id)
	}
	r := &Runner{Target: tg, Options: Options{Target: "scripted", Artifacts: t.TempDir(), Budget: time.Second}}
	return r.Run(context.Background(), s)
}

// A hang counts when the control probe got the greeting fast.
func TestHangEarnedByControl(t *testing.T) {
	tg := &scripted{probe: obs(scenarios.Hung, 0), control: obs(scenarios.Connected, 2*time.Millisecond)}
	row := runOne(t, tg, "mysql-10000-http")
	if row.Verdict != report.Pass || row.Observed != "hung" {
		t.Errorf("row = %+v, want a pass observing hung", row)
	}
	if want := []string{"deploy", "probe 1s", "control", "collider"}; !slices.Equal(tg.calls, want) {
		t.Errorf("calls %v, want %v", tg.calls, want)
	}
	if row.Extra[ColumnControl] != "2ms" {
		t.Errorf("control column = %q", row.Extra[ColumnControl])
	}
	if row.Duration <= 0 {
		t.Errorf("row duration not recorded")
	}
}

// A hang without a fast control answer is a broken environment: the row
// fails with the rule's reason and evidence is saved, whatever was expected.
func TestHangWithoutControlFails(t *testing.T) {
	for _, control := range []probe.Observation{obs(scenarios.Hung, 0), obs(scenarios.Connected, 900*time.Millisecond)} {
		tg := &scripted{probe: obs(scenarios.Hung, 0), control: control}
		row := runOne(t, tg, "mysql-10000-http")
		if row.Verdict != report.Fail || !strings.Contains(row.Reason, ReasonControlSilent) {
			t.Errorf("control %s/%s: row = %+v, want a failure with %q", control.Outcome, control.Timings.FirstByte, row, ReasonControlSilent)
		}
		if _, err := os.Stat(filepath.Join(row.Evidence, "note.txt")); err != nil || !strings.HasSuffix(row.Evidence, filepath.Join("scripted", "evidence", "mysql-10000-http")) {
			t.Errorf("evidence %q not saved under <artifacts>/<target>/evidence/<id>: %v", row.Evidence, err)
		}
	}
	tg := &scripted{probe: obs(scenarios.Hung, 0), controlErr: errors.New("exec failed")}
	if row := runOne(t, tg, "mysql-10000-http"); row.Verdict != report.Fail || !strings.Contains(row.Reason, ReasonControlSilent) {
		t.Errorf("control error: row = %+v", row)
	}
}

// A prompt connect needs no control probe; the remediation is applied,
// the collider checked while remediated, then reverted.
func TestOrderWithRemediation(t *testing.T) {
	tg := &scripted{probe: obs(scenarios.Connected, 3*time.Millisecond)}
	row := runOne(t, tg, "mysql-10000-http-serviceentry-tcp")
	if row.Verdict != report.Pass {
		t.Errorf("row = %+v", row)
	}
	if want := []string{"deploy", "remediate", "probe 1s", "collider", "revert"}; !slices.Equal(tg.calls, want) {
		t.Errorf("calls %v, want %v", tg.calls, want)
	}
}

// A late connect gets the wider budget Expectation.Budget computes.
func TestLateConnectBudget(t *testing.T) {
	tg := &scripted{probe: obs(scenarios.Connected, 1010*time.Millisecond)}
	row := runOne(t, tg, "mysql-10000-http-protocol-detection-timeout")
	if row.Verdict != report.Pass || !slices.Contains(tg.calls, "probe 2s") {
		t.Errorf("row = %+v, calls %v", row, tg.calls)
	}
}

// A failed remediation stops the scenario but still saves evidence and
// reverts.
func TestRemediationFailure(t *testing.T) {
	tg := &scripted{remediateErr: errors.New("the client sidecar did not show listener x")}
	row := runOne(t, tg, "mysql-10000-http-serviceentry-tcp")
	if row.Verdict != report.Fail || !strings.HasPrefix(row.Reason, "remediate: ") {
		t.Errorf("row = %+v", row)
	}
	if want := []string{"deploy", "remediate", "evidence", "revert"}; !slices.Equal(tg.calls, want) {
		t.Errorf("calls %v, want %v", tg.calls, want)
	}
}

// A broken collider fails the row even when the probe matched.
func TestColliderFailure(t *testing.T) {
	tg := &scripted{probe: obs(scenarios.Connected, 3*time.Millisecond), colliderErr: errors.New("GET answered 503")}
	row := runOne(t, tg, "mysql-10000-http-port-separation")
	if row.Verdict != report.Fail || !strings.Contains(row.Reason, "collider check: GET answered 503") {
		t.Errorf("row = %+v", row)
	}
	if want := []string{"deploy", "remediate", "probe 1s", "collider", "evidence", "revert"}; !slices.Equal(tg.calls, want) {
		t.Errorf("calls %v, want %v", tg.calls, want)
	}
}

func TestSkipper(t *testing.T) {
	tg := &scripted{requirement: "needs a sidecar on the server"}
	row := runOne(t, tg, "mysql-10000-http")
	if row.Verdict != report.Skip || row.Reason != "needs a sidecar on the server" || len(tg.calls) != 0 {
		t.Errorf("row = %+v, calls %v", row, tg.calls)
	}
}

func TestDenyColumn(t *testing.T) {
	o := obs(scenarios.ProtocolError, 2*time.Millisecond)
	o.ServerBytes = 78
	row := runOne(t, &scripted{probe: o}, "mysql-inbound-tcp-pa-strict-authz-deny")
	if row.Extra[ColumnServerBytesBeforeDeny] != "yes" {
		t.Errorf("row = %+v", row)
	}
}
