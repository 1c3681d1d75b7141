package local

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/targets"
	"github.com/firstbyte/firstbyte/targets/local/dataplane"
	"github.com/firstbyte/firstbyte/targets/local/netlab"
	"github.com/google/go-cmp/cmp"
)

var _ targets.Target = (*Local)(nil)

// setUp returns a local target set up as the suite does (skipping
// without root), torn down when the test ends.
func setUp(t *testing.T) (*Local, context.Context) {
	t.Helper()
	if err := netlab.CheckPrivileges(); err != nil {
		t.Skip(err)
	}
	l := New()
	ctx := context.Background()
	if err := l.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Teardown(ctx) })
	return l, ctx
}

// One scenario of each kind of outcome and mechanism, driven through the
// Target contract as the suite drives it; the whole catalogue runs in the
// e2e suite.
func TestLocalTargetOutcomes(t *testing.T) {
	l, ctx := setUp(t)
	// Each scenario with the listeners the emulated sidecars must have
	// used for the probe's connection, as "side listener" (none: not
	// captured, no connection reaches an emulated sidecar).
	const client, server = clientSide + " ", serverSide + " "
	cases := map[string][]string{
		"mysql-10000-http":                            {client + "0.0.0.0_10000"}, // the hang
		"mysql-3306-http":                             {client + "0.0.0.0_3306"},
		"mysql-10000-no-collider":                     {client + "virtualOutbound"},   // passthrough
		"smtp-10000-http-serviceentry-tcp":            {client + "198.18.1.7_10000"},  // IP listener, tcp_proxy
		"mysql-10000-http-protocol-detection-timeout": {client + "0.0.0.0_10000"},     // late connect
		"mysql-10000-no-collider-registry-only":       {client + "virtualOutbound"},   // BlackHoleCluster
		"mongo-10000-http":                            {client + "0.0.0.0_10000"},     // client-first control
		"mysql-mesh-10000-db":                         {client + "198.18.2.20_10000"}, // the server's own port sniffs
		"smtp-25-http-exclude-ports":                  nil,                            // not captured
		"mysql-10000-http-port-separation":            {client + "virtualOutbound"},   // collider moved
		// Inbound: both sidecars in plaintext, or the server's alone.
		"mysql-inbound-tcp-pa-disable-dr-disable":           {client + "198.18.2.20_10000", server + "virtualInbound"}, // relayed by both
		"smtp-inbound-tcp-pa-strict-dr-disable":             {client + "198.18.2.20_10000", server + "virtualInbound"}, // held by the server's tls_inspector
		"mysql-inbound-tcp-pa-permissive-no-client-sidecar": {server + "virtualInbound"},                               // no client sidecar, held
		"smtp-inbound-tcp-pa-disable-no-client-sidecar":     {server + "virtualInbound"},                               // no client sidecar, relayed
	}
	const budget = time.Second
	var wg sync.WaitGroup
	for id, want := range cases {
		s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
		if !ok {
			t.Fatalf("no scenario %s", id)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			top, _ := l.Topology(ctx, scenarios.Scenario{})
			b, err := fixtures.Render(s, top)
			if err != nil {
				t.Error(err)
				return
			}
			defer l.Release(ctx, b)
			if err := l.Deploy(ctx, b); err != nil {
				t.Errorf("%s: deploy: %v", id, err)
				return
			}
			if err := l.Remediate(ctx, b); err != nil {
				t.Errorf("%s: remediate: %v", id, err)
				return
			}
			obs, err := l.Probe(ctx, b, s.Expect.Budget(budget))
			if err != nil {
				t.Errorf("%s: probe: %v", id, err)
				return
			}
			if ok, why := s.Expect.Match(obs.Outcome, obs.Timings.FirstByte); !ok {
				t.Errorf("%s: %s (%s)", id, why, obs.Detail)
			}
			r, _ := l.run(b)
			recs := waitRecords(r, len(want))
			var got []string
			for _, rec := range recs {
				got = append(got, rec.side+" "+rec.Listener)
			}
			slices.Sort(got)
			got = slices.Compact(got) // the Mongo driver opens two connections
			t.Logf("%s: %s first byte %s; emulator: %v", id, obs.Outcome, obs.Timings.FirstByte, recs)
			if !slices.Equal(got, want) {
				t.Errorf("%s: want the probe's connection on %q, the emulated sidecars saw %v", id, want, recs)
			}
			ctl, err := l.Control(ctx, b, budget)
			if err != nil || ctl.Outcome != scenarios.Connected {
				t.Errorf("%s: control probe %s %v (%s)", id, ctl.Outcome, err, ctl.Detail)
			}
			if err := l.ColliderHTTP(ctx, b); err != nil {
				t.Errorf("%s: %v", id, err)
			}
			if err := l.Evidence(ctx, b, t.TempDir()); err != nil {
				t.Errorf("%s: evidence: %v", id, err)
			}
			if err := l.Revert(ctx, b); err != nil {
				t.Errorf("%s: revert: %v", id, err)
			}
		}()
	}
	wg.Wait()
}

// waitRecords returns the emulated sidecars' connection records. A held
// connection is recorded once the client gives up, a moment after the
// probe's verdict, so it waits for as many as are expected (and briefly,
// to catch a stray one, when none is).
func waitRecords(r *scenarioRun, expected int) []sideRecord {
	wait := 100 * time.Millisecond
	if expected > 0 {
		wait = 2 * time.Second
	}
	for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
		r.mu.Lock()
		recs := append([]sideRecord(nil), r.records...)
		r.mu.Unlock()
		if (expected > 0 && len(recs) >= expected) || time.Now().After(deadline) {
			return recs
		}
	}
}

// The local target runs the inbound scenarios whose connection stays
// plaintext and skips the rest with the need named: Istio mTLS (decided
// by the client sidecar's generated cluster) or an AuthorizationPolicy.
func TestRequirement(t *testing.T) {
	l := New()
	top, _ := l.Topology(context.Background(), scenarios.Scenario{})
	for id, want := range map[string]string{
		"mysql-10000-http":                                              "",
		"mysql-inbound-tcp-pa-permissive-dr-disable":                    "",
		"mysql-inbound-unnamed-pa-permissive":                           "", // held by the client sidecar: never leaves it
		"smtp-inbound-tcp-pa-disable-no-client-sidecar":                 "",
		"mysql-inbound-tcp-pa-permissive":                               "needs Istio mTLS",
		"smtp-inbound-tcp-pa-disable-dr-mtls":                           "needs Istio mTLS",
		"mysql-inbound-tcp-pa-strict-authz-deny":                        "needs the server sidecar's RBAC filter",
		"ambient-mysql-10000-waypoint-all-tcp":                          "needs ztunnel/HBONE",
		"ambient-mysql-10000-waypoint-all-tcp-client-outside":           "needs ztunnel/HBONE",
		"ambient-mysql-10000-waypoint-service-tcp-http-collider":        "needs ztunnel/HBONE (ambient mode: ztunnel and the waypoint tunnel every mesh hop in mTLS with istiod's workload certificates) and a waypoint (the collider http is bound",
		"ambient-mysql-10000-egress-waypoint-service-tcp-http-collider": "needs ztunnel/HBONE (ambient mode: ztunnel and the waypoint tunnel every mesh hop in mTLS with istiod's workload certificates) and a waypoint (the collider http/appProtocol:HTTP is bound",
	} {
		s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
		if !ok {
			t.Fatalf("no scenario %s", id)
		}
		b, err := fixtures.Render(s, top)
		if err != nil {
			t.Fatal(err)
		}
		got := l.Requirement(b)
		if want == "" && got != "" || !strings.HasPrefix(got, want) {
			t.Errorf("%s: requirement %q, want one starting %q", id, got, want)
		}
	}
}

// Where Envoy would originate Istio mTLS, the emulated client sidecar
// refuses instead of relaying plaintext the server (or its emulated
// sidecar) would never see; only to the collider, whose sidecar the world
// stands in for, does it hand over plaintext.
func TestDeciderRefusesTLSOrigination(t *testing.T) {
	l := New()
	_, cfg := renderedSidecar(t, l, "mysql-inbound-tcp-pa-permissive")
	dst := netip.AddrPortFrom(fixtures.WorldServerClusterIP, 10000)
	_, err := outboundPlanner{cfg: cfg, plaintextPeers: []netip.Addr{fixtures.WorldColliderPodIP}}.route(dst, envoy.OpaqueBytes)
	if !errors.Is(err, dataplane.ErrNotEmulated) || !strings.Contains(err.Error(), "originates mtls") {
		t.Errorf("Route to the server pod under auto mTLS: %v, want a refusal naming mtls", err)
	}
	act, err := outboundPlanner{cfg: cfg, plaintextPeers: []netip.Addr{fixtures.WorldServerIP}}.route(dst, envoy.OpaqueBytes)
	if err != nil || act.Kind != dataplane.TCPProxy || act.Upstream != netip.AddrPortFrom(fixtures.WorldServerIP, 10000) {
		t.Errorf("Route to a plaintext peer: %+v %v, want tcp_proxy to %s:10000", act, err, fixtures.WorldServerIP)
	}
}

// A scenario the emulator cannot carry out (here Istio mTLS, deployed
// despite its requirement) yields a probe error, never an observation that
// could match an expected failure.
func TestProbeRefusedIsAnError(t *testing.T) {
	l, ctx := setUp(t)
	top, _ := l.Topology(ctx, scenarios.Scenario{})
	s, _ := scenarios.Lookup(scenarios.Catalogue(), "mysql-inbound-tcp-dr-mtls-no-server-sidecar")
	b, err := fixtures.Render(s, top)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Deploy(ctx, b); err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx, b)
	obs, err := l.Probe(ctx, b, time.Second)
	if err == nil || !strings.Contains(err.Error(), "could not carry out Envoy's decision") || !strings.Contains(err.Error(), "originates mtls") {
		t.Errorf("Probe = %s, %v; want an error naming the refusal", obs.Outcome, err)
	}
}

// The wire path runs no simulation: every decision is made when the
// configuration changes, so probes, control probes and the collider
// check through both emulated sidecars leave Istio's simulation counter
// where it was. (Not parallel: the counter is process-wide.)
func TestWirePathRunsNoSimulation(t *testing.T) {
	l, ctx := setUp(t)
	top, _ := l.Topology(ctx, scenarios.Scenario{})
	for _, id := range []string{
		"mysql-10000-http", // held by http_inspector: the no-bytes decision
		"mongo-10000-http", // opaque client bytes
		"mysql-10000-http-protocol-detection-timeout", // timeout, then the chain
		"smtp-10000-http-serviceentry-tcp",            // IP listener
		"mysql-inbound-tcp-pa-disable-dr-disable",     // both sidecars relay
	} {
		s, _ := scenarios.Lookup(scenarios.Catalogue(), id)
		b, err := fixtures.Render(s, top)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Deploy(ctx, b); err != nil {
			t.Fatalf("%s: deploy: %v", id, err)
		}
		if err := l.Remediate(ctx, b); err != nil {
			t.Fatalf("%s: remediate: %v", id, err)
		}
		before := envoy.SimulationRuns()
		obs, err := l.Probe(ctx, b, s.Expect.Budget(500*time.Millisecond))
		if err != nil {
			t.Errorf("%s: probe: %v", id, err)
		}
		if _, err := l.Control(ctx, b, time.Second); err != nil {
			t.Errorf("%s: control: %v", id, err)
		}
		if err := l.ColliderHTTP(ctx, b); err != nil {
			t.Errorf("%s: collider: %v", id, err)
		}
		r, _ := l.run(b)
		recs := waitRecords(r, 1)
		if n := envoy.SimulationRuns() - before; n != 0 {
			t.Errorf("%s: the wire path ran Istio's simulation %d times (probe %s, emulator %v)", id, n, obs.Outcome, recs)
		}
		if len(recs) == 0 {
			t.Errorf("%s: no connection reached an emulated sidecar: the check above proved nothing", id)
		}
		if err := l.Release(ctx, b); err != nil {
			t.Error(err)
		}
	}
}

// A connection or HTTP request the scenario did not plan for is refused
// with its destination named, never decided on the wire.
func TestUnplannedDestinationIsRefused(t *testing.T) {
	l := New()
	b, cfg := renderedSidecar(t, l, "mysql-10000-http")
	dsts, reqs, err := plannedDestinations(b)
	if err != nil {
		t.Fatal(err)
	}
	table := decide(clientSide, outboundPlanner{cfg: cfg}, dsts, reqs)
	before := envoy.SimulationRuns()
	if _, err := table.Inspect(dsts[0]); err != nil {
		t.Errorf("planned destination %s: %v", dsts[0], err)
	}
	other := netip.MustParseAddrPort("198.18.0.99:10000")
	if _, err := table.Inspect(other); !errors.Is(err, dataplane.ErrNotEmulated) || !strings.Contains(err.Error(), other.String()) {
		t.Errorf("Inspect(%s) = %v, want a refusal naming it", other, err)
	}
	if _, err := table.Route(other, dataplane.Detection{}, false); !errors.Is(err, dataplane.ErrNotEmulated) || !strings.Contains(err.Error(), other.String()) {
		t.Errorf("Route(%s) = %v, want a refusal naming it", other, err)
	}
	act, err := table.Route(reqs[0].Destination, dataplane.Detection{AppProtocol: "http/1.1"}, false)
	if err != nil || act.Kind != dataplane.HTTP {
		t.Fatalf("the collider check's connection: %+v %v, want the HTTP connection manager", act, err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+reqs[0].Destination.String()+"/elsewhere", nil)
	req.Host = reqs[0].Host
	if _, _, err := act.Route(req); !errors.Is(err, dataplane.ErrNotEmulated) || !strings.Contains(err.Error(), "/elsewhere") {
		t.Errorf("an unplanned request: %v, want a refusal naming its path", err)
	}
	if n := envoy.SimulationRuns() - before; n != 0 {
		t.Errorf("lookups ran Istio's simulation %d times", n)
	}
}

// Under ALLOW_ANY_DYNAMIC_DNS an HTTP request to a host the sidecar does
// not know (the collider hidden by a Sidecar's egress) goes to Istio's
// dynamic forward proxy cluster, which dials the Host resolved by DNS: the
// emulator looks it up in the world's names (the collider Service's
// ClusterIP) and refuses a name it does not have.
func TestDynamicForwardProxyDialsTheResolvedHost(t *testing.T) {
	l := New()
	b, cfg := renderedSidecar(t, l, "mysql-10000-http-dynamic-dns-sidecar-egress")
	vip, err := colliderVIP(b)
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ := net.SplitHostPort(b.ColliderAddr)
	p := outboundPlanner{cfg: cfg, names: map[string]netip.Addr{host: vip.Addr()}}
	cluster, up, err := p.routeHTTP(vip, b.ColliderAddr, "/")
	if err != nil || cluster != "AllowAnyDynamicDNSCluster" || up != vip {
		t.Errorf("routeHTTP(%s, Host %s) = %s → %s, %v; want AllowAnyDynamicDNSCluster → %s", vip, b.ColliderAddr, cluster, up, err, vip)
	}
	if _, _, err := p.routeHTTP(vip, "elsewhere.example:10000", "/"); !errors.Is(err, dataplane.ErrNotEmulated) || !strings.Contains(err.Error(), "elsewhere.example") {
		t.Errorf("an unknown Host: %v, want a refusal naming it", err)
	}
}

// renderedSidecar renders a catalogue scenario on the local topology and
// returns it with the client sidecar's generated configuration.
func renderedSidecar(tb testing.TB, l *Local, id string) (*fixtures.Bundle, *envoy.Config) {
	tb.Helper()
	top, err := l.Topology(context.Background(), scenarios.Scenario{})
	if err != nil {
		tb.Fatal(err)
	}
	s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
	if !ok {
		tb.Fatalf("no catalogue scenario %s", id)
	}
	b, err := fixtures.Render(s, top)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := l.predictor.Sidecar(b)
	if err != nil {
		tb.Fatal(err)
	}
	return b, cfg
}

// The local target renders the one world: predict's topology, every
// address inside the range netlab puts on interfaces.
func TestOneWorld(t *testing.T) {
	got, want := topology(), predict.Topology()
	got.RunID, want.RunID = "", ""
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("local and predict render different topologies (-predict +local):\n%s", diff)
	}
	for _, r := range fixtures.WorldRoles() {
		if !netlab.WorldPrefix.Contains(r.Addr) {
			t.Errorf("%s %s is outside netlab's world %s", r.Name, r.Addr, netlab.WorldPrefix)
		}
	}
}

// The blind case (SMTP on 2525, an http collider, a STATIC ServiceEntry
// for the server's /24): the probe's outcome and the collider check are
// what predict says, on real sockets in the one world.
func TestBlindCaseAgreesWithPredict(t *testing.T) {
	l, ctx := setUp(t)
	list, err := scenarios.Parse("blind.yaml", []byte(`scenarios:
  - id: smtp-2525-http-serviceentry-cidr
    why: the blind case
    protocol: smtp
    placement: external
    port: 2525
    collider: http
    remediation: {kind: serviceentry-tcp, resolution: STATIC, addresses: [cidr], endpoints: [server]}
    expect: hangs
`))
	if err != nil {
		t.Fatal(err)
	}
	top, _ := l.Topology(ctx, scenarios.Scenario{})
	b, err := fixtures.Render(list[0], top)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := predict.Shared().PredictBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	want, err := predict.ExpectColliderCheck(b)
	if err != nil || !want.Predicted {
		t.Fatalf("collider check not predicted: %v %s", err, want)
	}
	defer l.Release(ctx, b)
	if err := l.Deploy(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := l.Remediate(ctx, b); err != nil {
		t.Fatal(err)
	}
	obs, err := l.Probe(ctx, b, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if obs.Outcome != pr.Outcome {
		t.Errorf("probe: local observed %s (%s), predict says %s", obs.Outcome, obs.Detail, pr.Verdict())
	}
	if why := want.Judge(l.ColliderHTTP(ctx, b)); why != "" {
		t.Errorf("collider check: %s", why)
	}
	t.Logf("probe %s, predicted %s; %s", obs.Outcome, pr.Verdict(), want)
}
