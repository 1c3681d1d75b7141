package predict

import (
	"github.com/firstbyte/firstbyte/fixtures"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"istio.io/istio/pkg/wellknown"
)

// The two halves an emulated data plane calls around its socket reads.
func TestDecisionHalves(t *testing.T) {
	cfg := handBuilt(wildcardHTTP(t, 10000, durationpb.New(2*time.Second), true), ipTCP(t), virtualOutbound(t, "PassthroughCluster"))
	other := netipPort("198.51.100.9:10000")

	ld, err := cfg.ChooseListener(other)
	if err != nil {
		t.Fatal(err)
	}
	wantFilters := envoy.ListenerFilters{Waiting: []string{wellknown.HTTPInspector}, Timeout: 2 * time.Second, ContinueOnTimeout: true}
	if diff := cmp.Diff(wantFilters, ld.ListenerFilters); ld.Listener != "0.0.0.0_10000" || diff != "" {
		t.Errorf("listener half: listener %s, filters (-want +got):\n%s", ld.Listener, diff)
	}
	type chain struct{ FilterChain, NetworkFilter, Cluster string }
	for _, c := range []struct {
		detected envoy.ClientBytes
		want     chain
	}{
		{envoy.NoClientBytes, chain{"PassthroughFilterChain", wellknown.TCPProxy, "PassthroughCluster"}},
		{envoy.OpaqueBytes, chain{"PassthroughFilterChain", wellknown.TCPProxy, "PassthroughCluster"}},
		{envoy.HTTPRequest, chain{"http", wellknown.HTTPConnectionManager, "outbound|10000||collider.web"}},
	} {
		t.Run("chain half/"+string(c.detected), func(t *testing.T) {
			cd, err := cfg.ChooseChain(other, c.detected)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, chain{cd.FilterChain, cd.NetworkFilter, cd.Cluster}); diff != "" {
				t.Errorf("chain half (-want +got):\n%s", diff)
			}
		})
	}
	for _, c := range []struct {
		cluster, want string
		wantErr       bool
	}{
		{"PassthroughCluster", other.String(), false},
		{"outbound|10000||db.external", "198.51.100.7:10000", false},
		{"BlackHoleCluster", "invalid AddrPort", true},
		{"no-such-cluster", "invalid AddrPort", true},
	} {
		t.Run("upstream/"+c.cluster, func(t *testing.T) {
			got, err := cfg.Upstream(c.cluster, other)
			if (err != nil) != c.wantErr {
				t.Errorf("error %v, want an error: %v", err, c.wantErr)
			}
			if diff := cmp.Diff(c.want, got.String()); diff != "" {
				t.Errorf("upstream (-want +got):\n%s", diff)
			}
		})
	}
}

// RouteHTTP routes a request by its Host header through Istio's generated
// routes, and the collider's endpoint comes from the topology's pod IP.
func TestRouteHTTPOnGeneratedConfig(t *testing.T) {
	top := Topology()
	top.ColliderPodIP = "10.244.7.7"
	cfg := sidecarFor(t, newPredictorFor(top), "mysql-10000-http")
	dst := netipPort(fixtures.WorldColliderVIP.String() + ":10000")
	cluster, err := cfg.RouteHTTP(dst, "collider.fb-collider.svc.cluster.local:10000", "/")
	if err != nil {
		t.Fatal(err)
	}
	if want := "outbound|10000||collider.fb-collider.svc.cluster.local"; cluster != want {
		t.Fatalf("cluster %q, want %q", cluster, want)
	}
	up, err := cfg.Upstream(cluster, dst)
	if err != nil || up.String() != "10.244.7.7:10000" {
		t.Fatalf("upstream %s, %v: want the topology's collider pod IP", up, err)
	}
	// Under ALLOW_ANY Istio's allow_any virtual host (domains "*") sends
	// unknown hosts to PassthroughCluster.
	if c, err := cfg.RouteHTTP(dst, "nobody.example:10000", "/"); err != nil || c != "PassthroughCluster" {
		t.Errorf("unknown host routed to %q, %v: want PassthroughCluster", c, err)
	}
}
