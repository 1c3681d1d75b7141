package predict

import (
	"strings"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/validation"
)

// Durations under a second and of minutes render and run (they used to
// fail the strict meshConfig decode), and a close after the detection
// timeout is predicted with its delay, so "fails reset after D" can hold.
func TestTimeoutsAndClosesAfterThem(t *testing.T) {
	list, err := scenarios.Parse("edges.yaml", []byte(`scenarios:
  - id: e-300ms
    why: sub-second
    protocol: mysql
    placement: external
    port: 10000
    collider: http
    remediation: {kind: protocol-detection-timeout, timeout: 300ms}
    expect: connects-after 300ms
  - id: e-2m
    why: minutes
    protocol: smtp
    placement: external
    port: 10000
    collider: http
    mesh: {protocolDetectionTimeout: 2m}
    expect: connects-after 2m
  - id: e-registry-only-2s
    why: closes after the timeout
    protocol: smtp
    placement: external
    port: 10000
    collider: http
    remediation: {kind: protocol-detection-timeout, timeout: 2s}
    mesh: {outboundTrafficPolicy: REGISTRY_ONLY}
    expect: fails reset after 2s
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{"e-300ms": 300 * time.Millisecond, "e-2m": 2 * time.Minute, "e-registry-only-2s": 2 * time.Second}
	for _, r := range shared.predictAll(list) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Scenario.ID, r.Err)
			continue
		}
		if ok, why := r.Scenario.Expect.Match(r.Prediction.Outcome, r.Prediction.After); !ok || r.Prediction.After != want[r.Scenario.ID] {
			t.Errorf("%s: %s, after %s\n%s", r.Scenario.ID, why, r.Prediction.After, r.Prediction)
		}
		if r.Scenario.ID == "e-registry-only-2s" {
			for _, s := range r.Prediction.Trace {
				if strings.Contains(s.Decision, "BlackHoleCluster") && strings.Contains(s.Decision, "greeting flows back") {
					t.Errorf("the trace promises a greeting from BlackHoleCluster: %s", s.Decision)
				}
			}
		}
	}
}

// A hang's trace goes on past the inspector: what the default chain and
// its cluster would do if a detection timeout let the inspector give up —
// a late connect under ALLOW_ANY, a close under REGISTRY_ONLY.
func TestHangTraceSaysWhatATimeoutWouldDo(t *testing.T) {
	for id, want := range map[string]string{
		"mysql-10000-http":               "late connect",
		"mysql-10000-http-registry-only": "BlackHoleCluster",
	} {
		s, _ := scenarios.Lookup(scenarios.Catalogue(), id)
		p, err := shared.Predict(s)
		if err != nil {
			t.Fatal(err)
		}
		var after string
		for _, st := range p.Trace {
			if st.Stage == "if it gave up" {
				after = st.Decision
			}
		}
		if p.Outcome != scenarios.Hung || !strings.Contains(after, want) {
			t.Errorf("%s: %s, the step after the inspector says %q, want it to name %q\n%s", id, p.Outcome, after, want, p)
		}
		if id == "mysql-10000-http-registry-only" && !strings.Contains(after, "close") {
			t.Errorf("%s: the step after the inspector does not say the timeout would close it: %s", id, after)
		}
	}
}

// Every ServiceEntry form the loader accepts passes Istio's own
// ServiceEntry validation once rendered: the loader's rules are Istio's.
func TestServiceEntryFormsPassIstioValidation(t *testing.T) {
	checked := 0
	for _, res := range scenarios.Resolutions {
		for _, addr := range []string{"[]", "[server]", "[cidr]", "[server, cidr]"} {
			for _, ep := range []string{"[]", "[server]"} {
				body := "scenarios:\n  - id: f\n    why: w\n    protocol: mysql\n    placement: external\n    port: 10000\n    collider: http\n" +
					"    remediation: {kind: serviceentry-tcp, resolution: " + res + ", addresses: " + addr + ", endpoints: " + ep + "}\n    expect: hangs\n"
				list, err := scenarios.Parse("f.yaml", []byte(body))
				if err != nil {
					continue // rejected by the loader, with the reason
				}
				b, err := fixtures.Render(list[0], Topology())
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range b.Final {
					se, ok := o.Decoded.(*networkingv1.ServiceEntry)
					if !ok {
						continue
					}
					cfg := config.Config{Meta: config.Meta{Name: se.Name, Namespace: se.Namespace}, Spec: &se.Spec}
					checked++
					if _, err := validation.ValidateServiceEntry(cfg); err != nil {
						t.Errorf("resolution %s addresses %s endpoints %s: the loader accepts it, Istio rejects it: %v\n%s", res, addr, ep, err, o.YAML)
					}
				}
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d ServiceEntry forms checked: the loader rejects forms it should accept", checked)
	}
}
