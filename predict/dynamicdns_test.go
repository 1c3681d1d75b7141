package predict

import (
	"slices"
	"testing"
	"time"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/scenarios"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"istio.io/istio/pkg/wellknown"
)

// withVirtualOutboundFilters is virtualOutbound with an http_inspector of
// its own, as ALLOW_ANY_DYNAMIC_DNS builds it, and the given timeout.
func withVirtualOutboundFilters(t *testing.T, timeout *durationpb.Duration, continueOnTimeout bool) *listener.Listener {
	l := virtualOutbound(t, "PassthroughCluster")
	l.ListenerFilters = []*listener.ListenerFilter{httpInspector(t)}
	l.ListenerFiltersTimeout, l.ContinueOnListenerFiltersTimeout = timeout, continueOnTimeout
	return l
}

// virtualOutbound's listener filters run before the hand-off; their
// timeout and continue flag decide a silent client first, and with
// continue the target listener's own wait adds to it.
func TestListenerFiltersBeforeTheHandOff(t *testing.T) {
	zero, second, two := durationpb.New(0), durationpb.New(time.Second), durationpb.New(2*time.Second)
	for _, c := range []struct {
		name     string
		cfg      *envoy.Config
		conn     Connection
		want     scenarios.Outcome
		after    time.Duration
		listener string
		cluster  string
	}{
		{"unset timeout on virtualOutbound, no continue: closed after Envoy's 15s, before the 0s wildcard listener is reached",
			handBuilt(wildcardHTTP(t, 10000, zero, true), withVirtualOutboundFilters(t, nil, false)), mysql,
			scenarios.Reset, 15 * time.Second, "virtualOutbound", ""},
		{"the same before an IP-specific tcp_proxy listener: still closed after 15s",
			handBuilt(ipTCP(t), withVirtualOutboundFilters(t, nil, false)), mysql,
			scenarios.Reset, 15 * time.Second, "virtualOutbound", ""},
		{"no other listener: virtualOutbound's own wait, closed after 15s",
			handBuilt(withVirtualOutboundFilters(t, nil, false)), mysql,
			scenarios.Reset, 15 * time.Second, "virtualOutbound", ""},
		{"virtualOutbound 1s with continue, then the tcp_proxy listener: connected 1s late",
			handBuilt(ipTCP(t), withVirtualOutboundFilters(t, second, true)), mysql,
			scenarios.Connected, time.Second, "198.51.100.7_10000", "outbound|10000||db.external"},
		{"virtualOutbound 1s with continue, then the wildcard's 2s with continue: the waits add up",
			handBuilt(wildcardHTTP(t, 10000, two, true), withVirtualOutboundFilters(t, second, true)), mysql,
			scenarios.Connected, 3 * time.Second, "0.0.0.0_10000", "PassthroughCluster"},
		{"virtualOutbound 1s with continue, then the wildcard's 0s: hung on the wildcard",
			handBuilt(wildcardHTTP(t, 10000, zero, true), withVirtualOutboundFilters(t, second, true)), mysql,
			scenarios.Hung, 0, "0.0.0.0_10000", ""},
		{"virtualOutbound 0s: hung before the hand-off",
			handBuilt(ipTCP(t), withVirtualOutboundFilters(t, zero, false)), mysql,
			scenarios.Hung, 0, "198.51.100.7_10000", ""},
		{"a client-first client decides both inspectors at once: connected",
			handBuilt(wildcardHTTP(t, 10000, zero, true), withVirtualOutboundFilters(t, nil, false)), mongo,
			scenarios.Connected, 0, "0.0.0.0_10000", "PassthroughCluster"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := Evaluate(c.cfg, c.conn)
			if err != nil {
				t.Fatal(err)
			}
			if p.Outcome != c.want || p.After != c.after || p.Listener != c.listener || p.Cluster != c.cluster {
				t.Errorf("got %s after %s at %q → %q, want %s after %s at %q → %q\n%s",
					p.Outcome, p.After, p.Listener, p.Cluster, c.want, c.after, c.listener, c.cluster, p)
			}
		})
	}
}

// The mode's listener filters, timeout and continue flag are read from
// what Istio's generator builds for virtualOutbound, and the prediction
// follows the configuration, not the mode's name: the same generated
// configuration with virtualOutbound's timeout changed predicts another
// outcome. It describes the main line's pilot (make test compiles that
// line only): release-1.30 and April master build the mode as
// not-allow-any, which the offline matrix shows (hack/predict-lines.sh).
func TestDynamicDNSFromTheGeneratedVirtualOutbound(t *testing.T) {
	dyn := sidecarFor(t, shared, "mysql-10000-http-dynamic-dns")
	v := dyn.VirtualOutbound()
	if v == nil {
		t.Fatal("no virtualOutbound in the generated configuration")
	}
	var names []string
	for _, f := range v.GetListenerFilters() {
		names = append(names, envoy.ListenerFilterName(f))
	}
	if !slices.Contains(names, wellknown.HTTPInspector) || v.GetListenerFiltersTimeout() != nil || v.GetContinueOnListenerFiltersTimeout() {
		t.Errorf("generated virtualOutbound under ALLOW_ANY_DYNAMIC_DNS: filters %v, timeout %v, continue %v; want http_inspector, unset, false (listener_builder.go)",
			names, v.GetListenerFiltersTimeout(), v.GetContinueOnListenerFiltersTimeout())
	}
	if plain := sidecarFor(t, shared, "mysql-10000-http").VirtualOutbound(); len(plain.GetListenerFilters()) != 0 {
		t.Errorf("virtualOutbound under ALLOW_ANY has listener filters %v: want none", plain.GetListenerFilters())
	}
	dst := server
	ld, err := dyn.ChooseListener(dst)
	if err != nil {
		t.Fatal(err)
	}
	if ld.Accepting != "virtualOutbound" || ld.Decider != "virtualOutbound" || ld.Listener != "0.0.0.0_10000" || ld.Timeout != 15*time.Second || ld.ContinueOnTimeout {
		t.Errorf("listener decision %+v: want virtualOutbound deciding before 0.0.0.0_10000, 15s, no continue", ld)
	}

	// The same configuration with virtualOutbound set to 2s + continue:
	// the hand-off happens, and 0.0.0.0_10000's own 0s wait hangs.
	changed := &envoy.Config{Clusters: dyn.Clusters, Routes: dyn.Routes, Endpoints: dyn.Endpoints, EndpointsKnown: dyn.EndpointsKnown, Source: "generated, virtualOutbound changed"}
	for _, l := range dyn.Listeners {
		if l.GetName() == v.GetName() {
			l = proto.Clone(l).(*listener.Listener)
			l.ListenerFiltersTimeout, l.ContinueOnListenerFiltersTimeout = durationpb.New(2*time.Second), true
		}
		changed.Listeners = append(changed.Listeners, l)
	}
	p, err := Evaluate(changed, protocolConnection(scenarios.MySQL, dst))
	if err != nil {
		t.Fatal(err)
	}
	if p.Outcome != scenarios.Hung || p.Listener != "0.0.0.0_10000" {
		t.Errorf("virtualOutbound 2s + continue before 0.0.0.0_10000 (0s): got %s at %s, want hung there\n%s", p.Outcome, p.Listener, p)
	}
}
