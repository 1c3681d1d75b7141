package predict

import (
	"github.com/firstbyte/firstbyte/fixtures"
	"net/netip"
	"strings"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacconfig "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	tlsinspector "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	rbac "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/predict/capture"
	"github.com/firstbyte/firstbyte/scenarios"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pkg/wellknown"
)

// Hand-built virtualInbound listeners in the shapes Istio generates for
// the server pod (PeerAuthentication DISABLE / PERMISSIVE / STRICT, a
// declared TCP port or an undeclared one, an AuthorizationPolicy), so the
// inbound rules are tested without Istio's generator in the loop.

var (
	serverAddr     = netip.MustParseAddrPort("198.51.100.7:10000")
	clientIdentity = "spiffe://cluster.local/ns/fb-client/sa/default"
	istioALPN      = []string{"istio-peer-exchange", "istio"}
)

func arrival(p scenarios.Protocol, tls simulation.TLSMode) Arrival {
	a := Arrival{Destination: serverAddr, Source: fixtures.WorldClientPodIP, Protocol: p, TLS: tls, AppSends: protocolConnection(p, serverAddr).ClientSends}
	if tls == simulation.MTLS {
		a.ALPN, a.SNI, a.Principal = istioALPN, "outbound_.10000_._.server.fb-server.svc.cluster.local", clientIdentity
	}
	return a
}

// portsPredicate disables a listener filter for the given ports, as Istio
// writes it.
func portsPredicate(ports ...int32) *listener.ListenerFilterChainMatchPredicate {
	var rules []*listener.ListenerFilterChainMatchPredicate
	for _, p := range ports {
		rules = append(rules, &listener.ListenerFilterChainMatchPredicate{Rule: &listener.ListenerFilterChainMatchPredicate_DestinationPortRange{
			DestinationPortRange: &typev3.Int32Range{Start: p, End: p + 1},
		}})
	}
	if len(rules) == 1 {
		return rules[0]
	}
	return &listener.ListenerFilterChainMatchPredicate{Rule: &listener.ListenerFilterChainMatchPredicate_OrMatch{
		OrMatch: &listener.ListenerFilterChainMatchPredicate_MatchSet{Rules: rules},
	}}
}

func tlsInspectorOff(t *testing.T, ports ...int32) *listener.ListenerFilter {
	return &listener.ListenerFilter{Name: wellknown.TLSInspector, ConfigType: &listener.ListenerFilter_TypedConfig{TypedConfig: typed(t, &tlsinspector.TlsInspector{})}, FilterDisabled: portsPredicate(ports...)}
}

func httpInspectorOff(t *testing.T, ports ...int32) *listener.ListenerFilter {
	f := httpInspector(t)
	f.FilterDisabled = portsPredicate(ports...)
	return f
}

// mtlsSocket is Istio's inbound mTLS transport socket: the workload
// certificate (SDS "default") and a required client certificate.
func mtlsSocket(t *testing.T) *core.TransportSocket {
	return &core.TransportSocket{Name: wellknown.TransportSocketTLS, ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: typed(t, &tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapperspb.Bool(true),
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: "default"}},
			AlpnProtocols:                  []string{"h2", "http/1.1"},
		},
	})}}
}

func inboundMatch(transport string, alpn ...string) *listener.FilterChainMatch {
	return &listener.FilterChainMatch{DestinationPort: wrapperspb.UInt32(10000), TransportProtocol: transport, ApplicationProtocols: alpn}
}

// inboundTCP is a chain for the declared TCP port; filters go in front of
// tcp_proxy.
func inboundTCP(t *testing.T, m *listener.FilterChainMatch, socket *core.TransportSocket, filters ...*listener.Filter) *listener.FilterChain {
	fc := tcpProxyChain(t, "0.0.0.0_10000", "inbound|10000||", m)
	fc.Filters = append(filters, fc.Filters...)
	fc.TransportSocket = socket
	return fc
}

func virtualInbound(t *testing.T, timeout time.Duration, filters []*listener.ListenerFilter, chains ...*listener.FilterChain) *envoy.Config {
	cfg := handBuilt(&listener.Listener{
		Name:                             "virtualInbound",
		Address:                          address("0.0.0.0", 15006),
		FilterChains:                     append([]*listener.FilterChain{tcpProxyChain(t, "virtualInbound-blackhole", "BlackHoleCluster", &listener.FilterChainMatch{DestinationPort: wrapperspb.UInt32(15006)})}, chains...),
		ListenerFilters:                  filters,
		ListenerFiltersTimeout:           durationpb.New(timeout),
		ContinueOnListenerFiltersTimeout: true,
	})
	cfg.Clusters = append(cfg.Clusters, &cluster.Cluster{Name: "inbound|10000||", ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_ORIGINAL_DST}})
	return cfg
}

// PERMISSIVE on a declared TCP port: tls_inspector on the port, an mTLS
// chain and a plaintext chain.
func permissive(t *testing.T, timeout time.Duration, filters ...*listener.Filter) *envoy.Config {
	return virtualInbound(t, timeout, []*listener.ListenerFilter{tlsInspectorOff(t, 15006), httpInspectorOff(t, 10000, 15006)},
		inboundTCP(t, inboundMatch("tls", "istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2"), mtlsSocket(t), filters...),
		inboundTCP(t, inboundMatch("tls"), nil, filters...),
		inboundTCP(t, inboundMatch("raw_buffer"), nil, filters...))
}

// STRICT on a declared TCP port: the mTLS chain only.
func strict(t *testing.T, filters ...*listener.Filter) *envoy.Config {
	return virtualInbound(t, 0, []*listener.ListenerFilter{tlsInspectorOff(t, 15006)}, inboundTCP(t, inboundMatch("tls"), mtlsSocket(t), filters...))
}

// DISABLE on a declared TCP port: one plaintext chain, no inspector for
// the port.
func disableDeclared(t *testing.T) *envoy.Config {
	return virtualInbound(t, 0, []*listener.ListenerFilter{httpInspectorOff(t, 10000, 15006)}, inboundTCP(t, inboundMatch("raw_buffer"), nil))
}

// DISABLE on an undeclared port: http_inspector decides between an HTTP
// and a TCP chain.
func disableUndeclared(t *testing.T) *envoy.Config {
	return virtualInbound(t, 0, []*listener.ListenerFilter{httpInspectorOff(t, 15006)},
		hcmChain(t, "0.0.0.0_10000", "inbound|10000||", inboundMatch("raw_buffer", "http/1.1", "h2c")),
		inboundTCP(t, inboundMatch("raw_buffer"), nil))
}

// rbacFilter is Istio's network RBAC filter for an AuthorizationPolicy
// with one rule: from principal, to port 10000.
func rbacFilter(t *testing.T, action rbacconfig.RBAC_Action, principal string) *listener.Filter {
	return &listener.Filter{Name: wellknown.RoleBasedAccessControl, ConfigType: &listener.Filter_TypedConfig{TypedConfig: typed(t, &rbac.RBAC{
		StatPrefix: "tcp.",
		Rules: &rbacconfig.RBAC{Action: action, Policies: map[string]*rbacconfig.Policy{"ns[fb-server]-policy[server]-rule[0]": {
			Permissions: []*rbacconfig.Permission{{Rule: &rbacconfig.Permission_DestinationPort{DestinationPort: 10000}}},
			Principals: []*rbacconfig.Principal{{Identifier: &rbacconfig.Principal_Authenticated_{Authenticated: &rbacconfig.Principal_Authenticated{
				PrincipalName: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: principal}},
			}}}},
		}}},
	})}}
}

func TestEvaluateInbound(t *testing.T) {
	for _, c := range []struct {
		name    string
		cfg     *envoy.Config
		a       Arrival
		want    scenarios.Outcome
		after   time.Duration
		chain   string
		heldBy  string // substring of HeldBy
		trace   string // substring of the trace
		denyCol string
	}{
		{"PERMISSIVE, plaintext server-first: tls_inspector holds it forever",
			permissive(t, 0), arrival(scenarios.MySQL, simulation.Plaintext), scenarios.Hung, 0, "",
			"envoy.filters.listener.tls_inspector on the server's virtualInbound", "virtualInbound: envoy.filters.listener.tls_inspector waits for the client's first bytes on port 10000", "-"},
		{"PERMISSIVE with a 1s detection timeout: the plaintext chain after 1s",
			permissive(t, time.Second), arrival(scenarios.MySQL, simulation.Plaintext), scenarios.Connected, time.Second, "0.0.0.0_10000", "", "after 1s the inspectors give up", "-"},
		{"PERMISSIVE, mTLS: the ClientHello ends the wait, the mTLS chain",
			permissive(t, 0), arrival(scenarios.MySQL, simulation.MTLS), scenarios.Connected, 0, "0.0.0.0_10000", "", "transport tls", "-"},
		{"STRICT, mTLS: connected",
			strict(t), arrival(scenarios.SMTP, simulation.MTLS), scenarios.Connected, 0, "0.0.0.0_10000", "", "client certificate required", "-"},
		{"STRICT, plaintext server-first: tls_inspector holds it",
			strict(t), arrival(scenarios.MySQL, simulation.Plaintext), scenarios.Hung, 0, "", "envoy.filters.listener.tls_inspector", "", "-"},
		{"STRICT with a 1s detection timeout, plaintext server-first: no chain for raw_buffer after 1s, Envoy closes",
			virtualInbound(t, time.Second, []*listener.ListenerFilter{tlsInspectorOff(t, 15006)}, inboundTCP(t, inboundMatch("tls"), mtlsSocket(t))),
			arrival(scenarios.MySQL, simulation.Plaintext), scenarios.Reset, time.Second, "", "", "1s late (after the listener filter timeout)", "-"},
		{"a TLS-terminating chain with no inspector, plaintext server-first: the TLS socket waits for a ClientHello",
			virtualInbound(t, 0, nil, inboundTCP(t, inboundMatch(""), mtlsSocket(t))), arrival(scenarios.MySQL, simulation.Plaintext), scenarios.Hung, 0, "0.0.0.0_10000",
			"the TLS transport socket of virtualInbound", "waits for a ClientHello", "-"},
		{"a TLS-terminating chain with no inspector, plaintext client-first: the handshake fails",
			virtualInbound(t, 0, nil, inboundTCP(t, inboundMatch(""), mtlsSocket(t))), arrival(scenarios.Mongo, simulation.Plaintext), scenarios.Reset, 0, "0.0.0.0_10000",
			"", "not a ClientHello: the handshake fails", "-"},
		{"STRICT, TLS without a client certificate: the mutual TLS handshake fails",
			strict(t), func() Arrival { a := arrival(scenarios.MySQL, simulation.TLS); a.ALPN = []string{"istio"}; return a }(), scenarios.Reset, 0, "0.0.0.0_10000",
			"", "disagree on mutual TLS", "-"},
		{"STRICT, plaintext client-first: no chain for raw_buffer, Envoy closes",
			strict(t), arrival(scenarios.Mongo, simulation.Plaintext), scenarios.Reset, 0, "", "", "no filter chain of virtualInbound matches", "-"},
		{"DISABLE, declared TCP port, plaintext: no inspector, connected",
			disableDeclared(t), arrival(scenarios.MySQL, simulation.Plaintext), scenarios.Connected, 0, "0.0.0.0_10000", "", "nothing waits for client bytes on port 10000", "-"},
		{"DISABLE, declared TCP port, mTLS: the ClientHello reaches the application, the greeting breaks the handshake",
			disableDeclared(t), arrival(scenarios.MySQL, simulation.MTLS), scenarios.Reset, 0, "0.0.0.0_10000", "", "not a ServerHello", "-"},
		{"DISABLE, undeclared port, plaintext server-first: http_inspector holds it",
			disableUndeclared(t), arrival(scenarios.SMTP, simulation.Plaintext), scenarios.Hung, 0, "",
			"envoy.filters.listener.http_inspector on the server's virtualInbound", "virtualInbound: envoy.filters.listener.http_inspector waits", "-"},
		{"STRICT + DENY for the client, server-first: the greeting first, then the close",
			strict(t, rbacFilter(t, rbacconfig.RBAC_DENY, clientIdentity)), arrival(scenarios.MySQL, simulation.MTLS), scenarios.ProtocolError, 0, "0.0.0.0_10000", "",
			"DENY policy ns[fb-server]-policy[server]-rule[0] matches: denied", "yes"},
		{"STRICT + DENY for the client, client-first: closed on its first bytes",
			strict(t, rbacFilter(t, rbacconfig.RBAC_DENY, clientIdentity)), arrival(scenarios.Mongo, simulation.MTLS), scenarios.Reset, 0, "0.0.0.0_10000", "", "reset, server bytes before deny: no", "no"},
		{"STRICT + ALLOW for the client: connected",
			strict(t, rbacFilter(t, rbacconfig.RBAC_ALLOW, clientIdentity)), arrival(scenarios.MySQL, simulation.MTLS), scenarios.Connected, 0, "0.0.0.0_10000", "", "ALLOW policy", "-"},
		{"STRICT + ALLOW for someone else: denied after the greeting",
			strict(t, rbacFilter(t, rbacconfig.RBAC_ALLOW, "spiffe://cluster.local/ns/other/sa/default")), arrival(scenarios.MySQL, simulation.MTLS), scenarios.ProtocolError, 0, "0.0.0.0_10000", "", "no ALLOW policy matches: denied", "yes"},
		{"PERMISSIVE + ALLOW for the client, plaintext client-first: no principal, denied",
			permissive(t, 0, rbacFilter(t, rbacconfig.RBAC_ALLOW, clientIdentity)), arrival(scenarios.Mongo, simulation.Plaintext), scenarios.Reset, 0, "0.0.0.0_10000", "", "no client certificate (plaintext)", "no"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := EvaluateInbound(c.cfg, c.a)
			if err != nil {
				t.Fatal(err)
			}
			chain := ""
			if p.Inbound != nil {
				chain = p.Inbound.FilterChain
			}
			if p.Outcome != c.want || p.After != c.after || chain != c.chain || !strings.Contains(p.HeldBy, c.heldBy) || p.ServerBytesBeforeDenyText() != c.denyCol {
				t.Errorf("got %s after %s on %q, held by %q, server bytes before deny %s; want %s after %s on %q, held by …%q…, %s\n%s",
					p.Outcome, p.After, chain, p.HeldBy, p.ServerBytesBeforeDenyText(), c.want, c.after, c.chain, c.heldBy, c.denyCol, p)
			}
			if !strings.Contains(p.String(), c.trace) {
				t.Errorf("trace lacks %q:\n%s", c.trace, p)
			}
		})
	}
}

// Envoy tries the offered ALPN protocols in order and takes the first
// chain that lists one, before a chain that lists none; the simulation
// takes one ALPN, so the walk asks it once per protocol.
func TestInboundChainALPNOrder(t *testing.T) {
	listed := inboundTCP(t, inboundMatch("tls", "istio"), mtlsSocket(t))
	listed.Name = "alpn-istio"
	anyALPN := inboundTCP(t, inboundMatch("tls"), mtlsSocket(t))
	anyALPN.Name = "tls-any-alpn"
	cfg := virtualInbound(t, 0, []*listener.ListenerFilter{tlsInspectorOff(t, 15006)}, listed, anyALPN)
	for _, c := range []struct {
		alpn []string
		want string
	}{
		{[]string{"h2", "istio"}, "alpn-istio"},
		{[]string{"istio", "h2"}, "alpn-istio"},
		{[]string{"h2"}, "tls-any-alpn"},
	} {
		a := arrival(scenarios.MySQL, simulation.MTLS)
		a.ALPN = c.alpn
		p, err := EvaluateInbound(cfg, a)
		if err != nil {
			t.Fatal(err)
		}
		if p.Inbound == nil || !strings.Contains(p.Inbound.FilterChain, c.want) {
			t.Errorf("ALPN %v: chain %+v, want %s\n%s", c.alpn, p.Inbound, c.want, p)
		}
	}
}

// Where the connection reaches the server application with no server
// sidecar on the way: plaintext connects (keeping the client side's
// delay); a DestinationRule's mTLS meets the greeting (reset); auto mTLS
// chose mTLS because the endpoint's pod has a sidecar, so unless the
// server pod's capture let it by, predict says it does not know.
func TestNoServerSidecar(t *testing.T) {
	late := Prediction{After: time.Second}
	if p, err := noServerSidecar(late, envoy.Leg{TLS: simulation.Plaintext}, "no sidecar", false); err != nil || p.Outcome != scenarios.Connected || !strings.Contains(p.String(), "1s late") {
		t.Errorf("plaintext after 1s: %s %v\n%s", p.Outcome, err, p)
	}
	if p, err := noServerSidecar(Prediction{}, envoy.Leg{TLS: simulation.MTLS}, "no sidecar", false); err != nil || p.Outcome != scenarios.Reset || !strings.Contains(p.Decision(), "mtls straight into the server application") {
		t.Errorf("DestinationRule mTLS: %s %v %q", p.Outcome, err, p.Decision())
	}
	if _, err := noServerSidecar(Prediction{}, envoy.Leg{TLS: simulation.MTLS, AutoMTLS: true}, "no sidecar", false); err == nil || !strings.Contains(err.Error(), "does not know what terminates it") {
		t.Errorf("auto mTLS to a pod that is not the server: %v, want an error", err)
	}
	if p, err := noServerSidecar(Prediction{}, envoy.Leg{TLS: simulation.MTLS, AutoMTLS: true}, "not captured", true); err != nil || p.Outcome != scenarios.Reset {
		t.Errorf("auto mTLS past the server pod's capture: %s %v, want reset", p.Outcome, err)
	}
}

// Protocol decoders Istio adds by port name pass bytes through: a mongo
// port's mongo_proxy does not change the verdict.
func TestInboundMongoProxy(t *testing.T) {
	p, err := EvaluateInbound(strict(t, &listener.Filter{Name: wellknown.MongoProxy}), arrival(scenarios.Mongo, simulation.MTLS))
	if err != nil || p.Outcome != scenarios.Connected {
		t.Errorf("STRICT with mongo_proxy, mTLS mongo client: %s %v\n%s", p.Outcome, err, p)
	}
}

// A network filter predict does not model, in front of tcp_proxy, is an
// error naming it, never a guess.
func TestInboundUnknownNetworkFilter(t *testing.T) {
	extAuthz := &listener.Filter{Name: "envoy.filters.network.ext_authz"}
	_, err := EvaluateInbound(strict(t, extAuthz), arrival(scenarios.MySQL, simulation.MTLS))
	if err == nil || !strings.Contains(err.Error(), "envoy.filters.network.ext_authz") || !strings.Contains(err.Error(), "does not model") {
		t.Errorf("ext_authz on the chain: %v, want an error naming it", err)
	}
}

// Envoy picks a cluster's transport socket per endpoint: Istio's auto
// mTLS sends mTLS only to endpoints labelled tlsMode istio; a
// DestinationRule's TLS sets the cluster's socket for every endpoint.
func TestUpstreamLeg(t *testing.T) {
	upstream := func(alpn ...string) *core.TransportSocket {
		return &core.TransportSocket{Name: wellknown.TransportSocketTLS, ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: typed(t, &tlsv3.UpstreamTlsContext{
			Sni: "outbound_.10000_._.server.fb-server.svc.cluster.local",
			CommonTlsContext: &tlsv3.CommonTlsContext{
				TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: "default"}},
				AlpnProtocols:                  alpn,
			},
		})}}
	}
	auto := &cluster.Cluster{
		Name: "outbound|10000||server", ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC},
		TransportSocketMatches: []*cluster.Cluster_TransportSocketMatch{
			{Name: "tlsMode-istio", Match: structOf(t, map[string]any{"tlsMode": "istio"}), TransportSocket: upstream(istioALPN...)},
			{Name: "tlsMode-disabled", Match: structOf(t, nil), TransportSocket: &core.TransportSocket{Name: "envoy.transport_sockets.raw_buffer"}},
		},
	}
	withEndpoint := func(c *cluster.Cluster, meta map[string]any) *cluster.Cluster {
		c = cloneCluster(c)
		c.LoadAssignment = loadAssignment(t, c.Name, "198.51.100.7", meta)
		return c
	}
	mutual := withEndpoint(&cluster.Cluster{Name: "outbound|10000||server", ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC}, TransportSocket: upstream(istioALPN...)}, nil)
	for _, c := range []struct {
		name string
		cl   *cluster.Cluster
		want simulation.TLSMode
		auto bool
	}{
		{"auto mTLS, endpoint with a sidecar", withEndpoint(auto, map[string]any{"tlsMode": "istio"}), simulation.MTLS, true},
		{"auto mTLS, endpoint without one", withEndpoint(auto, nil), simulation.Plaintext, false},
		{"DestinationRule ISTIO_MUTUAL", mutual, simulation.MTLS, false},
		{"no transport socket", withEndpoint(&cluster.Cluster{Name: "outbound|10000||server", ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC}}, map[string]any{"tlsMode": "istio"}), simulation.Plaintext, false},
	} {
		cfg := &envoy.Config{Clusters: []*cluster.Cluster{c.cl}, EndpointsKnown: true}
		leg, err := cfg.UpstreamLeg(c.cl.Name, serverAddr)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if leg.TLS != c.want || leg.To != serverAddr || leg.AutoMTLS != c.auto {
			t.Errorf("%s: %s to %s (auto mTLS %v), want %s (auto %v) (%s)", c.name, leg.TLS, leg.To, leg.AutoMTLS, c.want, c.auto, leg.Socket)
		}
		if c.want == simulation.MTLS && (len(leg.ALPN) != 2 || leg.SNI == "") {
			t.Errorf("%s: ALPN %v SNI %q not read from the UpstreamTlsContext", c.name, leg.ALPN, leg.SNI)
		}
	}
}

// A client without a sidecar is never captured: the walk goes straight to
// the server's sidecar, which a plaintext server-first client cannot get
// past under PERMISSIVE.
func TestWalkSidesWithoutClientSidecar(t *testing.T) {
	cfg := permissive(t, 0)
	s := Sides{
		Client:          capture.CapturePod{IP: fixtures.WorldClientPodIP},
		NoClientSidecar: "the client pod is labelled sidecar.istio.io/inject=false",
		Server:          capture.CapturePod{IP: serverAddr.Addr()},
		ServerSidecar:   func() (*envoy.Config, error) { return cfg, nil },
		Backend: func(a netip.AddrPort) (netip.AddrPort, string, bool) {
			return serverAddr, "kube-proxy", a == netip.AddrPortFrom(fixtures.WorldServerClusterIP, 10000)
		},
	}
	p, err := walkSides(s, protocolConnection(scenarios.MySQL, netip.AddrPortFrom(fixtures.WorldServerClusterIP, 10000)), AppUID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Outcome != scenarios.Hung || p.Direct != "no client sidecar" || !strings.Contains(p.Decision(), "no client sidecar → direct ⇒ plaintext virtualInbound: held by envoy.filters.listener.tls_inspector") {
		t.Errorf("got %s, %q\n%s", p.Outcome, p.Decision(), p)
	}
}

func structOf(t *testing.T, m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func cloneCluster(c *cluster.Cluster) *cluster.Cluster { return proto.Clone(c).(*cluster.Cluster) }

// loadAssignment is one endpoint at ip:10000 with the given
// envoy.transport_socket_match metadata (none when nil).
func loadAssignment(t *testing.T, name, ip string, meta map[string]any) *endpoint.ClusterLoadAssignment {
	ep := &endpoint.LbEndpoint{HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{Address: address(ip, 10000)}}}
	if meta != nil {
		ep.Metadata = &core.Metadata{FilterMetadata: map[string]*structpb.Struct{envoy.TransportSocketMatchKey: structOf(t, meta)}}
	}
	return &endpoint.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpoint.LocalityLbEndpoints{{LbEndpoints: []*endpoint.LbEndpoint{ep}}}}
}
