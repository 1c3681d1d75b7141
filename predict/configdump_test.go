package predict

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict/capture"
	"github.com/firstbyte/firstbyte/scenarios"
)

var updateTestdata = flag.Bool("update-testdata", false, "regenerate predict/testdata/config_dump.json from Istio's generator")

// sampleScenario is the hanging scenario whose sidecar the checked-in
// config dump shows.
const (
	sampleScenario = "mysql-10000-http"
	sampleDump     = "testdata/config_dump.json"
)

// The checked-in dump is the generator's output for the sample scenario in
// the admin API's shape; -update-testdata rewrites it after an Istio bump.
func TestConfigDumpSampleIsCurrent(t *testing.T) {
	dump, err := sidecarFor(t, shared, sampleScenario).ConfigDump()
	if err != nil {
		t.Fatal(err)
	}
	if *updateTestdata {
		if err := os.WriteFile(sampleDump, dump, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", sampleDump)
		return
	}
	have, err := os.ReadFile(sampleDump)
	if err != nil {
		t.Fatalf("%v: regenerate it with go test ./predict -run TestConfigDumpSampleIsCurrent -args -update-testdata", err)
	}
	if !bytes.Equal(have, dump) {
		t.Errorf("%s differs from what Istio's generator now builds for %s: review the change, then regenerate with go test ./predict -run TestConfigDumpSampleIsCurrent -args -update-testdata", sampleDump, sampleScenario)
	}
}

// The evaluator explains a config dump exactly as it explains the
// generator's objects.
func TestEvaluateConfigDumpSample(t *testing.T) {
	cfg, err := envoy.ReadConfigDumpFile(sampleDump, envoy.Strict)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.EndpointsKnown || len(cfg.Listeners) < 2 || len(cfg.Clusters) < 2 {
		t.Fatalf("sample decoded to %d listeners, %d clusters, endpoints known %v", len(cfg.Listeners), len(cfg.Clusters), cfg.EndpointsKnown)
	}
	for _, c := range []struct {
		conn            Connection
		want            scenarios.Outcome
		listener, chain string
	}{
		{protocolConnection(scenarios.MySQL, server), scenarios.Hung, "0.0.0.0_10000", ""},
		{protocolConnection(scenarios.SMTP, server), scenarios.Hung, "0.0.0.0_10000", ""},
		{protocolConnection(scenarios.Mongo, server), scenarios.Connected, "0.0.0.0_10000", "PassthroughFilterChain"},
		{protocolConnection(scenarios.MySQL, netipPort("198.51.100.7:3306")), scenarios.Connected, "virtualOutbound", "virtualOutbound-catchall-tcp"},
	} {
		p, err := Evaluate(cfg, c.conn)
		if err != nil {
			t.Fatal(err)
		}
		if p.Outcome != c.want || p.Listener != c.listener || p.FilterChain != c.chain {
			t.Errorf("%s: got %s at %s / %q, want %s at %s / %q\n%s", c.conn, p.Outcome, p.Listener, p.FilterChain, c.want, c.listener, c.chain, p)
		}
		if !strings.Contains(p.String(), "config_dump "+sampleDump) {
			t.Errorf("trace does not name the dump:\n%s", p)
		}
	}
	// With the pod's (default) capture in front, as a cluster run would.
	p, err := Walk(capture.CapturePod{IP: fixtures.WorldClientPodIP}, cfg, protocolConnection(scenarios.MySQL, server), AppUID)
	if err != nil || p.Outcome != scenarios.Hung || !strings.Contains(p.String(), "REDIRECT") {
		t.Errorf("walk through capture and the dump: %v\n%s", err, p)
	}
}

// A live sidecar's dump may hold typed configs this binary does not link,
// fields a newer Envoy added, and no endpoints: all still explainable.
func TestReadConfigDumpTolerance(t *testing.T) {
	data, err := os.ReadFile(sampleDump)
	if err != nil {
		t.Fatal(err)
	}
	foreign := strings.Replace(string(data), `"@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"`,
		`"@type": "type.googleapis.com/example.vendor.v9.MysteryLogger", "some_future_field": 1`, 1)
	foreign = strings.Replace(foreign, `"use_original_dst": true`, `"use_original_dst": true, "a_field_from_envoy_2030": {"x": 1}`, 1)
	if foreign == string(data) {
		t.Fatal("the sample has no cors filter or use_original_dst to rewrite: pick other fields")
	}
	cfg, err := envoy.ReadConfigDump([]byte(foreign), "foreign.json", envoy.Tolerant)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Notes) == 0 || !strings.Contains(cfg.Notes[0], "example.vendor.v9.MysteryLogger") {
		t.Errorf("notes do not name the opaque type: %v", cfg.Notes)
	}
	if p, err := Evaluate(cfg, mysql); err != nil || p.Outcome != scenarios.Hung {
		t.Errorf("foreign dump: %v %s", err, p)
	}
	if _, err := envoy.ReadConfigDump([]byte(foreign), "foreign.json", envoy.Strict); err == nil || !strings.Contains(err.Error(), "MysteryLogger") {
		t.Errorf("strict read of the foreign dump: error %v, want it to name example.vendor.v9.MysteryLogger", err)
	}

	for _, bad := range []struct{ name, data, want string }{
		{"not json", "{", "is not JSON"},
		{"not a dump", `{"configs": 3}`, "is not an Envoy admin config dump"},
		{"no listeners", `{"configs": []}`, "holds no listeners"},
	} {
		if _, err := envoy.ReadConfigDump([]byte(bad.data), bad.name, envoy.Tolerant); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want it to say %q", bad.name, err, bad.want)
		}
	}
}

// Every catalogue scenario predicts the same from config dumps of its
// generated sidecars, through ExplainLive as the kind target's evidence
// uses it, as from the configurations themselves: the client sidecar's
// dump alone for the outbound families, both sidecars' when the server
// runs one, the server's alone for a client without a sidecar.
func TestConfigDumpRoundTrip(t *testing.T) {
	dumpOf := func(b *fixtures.Bundle, pod string) []byte {
		if sc, _ := PodOf(b, pod); !sc.Injected {
			return nil
		}
		cfg, err := shared.SidecarOf(b, pod)
		if err != nil {
			t.Fatal(err)
		}
		dump, err := cfg.ConfigDump()
		if err != nil {
			t.Fatal(err)
		}
		return dump
	}
	for _, r := range shared.predictAll(scenarios.Catalogue()) {
		if r.Err != nil || r.Scenario.Mode() == scenarios.ModeAmbient {
			// ExplainLive reads sidecar dumps; an ambient row's live path
			// (the waypoint's config_dump, ztunnel's config) is not
			// explained from dumps yet.
			continue
		}
		b, _ := shared.Render(r.Scenario)
		dst, _ := Destination(b)
		ips := podIPs(b.Topology)
		p, err := ExplainLive(b, LivePods{ClientIP: ips[ClientPod], ServerIP: ips[ServerPod], Destination: dst}, dumpOf(b, ClientPod), dumpOf(b, ServerPod))
		if err != nil {
			t.Fatalf("%s: %v", r.Scenario.ID, err)
		}
		if p.Decision() != r.Prediction.Decision() || p.Verdict() != r.Prediction.Verdict() {
			t.Errorf("%s: from the dumps %s (%s), from the generator %s (%s)", r.Scenario.ID, p.Verdict(), p.Decision(), r.Prediction.Verdict(), r.Prediction.Decision())
		}
	}
}
