package e2e

import (
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/targets/kube"
)

// The kind target's explain.txt for an inbound scenario walks both live
// sidecars (here: dumps of the generated ones, with the pods at addresses
// a cluster would allocate) and names the deciding filter on each side.
func TestExplainLiveBothSides(t *testing.T) {
	p := predict.NewPredictor()
	for id, want := range map[string][]string{
		"mysql-inbound-tcp-pa-strict-authz-deny":           {"predicted from the live config_dump(s): protocol-error (expected fails protocol-error)", "client upstream", "virtualInbound", "denied by envoy.filters.network.rbac", "server bytes before deny: yes"},
		"smtp-inbound-tcp-pa-permissive-no-client-sidecar": {"predicted from the live config_dump(s): hung", "no client sidecar", "envoy.filters.listener.tls_inspector waits"},
		"mysql-10000-http":                                 {"predicted from the live config_dump(s): hung", "envoy.filters.listener.http_inspector"},
	} {
		s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
		if !ok {
			t.Fatalf("no scenario %s", id)
		}
		b, err := p.Render(s)
		if err != nil {
			t.Fatal(err)
		}
		live := kube.LiveDumps{ClientIP: b.Topology.ClientPodIP, ServerIP: b.Topology.ServerIP}
		dst, err := predict.Destination(b)
		if err != nil {
			t.Fatal(err)
		}
		live.Destination = dst.String()
		for pod, dump := range map[string]*[]byte{predict.ClientPod: &live.Client, predict.ServerPod: &live.Server} {
			if sc, _ := predict.PodOf(b, pod); !sc.Injected {
				continue
			}
			cfg, err := p.SidecarOf(b, pod)
			if err != nil {
				t.Fatal(err)
			}
			if *dump, err = cfg.ConfigDump(); err != nil {
				t.Fatal(err)
			}
		}
		text, err := explainLive(live, b)
		if err != nil {
			t.Fatalf("%s: %v\n%s", id, err, text)
		}
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: explain.txt lacks %q:\n%s", id, w, text)
			}
		}
	}
}
