package e2e

import (
	"slices"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/envoy/configdump"
	"github.com/firstbyte/firstbyte/envoy/configdump/configdumptest"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/targets/kube/sidecarsync"
)

// liveBundle renders a scenario as the kind target does: the cluster, not
// the fixtures, assigns the Service ClusterIPs, and they reach Istio's
// generator through the clusterIPs map.
func liveBundle(t *testing.T, id string) (*fixtures.Bundle, map[string]string) {
	t.Helper()
	s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
	if !ok {
		t.Fatalf("no scenario %s", id)
	}
	// The canned dumps (envoy/configdump/testdata) are
	// cluster-shaped: kind's ranges, not the one world's addresses.
	topo := predict.Topology()
	topo.ServerIP, topo.ClientPodIP, topo.ColliderPodIP = "198.51.100.7", "10.244.0.10", "10.244.0.30"
	topo.ServerClusterIP, topo.ColliderClusterIP = "", ""
	b, err := fixtures.Render(s, topo)
	if err != nil {
		t.Fatal(err)
	}
	return b, map[string]string{
		topo.ServerNamespace + "/server":     "10.96.0.20",
		topo.ColliderNamespace + "/collider": "10.96.0.30",
	}
}

func parse(t *testing.T, data []byte, what string) *configdump.Dump {
	t.Helper()
	d, err := configdump.Parse(data, what, envoy.Strict)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func canned(t *testing.T, name string) *configdump.Dump {
	t.Helper()
	data, err := configdumptest.Sample(name)
	if err != nil {
		t.Fatal(err)
	}
	return parse(t, data, name)
}

// The kind target's sidecar waits expect what Istio's generator builds for
// the state (predict.ExpectedConfigDumps, as e2e wires it into the kube
// target): for the scenarios with canned sidecar dumps (Istio's generator's
// output for predict's topology), the dumps meet the conditions of both
// states where they should, and the remediation's conditions fail on the
// unremediated sidecar.
func TestExpectedConfigDumpsAgreeWithSidecars(t *testing.T) {
	for _, id := range []string{
		"mysql-10000-http-serviceentry-tcp", "mysql-10000-http-serviceentry-tcp-without-addresses",
		"mysql-10000-http-protocol-detection-timeout", "mysql-10000-http-collider-port-tcp",
		"mysql-10000-http-port-separation", "mysql-10000-http-sidecar-egress", "mysql-10000-http-registry-only",
	} {
		b, ips := liveBundle(t, id)
		scope := sidecarsync.ScopeOf(b, ips)
		states := map[fixtures.Phase]string{fixtures.Remediated: id, fixtures.Base: "mysql-10000-http"}
		if b.Scenario.Mesh.OutboundTrafficPolicy == scenarios.RegistryOnly {
			delete(states, fixtures.Base) // its base is REGISTRY_ONLY too: no canned dump
		}
		for phase, dumpName := range states {
			client, server, err := predict.ExpectedConfigDumps(b, phase, ips)
			if err != nil {
				t.Fatal(err)
			}
			if server != nil {
				t.Errorf("%s: an expected server sidecar for a server without one", id)
			}
			conds := sidecarsync.Expect(parse(t, client, id), scope)
			if unmet := sidecarsync.Unmet(canned(t, dumpName), conds); len(unmet) > 0 {
				t.Errorf("%s %s state: sidecar %s fails:\n  %s", id, phase, dumpName, strings.Join(unmet, "\n  "))
			}
			other := map[fixtures.Phase]string{fixtures.Remediated: "mysql-10000-http", fixtures.Base: id}[phase]
			if unmet := sidecarsync.Unmet(canned(t, other), conds); len(unmet) == 0 {
				t.Errorf("%s %s state: the sidecar of the other state (%s) meets it too", id, phase, other)
			}
		}
	}
	for _, id := range []string{"mysql-inbound-tcp-pa-strict-authz-deny", "mysql-inbound-tcp-pa-permissive-dr-disable"} {
		b, ips := liveBundle(t, id)
		client, server, err := predict.ExpectedConfigDumps(b, fixtures.Base, ips)
		if err != nil {
			t.Fatal(err)
		}
		if unmet := sidecarsync.Unmet(canned(t, id+".client"), sidecarsync.Expect(parse(t, client, id), sidecarsync.ScopeOf(b, ips))); len(unmet) > 0 {
			t.Errorf("%s client fails:\n  %s", id, strings.Join(unmet, "\n  "))
		}
		if unmet := sidecarsync.Unmet(canned(t, id+".server"), sidecarsync.ExpectServer(parse(t, server, id), b.Scenario.Port)); len(unmet) > 0 {
			t.Errorf("%s server fails:\n  %s", id, strings.Join(unmet, "\n  "))
		}
	}
}

// The listeners Istio names after a Service's ClusterIP carry the address
// the cluster assigned, not one the fixtures made up.
func TestExpectedConfigDumpsUseLiveClusterIPs(t *testing.T) {
	b, ips := liveBundle(t, "mysql-mesh-10000-db")
	ips[b.Topology.ServerNamespace+"/server"] = "10.96.44.44"
	client, _, err := predict.ExpectedConfigDumps(b, fixtures.Base, ips)
	if err != nil {
		t.Fatal(err)
	}
	names := parse(t, client, "expected").ListenerNames()
	if !slices.Contains(names, "10.96.44.44_10000") || slices.Contains(names, fixtures.WorldServerClusterIP.String()+"_10000") {
		t.Errorf("expected listeners %v: want 10.96.44.44_10000, the live ClusterIP", names)
	}
}
