package predict

import (
	"testing"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/scenarios"
	"istio.io/istio/pkg/wellknown"
)

// Scenarios that give Istio the same objects share one generation; a
// different collider does not.
func TestGeneratorInputKey(t *testing.T) {
	key := func(id string) string {
		s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
		if !ok {
			t.Fatalf("no scenario %s", id)
		}
		b, err := shared.Render(s)
		if err != nil {
			t.Fatal(err)
		}
		in, err := inputFor(b)
		if err != nil {
			t.Fatal(err)
		}
		return in.key
	}
	if key("mysql-10000-http") != key("smtp-10000-http") {
		t.Error("mysql and smtp behind the same collider should share a generation")
	}
	if key("mysql-mesh-10000-db") != key("smtp-mesh-10000-db") {
		t.Error("in-mesh mysql and smtp servers on the same Service port should share a generation")
	}
	if key("mysql-10000-http") == key("mysql-10000-tcp") {
		t.Error("an http and a tcp collider must not share a generation")
	}
}

// The listener evidence behind DESIGN.md §1, straight from Istio's
// generator: what the evaluator's verdicts rest on.
func TestGeneratedListenerEvidence(t *testing.T) {
	sidecar := func(id string) *envoy.Config { return sidecarFor(t, shared, id) }
	hang := sidecar("mysql-10000-http").Listener("0.0.0.0_10000")
	if hang == nil {
		t.Fatal("an http collider on 10000 made no 0.0.0.0_10000 listener")
	}
	in, err := envoy.Inspect(hang, 10000)
	if err != nil || len(in.Waiting) != 1 || in.Waiting[0] != wellknown.HTTPInspector || in.Timeout != 0 {
		t.Errorf("0.0.0.0_10000: inspectors %v timeout %s (%v), want http_inspector with 0s", in.Waiting, in.Timeout, err)
	}
	if sidecar("mysql-10000-tcp").Listener("0.0.0.0_10000") != nil {
		t.Error("a tcp collider made a wildcard listener for its port")
	}
	se := sidecar("mysql-10000-http-serviceentry-tcp").Listener("198.18.1.7_10000")
	if se == nil || len(se.GetListenerFilters()) != 0 {
		t.Errorf("TCP ServiceEntry with addresses: want 198.18.1.7_10000 without listener filters, got %v", se)
	}
	if sidecar("mysql-10000-http-serviceentry-tcp-without-addresses").Listener("198.18.1.7_10000") != nil {
		t.Error("a ServiceEntry without addresses made an IP listener")
	}
	late := sidecar("mysql-10000-http-protocol-detection-timeout").Listener("0.0.0.0_10000")
	if late.GetListenerFiltersTimeout().AsDuration().String() != "1s" || !late.GetContinueOnListenerFiltersTimeout() {
		t.Errorf("protocolDetectionTimeout 1s: listener timeout %v continue %v", late.GetListenerFiltersTimeout(), late.GetContinueOnListenerFiltersTimeout())
	}
}

// sidecarFor renders a catalogue scenario with p and returns the client
// sidecar configuration Istio's generator builds for it.
func sidecarFor(t *testing.T, p *Predictor, id string) *envoy.Config {
	t.Helper()
	return podSidecarFor(t, p, id, ClientPod)
}

// serverSidecarFor is sidecarFor for the server pod's sidecar.
func serverSidecarFor(t *testing.T, p *Predictor, id string) *envoy.Config {
	t.Helper()
	return podSidecarFor(t, p, id, ServerPod)
}

func podSidecarFor(t *testing.T, p *Predictor, id, pod string) *envoy.Config {
	t.Helper()
	s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
	if !ok {
		t.Fatalf("no catalogue scenario %s", id)
	}
	b, err := p.Render(s)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := p.SidecarOf(b, pod)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
