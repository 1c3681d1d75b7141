package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/report"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/probe"
)

// scripted is a Target whose observations are set by the test; it records
// the calls so the flow's order can be checked.
type scripted struct {
	probe, control probe.Observation
	colliderErr    error
	requirement    string
	calls          []string
}

func (s *scripted) Name() string                                      { return "scripted" }
func (s *scripted) Setup(context.Context) error                       { return nil }
func (s *scripted) Teardown(context.Context) error                    { return nil }
func (s *scripted) IstioVersion() string                              { return "test" }
func (s *scripted) Requirement(*fixtures.Bundle) string               { return s.requirement }
func (s *scripted) log(c string)                                      { s.calls = append(s.calls, c) }
func (s *scripted) Deploy(context.Context, *fixtures.Bundle) error    { s.log("deploy"); return nil }
func (s *scripted) Remediate(context.Context, *fixtures.Bundle) error { s.log("remediate"); return nil }
func (s *scripted) Revert(context.Context, *fixtures.Bundle) error    { s.log("revert"); return nil }
func (s *scripted) Release(context.Context, *fixtures.Bundle) error   { s.log("release"); return nil }
func (s *scripted) Topology(context.Context) (fixtures.Topology, error) {
	t := fixtures.DefaultTopology()
	t.ServerIP = "198.18.0.10"
	return t, nil
}
func (s *scripted) Probe(_ context.Context, _ *fixtures.Bundle, budget time.Duration) (probe.Observation, error) {
	s.log("probe")
	o := s.probe
	o.Budget = budget
	return o, nil
}
func (s *scripted) Control(context.Context, *fixtures.Bundle, time.Duration) (probe.Observation, error) {
	s.log("control")
	return s.control, nil
}
func (s *scripted) ColliderHTTP(context.Context, *fixtures.Bundle) error {
	s.log("collider")
	return s.colliderErr
}
func (s *scripted) Evidence(_ context.Context, _ *fixtures.Bundle, dir string) error {
	s.log("evidence")
	return os.WriteFile(filepath.Join(mkdir(dir), "note.txt"), []byte("evidence"), 0o644)
}

func mkdir(d string) string { os.MkdirAll(d, 0o755); return d }

func scenario(t *testing.T, id string) scenarios.Scenario {
	t.Helper()
	s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
	if !ok {
		t.Fatalf("no scenario %s", id)
	}
	return s
}

var (
	hung      = probe.Observation{Outcome: scenarios.Hung, Timings: scenarios.Timings{Connect: time.Millisecond}}
	connected = probe.Observation{Outcome: scenarios.Connected, Timings: scenarios.Timings{Connect: time.Millisecond, FirstByte: 2 * time.Millisecond}}
)

func TestHangEarnedWithControl(t *testing.T) {
	tg := &scripted{probe: hung, control: connected}
	r := Run(context.Background(), tg, scenario(t, "mysql-10000-http"), Options{})
	if r.Row.Verdict != report.Pass || !strings.Contains(r.Row.Decision, "control probe got the greeting") {
		t.Fatalf("row %+v", r.Row)
	}
	if got := strings.Join(tg.calls, ","); got != "deploy,remediate,probe,control,collider,revert,release" {
		t.Errorf("calls %s", got)
	}
}

// A hang whose control probe also fails is the environment, not the
// sidecar: the row fails, with evidence.
func TestHangWithoutControlFails(t *testing.T) {
	tg := &scripted{probe: hung, control: hung}
	dir := t.TempDir()
	r := Run(context.Background(), tg, scenario(t, "mysql-10000-http"), Options{Evidence: dir})
	if r.Row.Verdict != report.Fail || !strings.Contains(r.Row.Reason, "environment is broken") {
		t.Fatalf("row %+v", r.Row)
	}
	if _, err := os.Stat(filepath.Join(dir, "mysql-10000-http", "note.txt")); err != nil || r.Row.Evidence == "" {
		t.Errorf("no evidence saved: %v %q", err, r.Row.Evidence)
	}
}

func TestMismatchFails(t *testing.T) {
	tg := &scripted{probe: hung, control: connected}
	r := Run(context.Background(), tg, scenario(t, "mysql-10000-http-serviceentry-tcp"), Options{})
	if r.Row.Verdict != report.Fail || !strings.Contains(r.Row.Reason, "expected connects, observed hung") {
		t.Fatalf("row %+v", r.Row)
	}
}

func TestColliderBreakageFails(t *testing.T) {
	tg := &scripted{probe: connected, control: connected, colliderErr: errors.New("503")}
	r := Run(context.Background(), tg, scenario(t, "mysql-10000-http-serviceentry-tcp"), Options{})
	if r.Row.Verdict != report.Fail || !strings.Contains(r.Row.Reason, "collider's own HTTP traffic broke") {
		t.Fatalf("row %+v", r.Row)
	}
}

func TestSkipNamesRequirement(t *testing.T) {
	tg := &scripted{requirement: "needs mTLS"}
	r := Run(context.Background(), tg, scenario(t, "mysql-10000-http"), Options{})
	if r.Row.Verdict != report.Skip || r.Row.Reason != "needs mTLS" || len(tg.calls) != 0 {
		t.Fatalf("row %+v calls %v", r.Row, tg.calls)
	}
}

func TestDenyColumn(t *testing.T) {
	greetingThenClose := probe.Observation{Outcome: scenarios.ProtocolError, ServerBytes: 78, Timings: scenarios.Timings{Connect: time.Millisecond, FirstByte: 2 * time.Millisecond}}
	tg := &scripted{probe: greetingThenClose, control: connected}
	r := Run(context.Background(), tg, scenario(t, "mysql-inbound-tcp-pa-strict-authz-deny"), Options{})
	if r.Row.Extra[ServerBytesBeforeDeny] != "yes" || r.Row.Verdict != report.Pass {
		t.Fatalf("row %+v", r.Row)
	}
}

// A late connect gets a budget wide enough to see it land.
func TestLateConnectBudget(t *testing.T) {
	tg := &scripted{probe: connected, control: connected}
	r := Run(context.Background(), tg, scenario(t, "mysql-10000-http-protocol-detection-timeout"), Options{Budget: time.Second})
	if r.Observation.Budget <= 1500*time.Millisecond {
		t.Fatalf("budget %s", r.Observation.Budget)
	}
}
