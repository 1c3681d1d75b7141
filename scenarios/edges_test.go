package scenarios

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// "fails <outcome> after D": parsed, printed back, budgeted and timed like
// connects-after; a plain fails/connects expects a prompt outcome.
func TestFailsAfter(t *testing.T) {
	e, err := ParseExpectation("fails reset after 1s")
	if err != nil || e != (Expectation{Outcome: Reset, After: time.Second}) {
		t.Fatalf("ParseExpectation: %+v %v", e, err)
	}
	if e.String() != "fails reset after 1s" {
		t.Errorf("String() = %q", e)
	}
	if got := e.Budget(time.Second); got != 2*time.Second {
		t.Errorf("Budget = %s, want 2s (1.5·D + 500ms)", got)
	}
	for _, c := range []struct {
		e        Expectation
		o        Outcome
		released time.Duration
		ok       bool
	}{
		{e, Reset, time.Second, true},
		{e, Reset, 850 * time.Millisecond, true},
		{e, Reset, 700 * time.Millisecond, false},  // before 0.8·D
		{e, Reset, 2100 * time.Millisecond, false}, // after 1.5·D + 500ms
		{e, Hung, 0, false},
		{Expectation{Outcome: Reset}, Reset, 10 * time.Millisecond, true},
		{Expectation{Outcome: Reset}, Reset, 2 * time.Second, false}, // held, then closed: that is "fails reset after 2s"
		{Expectation{Outcome: Hung}, Hung, 0, true},
		{Expectation{Outcome: Connected, After: 300 * time.Millisecond}, Connected, 310 * time.Millisecond, true},
	} {
		if ok, why := c.e.Match(c.o, c.released); ok != c.ok {
			t.Errorf("%s vs %s at %s: match %v (%s), want %v", c.e, c.o, c.released, ok, why, c.ok)
		}
	}
	if _, why := (Expectation{Outcome: Reset}).Match(Reset, 2*time.Second); !strings.Contains(why, `"fails reset after 2s"`) {
		t.Errorf("a late close does not name the form that fits: %s", why)
	}
	for _, bad := range []string{"fails refused after 1s", "fails reset after", "fails reset after -1s", "fails reset later 1s", "fails hung after 1s"} {
		if _, err := ParseExpectation(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A syntax error is reported at its own line, not where the enclosing
// block began.
func TestSyntaxErrorAtTheFaultyLine(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"a mis-indented key", "scenarios:\n  - id: bad-indent\n    why: x\n    protocol: mysql\n   placement: external\n", []string{
			`f.yaml:5: (yaml): value is not allowed in this context: check the indentation and quoting there`,
		}},
		{"an unclosed flow sequence", "scenarios:\n  - id: a\n    why: [x\n    port: 1\n", []string{
			`f.yaml:4: (yaml): ',' or ']' must be specified: check the indentation and quoting there`,
		}},
		{"a tab", "scenarios:\n  - id: a\n\twhy: x\n", []string{
			"f.yaml:3: (yaml): found character '\t' that cannot start any token: check the indentation and quoting there",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if d := cmp.Diff(c.want, problems(t, c.body)); d != "" {
				t.Errorf("problems (-want +got):\n%s", d)
			}
		})
	}
}

// The ServiceEntry forms and collider Service types a file may write, and
// the combinations Istio's validation rejects.
func TestServiceEntryAndColliderForms(t *testing.T) {
	head := "scenarios:\n  - id: a\n    why: w\n    protocol: mysql\n    placement: external\n    port: 10000\n    expect: connects\n"
	ok := func(extra string) Scenario {
		t.Helper()
		l, err := Parse("f.yaml", []byte(head+extra))
		if err != nil {
			t.Fatalf("%s: %v", extra, err)
		}
		return l[0]
	}
	s := ok("    collider: {portName: http, type: Headless}\n    remediation: {kind: serviceentry-tcp, resolution: NONE, addresses: [cidr], endpoints: []}\n")
	if f := s.Remediation.ServiceEntry; f == nil || f.Resolution != ResolutionNone || len(f.Addresses) != 1 || f.Addresses[0] != AddressCIDR || len(f.Endpoints) != 0 {
		t.Errorf("form %+v", s.Remediation.ServiceEntry)
	}
	if s.Collider.Type != Headless || s.Collider.Port.Name != "http" {
		t.Errorf("collider %+v", s.Collider)
	}
	if d := ok("    remediation: serviceentry-tcp\n").Remediation; d.ServiceEntry.String() != DefaultServiceEntry(ServiceEntryTCP).String() || d.String() != "serviceentry-tcp" {
		t.Errorf("default form %+v prints %s", d.ServiceEntry, d)
	}
	if c := ok("    collider: {portName: http, type: ClusterIP}\n").Collider; c.Type != "" {
		t.Errorf("ClusterIP is the default form, got %q", c.Type)
	}
	for _, c := range []struct {
		extra string
		want  []string
	}{
		{"    remediation: {kind: serviceentry-tcp, resolution: NONE}\n", []string{
			`f.yaml:8: remediation.endpoints: Istio rejects endpoints for resolution NONE ("no endpoints should be provided for resolution type none"): write endpoints: [] or pick STATIC or DNS`,
		}},
		{"    remediation: {kind: serviceentry-tcp, resolution: DNS, addresses: [cidr]}\n", []string{
			`f.yaml:8: remediation.addresses: Istio allows CIDR addresses only for resolution NONE or STATIC, not DNS: give the server's IP or pick another resolution`,
		}},
		{"    remediation: {kind: serviceentry-tcp, resolution: DNS, endpoints: []}\n", []string{
			`f.yaml:8: remediation.endpoints: resolution DNS without endpoints resolves the ServiceEntry's host, a test name that resolves nowhere: give endpoints: [server]`,
		}},
		{"    remediation: {kind: serviceentry-tcp, resolution: dns}\n", []string{
			`f.yaml:8: remediation.resolution: "dns": want one of [NONE STATIC DNS]`,
		}},
		{"    remediation: {kind: serviceentry-tcp, addresses: [server, server]}\n", []string{
			`f.yaml:8: remediation.addresses[1]: "server" is given twice`,
		}},
		{"    remediation: {kind: serviceentry-tcp, addresses: server}\n", []string{
			`f.yaml:8: remediation.addresses: want a list of [server cidr], or [] for none`,
		}},
		{"    remediation: {kind: serviceentry-tcp-without-addresses, addresses: [server]}\n", []string{
			`f.yaml:8: remediation.addresses: serviceentry-tcp-without-addresses is the control without addresses: use kind serviceentry-tcp to give addresses`,
		}},
		{"    remediation: {kind: exclude-ports, resolution: NONE}\n", []string{
			`f.yaml:8: remediation.resolution: only the serviceentry-tcp remediations take a ServiceEntry resolution`,
		}},
		{"    collider: {portName: http, type: LoadBalancer}\n", []string{
			`f.yaml:8: collider.type: "LoadBalancer": want one of [ClusterIP Headless ExternalName]`,
		}},
	} {
		t.Run(strings.TrimSpace(c.extra), func(t *testing.T) {
			if d := cmp.Diff(c.want, problems(t, head+c.extra)); d != "" {
				t.Errorf("problems (-want +got):\n%s", d)
			}
		})
	}
}
