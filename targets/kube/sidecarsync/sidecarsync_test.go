package sidecarsync

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/envoy/configdump"
	"github.com/firstbyte/firstbyte/envoy/configdump/configdumptest"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
)

// topology matches the one the canned dumps were generated for (see
// ../configdump/testdata/README.md).
func topology() fixtures.Topology {
	t := fixtures.DefaultTopology()
	t.ServerIP = "198.51.100.7"
	t.ServerClusterIP = "10.96.0.20"
	t.ColliderClusterIP = "10.96.0.30"
	return t
}

func dump(t *testing.T, id string) *configdump.Dump {
	t.Helper()
	data, err := configdumptest.Sample(id)
	if err != nil {
		t.Fatal(err)
	}
	d, err := configdump.Parse(data, id, envoy.Strict)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func bundle(t *testing.T, id string) *fixtures.Bundle {
	t.Helper()
	s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
	if !ok {
		t.Fatalf("no scenario %s", id)
	}
	b, err := fixtures.Render(s, topology())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// conditions are the client conditions a sidecar showing the canned dump
// of want meets, in the scope of scenario id: the canned dumps are Istio's
// generator's output (../configdump/testdata/README.md), as
// predict.ExpectedConfigDumps renders it for a live run.
func conditions(t *testing.T, id, want string) []Condition {
	t.Helper()
	return Expect(dump(t, want), ScopeOf(bundle(t, id), nil))
}

var dumped = []string{
	"mysql-10000-http", "mysql-10000-no-collider", "mysql-10000-http-serviceentry-tcp",
	"mysql-10000-http-serviceentry-tcp-without-addresses", "mysql-10000-http-protocol-detection-timeout",
	"mysql-10000-http-collider-port-tcp", "mysql-10000-http-port-separation",
	"mysql-10000-http-sidecar-egress", "mysql-mesh-10000-db", "mysql-10000-http-registry-only",
}

// A sidecar meets the conditions of the configuration Istio generates for
// it, and the conditions cover the run's clusters, listeners and
// virtualOutbound.
func TestConditionsHoldOnTheirOwnSidecar(t *testing.T) {
	for _, id := range dumped {
		conds := conditions(t, id, id)
		if unmet := Unmet(dump(t, id), conds); len(unmet) > 0 {
			t.Errorf("%s: its own config_dump fails:\n  %s", id, strings.Join(unmet, "\n  "))
		}
		what := strings.Join(Describe(conds), "\n")
		for _, want := range []string{"the run's services", "no listener of the run's addresses", "virtualOutbound"} {
			if !strings.Contains(what, want) {
				t.Errorf("%s: no condition on %q:\n%s", id, want, what)
			}
		}
	}
}

// A sidecar that still shows the base state does not meet a remediation's
// conditions, and a remediated sidecar does not meet the base state's: the
// wait neither ends early after Remediate nor after Revert.
func TestConditionsTellStatesApart(t *testing.T) {
	for _, id := range []string{
		"mysql-10000-http-serviceentry-tcp", "mysql-10000-http-serviceentry-tcp-without-addresses",
		"mysql-10000-http-protocol-detection-timeout", "mysql-10000-http-collider-port-tcp",
		"mysql-10000-http-port-separation", "mysql-10000-http-sidecar-egress",
	} {
		if unmet := Unmet(dump(t, "mysql-10000-http"), conditions(t, id, id)); len(unmet) == 0 {
			t.Errorf("%s: the unremediated sidecar already meets the remediation's conditions", id)
		}
		if unmet := Unmet(dump(t, id), conditions(t, id, "mysql-10000-http")); len(unmet) == 0 {
			t.Errorf("%s: the remediated sidecar still meets the base state's conditions (revert would not wait)", id)
		}
	}
	// The detection timeout is a listener property: only the inspection
	// condition tells these two apart.
	unmet := Unmet(dump(t, "mysql-10000-http"), conditions(t, "mysql-10000-http-protocol-detection-timeout", "mysql-10000-http-protocol-detection-timeout"))
	if !strings.Contains(strings.Join(unmet, "\n"), "listener_filters_timeout") {
		t.Errorf("a sidecar with Istio's default detection timeout meets the remediation's: unmet %q", unmet)
	}
	// Mesh options are part of the state too.
	if unmet := Unmet(dump(t, "mysql-10000-http"), conditions(t, "mysql-10000-http-registry-only", "mysql-10000-http-registry-only")); len(unmet) == 0 {
		t.Error("an ALLOW_ANY sidecar meets REGISTRY_ONLY conditions")
	}
	// A collider that has not reached the sidecar yet keeps Deploy waiting.
	if unmet := Unmet(dump(t, "mysql-10000-no-collider"), conditions(t, "mysql-10000-http", "mysql-10000-http")); len(unmet) == 0 {
		t.Error("a sidecar without the collider meets the collider scenario's conditions")
	}
}

// A wildcard listener on a port a foreign Service declares may stay after
// the run's HTTP declaration on it is gone; without one it must go.
func TestForeignPortKeepsWildcard(t *testing.T) {
	id := "mysql-10000-http-collider-port-tcp"
	listeners := func(foreign []int) Condition {
		s := ScopeOf(bundle(t, id), nil)
		s.ForeignPorts = foreign
		for _, c := range Expect(dump(t, id), s) {
			if strings.HasPrefix(c.What, "no listener of the run's") {
				return c
			}
		}
		t.Fatal("no listener-set condition")
		return Condition{}
	}
	stale := dump(t, "mysql-10000-http") // still has 0.0.0.0_10000
	if ok, seen := listeners(nil).Check(stale); ok || !strings.Contains(seen, "0.0.0.0_10000") {
		t.Errorf("without a foreign Service the wildcard listener must go: ok %v, %s", ok, seen)
	}
	if ok, seen := listeners([]int{10000}).Check(stale); !ok && strings.Contains(seen, "0.0.0.0_10000") {
		t.Errorf("a foreign Service on 10000 keeps the wildcard listener, but the condition wants it gone: %s", seen)
	}
}

func TestWait(t *testing.T) {
	conds := conditions(t, "mysql-10000-http-serviceentry-tcp", "mysql-10000-http-serviceentry-tcp")
	base, final := dump(t, "mysql-10000-http"), dump(t, "mysql-10000-http-serviceentry-tcp")
	var calls atomic.Int32
	fetch := func(context.Context) (*configdump.Dump, error) {
		if calls.Add(1) < 3 {
			return base, nil
		}
		return final, nil
	}
	var progress []string
	start := time.Now()
	if err := Wait(context.Background(), fetch, conds, time.Millisecond, 0, func(s string) { progress = append(progress, s) }); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 || time.Since(start) > time.Second {
		t.Errorf("Wait took %d fetches and %s, want 3 fetches at once", calls.Load(), time.Since(start))
	}
	if len(progress) == 0 || !strings.Contains(progress[0], "198.51.100.7_10000 present") {
		t.Errorf("progress = %q, want the missing listener named", progress)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := Wait(ctx, func(context.Context) (*configdump.Dump, error) { return base, nil }, conds, 5*time.Millisecond, time.Hour, nil)
	if err == nil || !strings.Contains(err.Error(), "listener 198.51.100.7_10000 present") || !strings.Contains(err.Error(), "outbound|10000||mysql.external.firstbyte.test") {
		t.Errorf("Wait on a stale sidecar = %v, want an error naming the missing listener and cluster", err)
	}
}

var inboundIDs = []string{
	"mysql-inbound-tcp-pa-disable-dr-disable", "mysql-inbound-tcp-pa-permissive-dr-disable",
	"mysql-inbound-tcp-pa-strict-dr-disable", "mysql-inbound-tcp-pa-disable-dr-mtls",
	"mysql-inbound-tcp-pa-permissive", "mysql-inbound-tcp-pa-strict-authz-allow", "mysql-inbound-tcp-pa-strict-authz-deny",
}

// Inbound scenarios: each sidecar meets the conditions of its generated
// configuration, and each differs from the others where the scenarios
// differ (mTLS mode, authorization, the client's DestinationRule).
func TestInboundConditions(t *testing.T) {
	server := func(id string) []Condition {
		return ExpectServer(dump(t, id+".server"), bundle(t, id).Scenario.Port)
	}
	for _, id := range inboundIDs {
		if unmet := Unmet(dump(t, id+".client"), conditions(t, id, id+".client")); len(unmet) > 0 {
			t.Errorf("%s client:\n  %s", id, strings.Join(unmet, "\n  "))
		}
		if unmet := Unmet(dump(t, id+".server"), server(id)); len(unmet) > 0 {
			t.Errorf("%s server:\n  %s", id, strings.Join(unmet, "\n  "))
		}
	}
	differ := func(id, other string, conds []Condition) {
		t.Helper()
		if unmet := Unmet(dump(t, other), conds); len(unmet) == 0 {
			t.Errorf("%s's conditions hold on %s", id, other)
		}
	}
	differ("mysql-inbound-tcp-pa-strict-dr-disable", "mysql-inbound-tcp-pa-permissive-dr-disable.server", server("mysql-inbound-tcp-pa-strict-dr-disable"))
	differ("mysql-inbound-tcp-pa-permissive-dr-disable", "mysql-inbound-tcp-pa-disable-dr-disable.server", server("mysql-inbound-tcp-pa-permissive-dr-disable"))
	differ("mysql-inbound-tcp-pa-strict-authz-deny", "mysql-inbound-tcp-pa-strict-authz-allow.server", server("mysql-inbound-tcp-pa-strict-authz-deny"))
	differ("mysql-inbound-tcp-pa-disable-dr-mtls", "mysql-inbound-tcp-pa-disable-dr-disable.client",
		conditions(t, "mysql-inbound-tcp-pa-disable-dr-mtls", "mysql-inbound-tcp-pa-disable-dr-mtls.client"))
	// A server without a sidecar: nothing to wait for.
	if ExpectServer(nil, 10000) != nil {
		t.Error("server conditions for a server without a sidecar")
	}
}

// The scope holds the run's addresses and ports of both states, with the
// ClusterIPs the cluster assigned.
func TestScopeOf(t *testing.T) {
	b := bundle(t, "mysql-10000-http-serviceentry-tcp")
	s := ScopeOf(b, map[string]string{b.Topology.ColliderNamespace + "/collider": "10.96.7.7"})
	for _, ip := range []string{"198.51.100.7", "10.96.7.7"} {
		if !slices.Contains(s.IPs, ip) {
			t.Errorf("scope addresses %v lack %s", s.IPs, ip)
		}
	}
	if !slices.Contains(s.Hosts, "mysql.external.firstbyte.test") || !slices.Contains(s.Ports, 10000) {
		t.Errorf("scope %+v lacks the remediation's ServiceEntry host or the port", s)
	}
	if !s.ownsCluster("outbound|10000||mysql.external.firstbyte.test") || s.ownsCluster("outbound|53||kube-dns.kube-system.svc.cluster.local") || s.ownsCluster("inbound|10000||") {
		t.Error("ownsCluster does not tell the run's outbound clusters from others")
	}
}
