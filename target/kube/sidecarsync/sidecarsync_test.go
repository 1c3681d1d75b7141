package sidecarsync

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/target/kube/configdump"
	"github.com/firstbyte/firstbyte/target/kube/configdump/configdumptest"
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
	d, err := configdump.Parse(data, id)
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

func finalConditions(t *testing.T, b *fixtures.Bundle) []Condition {
	t.Helper()
	st, err := ForBundle(b, fixtures.Remediated, nil)
	if err != nil {
		t.Fatal(err)
	}
	return Expect(st)
}

func baseConditions(t *testing.T, b *fixtures.Bundle) []Condition {
	t.Helper()
	st, err := ForBundle(b, fixtures.Base, nil)
	if err != nil {
		t.Fatal(err)
	}
	return Expect(st)
}

var dumped = []string{
	"mysql-10000-http", "mysql-10000-no-collider", "mysql-10000-http-serviceentry-tcp",
	"mysql-10000-http-serviceentry-tcp-without-addresses", "mysql-10000-http-protocol-detection-timeout",
	"mysql-10000-http-collider-port-tcp", "mysql-10000-http-port-separation",
	"mysql-10000-http-sidecar-egress", "mysql-mesh-10000-db", "mysql-10000-http-registry-only",
}

// Each scenario's own sidecar configuration meets the conditions of its
// final state: the wait ends when the sidecar has caught up.
func TestConditionsHoldOnTheirOwnSidecar(t *testing.T) {
	for _, id := range dumped {
		if unmet := Unmet(dump(t, id), finalConditions(t, bundle(t, id))); len(unmet) > 0 {
			t.Errorf("%s: its own config_dump fails:\n  %s", id, strings.Join(unmet, "\n  "))
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
		b := bundle(t, id)
		if unmet := Unmet(dump(t, "mysql-10000-http"), finalConditions(t, b)); len(unmet) == 0 {
			t.Errorf("%s: the unremediated sidecar already meets the remediation's conditions", id)
		}
		if unmet := Unmet(dump(t, id), baseConditions(t, b)); len(unmet) == 0 {
			t.Errorf("%s: the remediated sidecar still meets the base state's conditions (revert would not wait)", id)
		}
	}
	// Mesh options are part of the state too.
	if unmet := Unmet(dump(t, "mysql-10000-http"), finalConditions(t, bundle(t, "mysql-10000-http-registry-only"))); len(unmet) == 0 {
		t.Error("an ALLOW_ANY sidecar meets REGISTRY_ONLY conditions")
	}
	// A collider that has not reached the sidecar yet keeps Deploy waiting.
	if unmet := Unmet(dump(t, "mysql-10000-no-collider"), finalConditions(t, bundle(t, "mysql-10000-http"))); len(unmet) == 0 {
		t.Error("a sidecar without the collider meets the collider scenario's conditions")
	}
}

func TestDeclared(t *testing.T) {
	for _, tc := range []struct {
		p    Port
		want string
	}{
		{Port{Name: "http"}, "http"}, {Port{Name: "http-web"}, "http"}, {Port{Name: "web", AppProtocol: "http"}, "http"},
		{Port{Name: "http", AppProtocol: "tcp"}, "tcp"}, {Port{Name: "tcp"}, "tcp"}, {Port{}, "tcp"}, {Port{Name: "db"}, "tcp"},
		{Port{Name: "grpc-x"}, "http"}, {Port{Name: "https"}, "tls"}, {Port{Protocol: "TCP", Name: "tcp-mysql"}, "tcp"},
		{Port{AppProtocol: "kubernetes.io/h2c"}, "http"},
	} {
		if got := tc.p.Declared(); got != tc.want {
			t.Errorf("%+v declared %s, want %s", tc.p, got, tc.want)
		}
	}
}

func TestForeignHTTPPortKeepsWildcard(t *testing.T) {
	b := bundle(t, "mysql-10000-http-collider-port-tcp")
	st, _ := FromObjects(b.Final, b.Mesh, nil, b.Topology, b.Scenario.Port)
	st.ForeignHTTPPorts = []int{10000}
	for _, c := range Expect(st) {
		if strings.Contains(c.What, "0.0.0.0_10000 absent") {
			t.Errorf("a foreign HTTP service on 10000 keeps the wildcard listener, but the conditions want it gone: %s", c.What)
		}
	}
}

func TestWait(t *testing.T) {
	conds := finalConditions(t, bundle(t, "mysql-10000-http-serviceentry-tcp"))
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

var inbound = []string{
	"mysql-inbound-tcp-pa-disable-dr-disable", "mysql-inbound-tcp-pa-permissive-dr-disable",
	"mysql-inbound-tcp-pa-strict-dr-disable", "mysql-inbound-tcp-pa-disable-dr-mtls",
	"mysql-inbound-tcp-pa-permissive", "mysql-inbound-tcp-pa-strict-authz-allow", "mysql-inbound-tcp-pa-strict-authz-deny",
}

// Inbound scenarios: the client's sidecar meets its conditions (with the
// DestinationRule's TLS mode), the server's sidecar meets the server
// conditions (mTLS mode, authorization), and each differs from the others
// where the scenarios differ.
func TestInboundConditions(t *testing.T) {
	for _, id := range inbound {
		b := bundle(t, id)
		st, err := ForBundle(b, fixtures.Base, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Server.Present {
			t.Fatalf("%s: the server has a sidecar", id)
		}
		if unmet := Unmet(dump(t, id+".client"), Expect(st)); len(unmet) > 0 {
			t.Errorf("%s client:\n  %s", id, strings.Join(unmet, "\n  "))
		}
		if unmet := Unmet(dump(t, id+".server"), ExpectServer(st)); len(unmet) > 0 {
			t.Errorf("%s server:\n  %s", id, strings.Join(unmet, "\n  "))
		}
	}
	differ := func(id, otherDump string, server bool) {
		t.Helper()
		st, _ := ForBundle(bundle(t, id), fixtures.Base, nil)
		conds := Expect(st)
		if server {
			conds = ExpectServer(st)
		}
		if unmet := Unmet(dump(t, otherDump), conds); len(unmet) == 0 {
			t.Errorf("%s's conditions hold on %s", id, otherDump)
		}
	}
	differ("mysql-inbound-tcp-pa-strict-dr-disable", "mysql-inbound-tcp-pa-permissive-dr-disable.server", true)
	differ("mysql-inbound-tcp-pa-permissive-dr-disable", "mysql-inbound-tcp-pa-disable-dr-disable.server", true)
	differ("mysql-inbound-tcp-pa-strict-authz-deny", "mysql-inbound-tcp-pa-strict-authz-allow.server", true)
	differ("mysql-inbound-tcp-pa-disable-dr-mtls", "mysql-inbound-tcp-pa-disable-dr-disable.client", false)
	// An outbound scenario's server has no sidecar: nothing to wait for.
	st, _ := ForBundle(bundle(t, "mysql-10000-http"), fixtures.Base, nil)
	if ExpectServer(st) != nil {
		t.Error("server conditions for a server without a sidecar")
	}
}

// Every catalogue scenario yields conditions for both states.
func TestCatalogueConditions(t *testing.T) {
	for _, s := range scenarios.Catalogue() {
		b, err := fixtures.Render(s, topology())
		if err != nil {
			t.Fatal(err)
		}
		for _, ph := range []fixtures.Phase{fixtures.Base, fixtures.Remediated} {
			st, err := ForBundle(b, ph, nil)
			if err != nil {
				t.Fatalf("%s %s: %v", s.ID, ph, err)
			}
			if len(Expect(st)) < 3 {
				t.Errorf("%s %s: only %d conditions", s.ID, ph, len(Expect(st)))
			}
		}
	}
}
