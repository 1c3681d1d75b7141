package scenarios

import (
	"strings"
	"testing"
	"time"
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

// A mis-indented key is reported at its own line, not where the
// enclosing block began.
func TestSyntaxErrorAtTheFaultyLine(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"scenarios:\n  - id: bad-indent\n    why: x\n    protocol: mysql\n   placement: external\n", "f.yaml:5: (yaml): "},
		{"scenarios:\n  - id: a\n    why: [x\n    port: 1\n", "f.yaml:4: (yaml): "},
		{"scenarios:\n  - id: a\n\twhy: x\n", "f.yaml:3: (yaml): "},
	} {
		_, err := Parse("f.yaml", []byte(c.body))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: %v, want %s…", c.body, err, c.want)
		}
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
	for _, c := range []struct{ extra, want string }{
		{"    remediation: {kind: serviceentry-tcp, resolution: NONE}\n", "f.yaml:8: remediation.endpoints: Istio rejects endpoints for resolution NONE"},
		{"    remediation: {kind: serviceentry-tcp, resolution: DNS, addresses: [cidr]}\n", "f.yaml:8: remediation.addresses: Istio allows CIDR addresses only for resolution NONE or STATIC"},
		{"    remediation: {kind: serviceentry-tcp, resolution: DNS, endpoints: []}\n", "f.yaml:8: remediation.endpoints: resolution DNS without endpoints"},
		{"    remediation: {kind: serviceentry-tcp, resolution: dns}\n", `f.yaml:8: remediation.resolution: "dns": want one of [NONE STATIC DNS]`},
		{"    remediation: {kind: serviceentry-tcp, addresses: [server, server]}\n", `f.yaml:8: remediation.addresses[1]: "server" is given twice`},
		{"    remediation: {kind: serviceentry-tcp, addresses: server}\n", "f.yaml:8: remediation.addresses: want a list"},
		{"    remediation: {kind: serviceentry-tcp-without-addresses, addresses: [server]}\n", "f.yaml:8: remediation.addresses: serviceentry-tcp-without-addresses is the control without addresses"},
		{"    remediation: {kind: exclude-ports, resolution: NONE}\n", "f.yaml:8: remediation.resolution: only the serviceentry-tcp remediations take"},
		{"    collider: {portName: http, type: LoadBalancer}\n", `f.yaml:8: collider.type: "LoadBalancer": want one of [ClusterIP Headless ExternalName]`},
	} {
		_, err := Parse("f.yaml", []byte(head+c.extra))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %s", c.extra, err, c.want)
		}
	}
}
