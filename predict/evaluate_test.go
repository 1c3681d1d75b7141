package predict

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	httpinspector "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/scenarios"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"istio.io/istio/pkg/wellknown"
)

// Hand-built listeners in the shapes Istio generates, so the evaluator's
// Envoy rules are tested without Istio's generator in the loop.

var (
	server  = netip.MustParseAddrPort("198.51.100.7:10000")
	mysql   = protocolConnection(scenarios.MySQL, server)
	mongo   = protocolConnection(scenarios.Mongo, server)
	request = Connection{Destination: server, ClientSends: envoy.HTTPRequest}
)

func typed(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func address(ip string, port uint32) *core.Address {
	return &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
		Address: ip, PortSpecifier: &core.SocketAddress_PortValue{PortValue: port},
	}}}
}

func tcpProxyChain(t *testing.T, name, clusterName string, m *listener.FilterChainMatch) *listener.FilterChain {
	return &listener.FilterChain{Name: name, FilterChainMatch: m, Filters: []*listener.Filter{{
		Name:       wellknown.TCPProxy,
		ConfigType: &listener.Filter_TypedConfig{TypedConfig: typed(t, &tcpproxy.TcpProxy{StatPrefix: clusterName, ClusterSpecifier: &tcpproxy.TcpProxy_Cluster{Cluster: clusterName}})},
	}}}
}

func hcmChain(t *testing.T, name, routeConfig string, m *listener.FilterChainMatch) *listener.FilterChain {
	return &listener.FilterChain{Name: name, FilterChainMatch: m, Filters: []*listener.Filter{{
		Name: wellknown.HTTPConnectionManager,
		ConfigType: &listener.Filter_TypedConfig{TypedConfig: typed(t, &hcm.HttpConnectionManager{
			StatPrefix:     name,
			RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{RouteConfigName: routeConfig}},
		})},
	}}}
}

func httpInspector(t *testing.T) *listener.ListenerFilter {
	return &listener.ListenerFilter{Name: wellknown.HTTPInspector, ConfigType: &listener.ListenerFilter_TypedConfig{TypedConfig: typed(t, &httpinspector.HttpInspector{})}}
}

// virtualOutbound is Istio's 15001 listener; catchall is PassthroughCluster
// under ALLOW_ANY and BlackHoleCluster under REGISTRY_ONLY.
func virtualOutbound(t *testing.T, catchall string) *listener.Listener {
	return &listener.Listener{
		Name:           "virtualOutbound",
		Address:        address("0.0.0.0", 15001),
		UseOriginalDst: wrapperspb.Bool(true),
		FilterChains: []*listener.FilterChain{
			tcpProxyChain(t, "virtualOutbound-blackhole", "BlackHoleCluster", &listener.FilterChainMatch{DestinationPort: wrapperspb.UInt32(15001)}),
			tcpProxyChain(t, "virtualOutbound-catchall-tcp", catchall, nil),
		},
	}
}

// wildcardHTTP is the listener an http-named Service port makes:
// 0.0.0.0_<port>, http_inspector, an HCM chain for detected HTTP and a
// passthrough default chain.
func wildcardHTTP(t *testing.T, port uint32, timeout *durationpb.Duration, continueOnTimeout bool) *listener.Listener {
	return &listener.Listener{
		Name:    "0.0.0.0_10000",
		Address: address("0.0.0.0", port),
		FilterChains: []*listener.FilterChain{hcmChain(t, "http", "10000", &listener.FilterChainMatch{
			TransportProtocol: "raw_buffer", ApplicationProtocols: []string{"http/1.1", "h2c"},
		})},
		DefaultFilterChain:               tcpProxyChain(t, "PassthroughFilterChain", "PassthroughCluster", nil),
		ListenerFilters:                  []*listener.ListenerFilter{httpInspector(t)},
		ListenerFiltersTimeout:           timeout,
		ContinueOnListenerFiltersTimeout: continueOnTimeout,
	}
}

// ipTCP is the listener a TCP ServiceEntry with addresses makes.
func ipTCP(t *testing.T) *listener.Listener {
	return &listener.Listener{
		Name:                             "198.51.100.7_10000",
		Address:                          address("198.51.100.7", 10000),
		FilterChains:                     []*listener.FilterChain{tcpProxyChain(t, "", "outbound|10000||db.external", nil)},
		ListenerFiltersTimeout:           durationpb.New(0),
		ContinueOnListenerFiltersTimeout: true,
	}
}

func clusters() []*cluster.Cluster {
	static := func(name string, ips ...string) *cluster.Cluster {
		c := &cluster.Cluster{Name: name, ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC}}
		if len(ips) > 0 {
			var eps []*endpoint.LbEndpoint
			for _, ip := range ips {
				eps = append(eps, &endpoint.LbEndpoint{HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{Address: address(ip, 10000)}}})
			}
			c.LoadAssignment = &endpoint.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpoint.LocalityLbEndpoints{{LbEndpoints: eps}}}
		}
		return c
	}
	return []*cluster.Cluster{
		{Name: "PassthroughCluster", ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_ORIGINAL_DST}},
		static("BlackHoleCluster"),
		static("outbound|10000||db.external", "198.51.100.7"),
		static("outbound|10000||collider.web", "10.244.0.30"),
	}
}

func routes() []*route.RouteConfiguration {
	return []*route.RouteConfiguration{{
		Name: "10000",
		VirtualHosts: []*route.VirtualHost{{
			Name: "allow_any", Domains: []string{"*"},
			Routes: []*route.Route{{
				Name:   "allow_any",
				Match:  &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
				Action: &route.Route_Route{Route: &route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: "outbound|10000||collider.web"}}},
			}},
		}},
	}}
}

func handBuilt(ls ...*listener.Listener) *envoy.Config {
	return &envoy.Config{Listeners: ls, Clusters: clusters(), Routes: routes(), EndpointsKnown: true, Source: "hand-built"}
}

func TestEvaluateHandBuilt(t *testing.T) {
	zero, second := durationpb.New(0), durationpb.New(time.Second)
	for _, c := range []struct {
		name     string
		cfg      *envoy.Config
		conn     Connection
		want     scenarios.Outcome
		after    time.Duration
		listener string
		chain    string
		cluster  string
	}{
		{"wildcard HTTP listener, 0s timeout, server-first client: hung",
			handBuilt(wildcardHTTP(t, 10000, zero, true), virtualOutbound(t, "PassthroughCluster")), mysql,
			scenarios.Hung, 0, "0.0.0.0_10000", "", ""},
		{"wildcard HTTP listener, 1s timeout: connected after 1s on the default chain",
			handBuilt(wildcardHTTP(t, 10000, second, true), virtualOutbound(t, "PassthroughCluster")), mysql,
			scenarios.Connected, time.Second, "0.0.0.0_10000", "PassthroughFilterChain", "PassthroughCluster"},
		{"1s timeout without continue_on_listener_filters_timeout: Envoy closes after 1s",
			handBuilt(wildcardHTTP(t, 10000, second, false), virtualOutbound(t, "PassthroughCluster")), mysql,
			scenarios.Reset, time.Second, "0.0.0.0_10000", "", ""}, // the close comes after the timeout: "fails reset after 1s"
		{"timeout unset: Envoy's 15s default, then the default chain",
			handBuilt(wildcardHTTP(t, 10000, nil, true), virtualOutbound(t, "PassthroughCluster")), mysql,
			scenarios.Connected, 15 * time.Second, "0.0.0.0_10000", "PassthroughFilterChain", "PassthroughCluster"},
		{"IP-specific tcp_proxy listener wins over the wildcard: connected",
			handBuilt(wildcardHTTP(t, 10000, zero, true), ipTCP(t), virtualOutbound(t, "PassthroughCluster")), mysql,
			scenarios.Connected, 0, "198.51.100.7_10000", "filterChains[0] (unnamed)", "outbound|10000||db.external"},
		{"no listener for the port: virtualOutbound passes it through",
			handBuilt(virtualOutbound(t, "PassthroughCluster")), mysql,
			scenarios.Connected, 0, "virtualOutbound", "virtualOutbound-catchall-tcp", "PassthroughCluster"},
		{"no listener for the port under REGISTRY_ONLY: BlackHoleCluster resets",
			handBuilt(virtualOutbound(t, "BlackHoleCluster")), mysql,
			scenarios.Reset, 0, "virtualOutbound", "virtualOutbound-catchall-tcp", "BlackHoleCluster"},
		{"client-first bytes take the default chain at once: connected",
			handBuilt(wildcardHTTP(t, 10000, zero, true), virtualOutbound(t, "PassthroughCluster")), mongo,
			scenarios.Connected, 0, "0.0.0.0_10000", "PassthroughFilterChain", "PassthroughCluster"},
		{"an HTTP request takes the HCM chain and its route",
			handBuilt(wildcardHTTP(t, 10000, zero, true), virtualOutbound(t, "PassthroughCluster")), request,
			scenarios.Connected, 0, "0.0.0.0_10000", "http", "outbound|10000||collider.web"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := Evaluate(c.cfg, c.conn)
			if err != nil {
				t.Fatal(err)
			}
			if p.Outcome != c.want || p.After != c.after || p.Listener != c.listener || p.FilterChain != c.chain || p.Cluster != c.cluster {
				t.Errorf("got %s after %s at %q / %q → %q, want %s after %s at %q / %q → %q\n%s",
					p.Outcome, p.After, p.Listener, p.FilterChain, p.Cluster, c.want, c.after, c.listener, c.chain, c.cluster, p)
			}
		})
	}
}

// An HTTP connection manager also waits for a request: a server-first
// client hangs there even with no listener filter at all, and client-first
// bytes that are not HTTP get an HTTP error.
func TestEvaluateHTTPConnectionManager(t *testing.T) {
	l := &listener.Listener{
		Name:         "10.96.0.30_10000",
		Address:      address("10.96.0.30", 10000),
		FilterChains: []*listener.FilterChain{hcmChain(t, "http", "10000", nil)},
	}
	dst := netip.MustParseAddrPort("10.96.0.30:10000")
	cfg := handBuilt(l, virtualOutbound(t, "PassthroughCluster"))
	for conn, want := range map[Connection]scenarios.Outcome{
		protocolConnection(scenarios.MySQL, dst):                                        scenarios.Hung,
		protocolConnection(scenarios.Mongo, dst):                                        scenarios.ProtocolError,
		{Destination: dst, ClientSends: envoy.HTTPRequest}:                              scenarios.Connected,
		protocolConnection(scenarios.SMTP, netip.MustParseAddrPort("10.96.0.31:10000")): scenarios.Connected,
	} {
		p, err := Evaluate(cfg, conn)
		if err != nil {
			t.Fatal(err)
		}
		if p.Outcome != want {
			t.Errorf("%s: got %s, want %s\n%s", conn, p.Outcome, want, p)
		}
	}
}

// Istio disables http_inspector per port with a filter_disabled predicate
// on some listeners; a disabled inspector does not wait.
func TestEvaluateDisabledInspector(t *testing.T) {
	l := wildcardHTTP(t, 10000, durationpb.New(0), true)
	l.ListenerFilters[0].FilterDisabled = &listener.ListenerFilterChainMatchPredicate{
		Rule: &listener.ListenerFilterChainMatchPredicate_DestinationPortRange{DestinationPortRange: &typev3.Int32Range{Start: 10000, End: 10001}},
	}
	p, err := Evaluate(handBuilt(l, virtualOutbound(t, "PassthroughCluster")), mysql)
	if err != nil {
		t.Fatal(err)
	}
	if p.Outcome != scenarios.Connected || p.After != 0 || p.FilterChain != "PassthroughFilterChain" {
		t.Errorf("disabled inspector: got %s after %s on %q\n%s", p.Outcome, p.After, p.FilterChain, p)
	}
}

// A missing cluster and an EDS cluster without endpoints leave tcp_proxy
// no upstream.
func TestEvaluateClusterWithoutEndpoints(t *testing.T) {
	l := ipTCP(t)
	cfg := handBuilt(l, virtualOutbound(t, "PassthroughCluster"))
	cfg.Clusters = append(cfg.Clusters[:2], &cluster.Cluster{Name: "outbound|10000||db.external", ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS}})
	p, err := Evaluate(cfg, mysql)
	if err != nil {
		t.Fatal(err)
	}
	if p.Outcome != scenarios.Reset {
		t.Errorf("EDS cluster without endpoints: got %s\n%s", p.Outcome, p)
	}
	cfg = handBuilt(l, virtualOutbound(t, "PassthroughCluster"))
	cfg.Clusters = cfg.Clusters[:2]
	if p, _ := Evaluate(cfg, mysql); p.Outcome != scenarios.Reset {
		t.Errorf("missing cluster: got %s\n%s", p.Outcome, p)
	}
}

func TestPredictionString(t *testing.T) {
	p, err := Evaluate(handBuilt(wildcardHTTP(t, 10000, durationpb.New(0), true), virtualOutbound(t, "PassthroughCluster")), mysql)
	if err != nil {
		t.Fatal(err)
	}
	s := p.String()
	for _, want := range []string{"listener filters", "envoy.filters.listener.http_inspector", "listener_filters_timeout 0s", "=> hung (0.0.0.0_10000: held by envoy.filters.listener.http_inspector (listener_filters_timeout 0s))"} {
		if !strings.Contains(s, want) {
			t.Errorf("trace lacks %q:\n%s", want, s)
		}
	}
}

func netipPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
