package predict

import (
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/envoy"
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
	if ld.Listener != "0.0.0.0_10000" || len(ld.Waiting) != 1 || ld.Waiting[0] != wellknown.HTTPInspector || ld.Timeout != 2*time.Second || !ld.ContinueOnTimeout {
		t.Errorf("listener half: %+v", ld)
	}
	for detected, want := range map[envoy.ClientBytes]envoy.ChainDecision{
		envoy.NoClientBytes: {FilterChain: "PassthroughFilterChain", NetworkFilter: wellknown.TCPProxy, Cluster: "PassthroughCluster"},
		envoy.OpaqueBytes:   {FilterChain: "PassthroughFilterChain", NetworkFilter: wellknown.TCPProxy, Cluster: "PassthroughCluster"},
		envoy.HTTPRequest:   {FilterChain: "http", NetworkFilter: wellknown.HTTPConnectionManager, Cluster: "outbound|10000||collider.web"},
	} {
		cd, err := cfg.ChooseChain(other, detected)
		if err != nil {
			t.Fatal(err)
		}
		if cd.FilterChain != want.FilterChain || cd.NetworkFilter != want.NetworkFilter || cd.Cluster != want.Cluster {
			t.Errorf("chain half for %s: got %s / %s → %s, want %s / %s → %s", detected, cd.FilterChain, cd.NetworkFilter, cd.Cluster, want.FilterChain, want.NetworkFilter, want.Cluster)
		}
	}

	for cluster, want := range map[string]string{
		"PassthroughCluster":          other.String(),
		"outbound|10000||db.external": "198.51.100.7:10000",
	} {
		got, err := cfg.Upstream(cluster, other)
		if err != nil || got.String() != want {
			t.Errorf("upstream of %s: %s %v, want %s", cluster, got, err, want)
		}
	}
	if _, err := cfg.Upstream("BlackHoleCluster", other); err == nil {
		t.Error("BlackHoleCluster has an upstream")
	}
	if _, err := cfg.Upstream("no-such-cluster", other); err == nil {
		t.Error("a missing cluster has an upstream")
	}
}

// RouteHTTP routes a request by its Host header through Istio's generated
// routes, and the collider's endpoint comes from the topology's pod IP.
func TestRouteHTTPOnGeneratedConfig(t *testing.T) {
	top := Topology()
	top.ColliderPodIP = "10.244.7.7"
	cfg := sidecarFor(t, NewPredictorFor(top), "mysql-10000-http")
	dst := netipPort(ColliderClusterIP.String() + ":10000")
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
