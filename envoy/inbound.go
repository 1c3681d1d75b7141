package envoy

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pkg/wellknown"
)

// The inbound halves: a connection iptables redirected to a server pod's
// sidecar (nat PREROUTING → 15006) goes to virtualInbound, whose listener
// filters may wait for client bytes before a filter chain is chosen by
// destination port, transport (raw_buffer or tls) and ALPN. Istio's
// simulation (inbound call mode) picks the listener and chain.

// ChooseInboundListener picks the listener for a connection to dst that
// iptables redirected to the sidecar's inbound port, as Istio's
// simulation does in inbound call mode (virtualInbound), and reads its
// listener filters for dst's port.
func (c *Config) ChooseInboundListener(dst netip.AddrPort) (ListenerDecision, error) {
	var d ListenerDecision
	res, err := c.runSimulation(simulation.Call{Address: dst.Addr().String(), Port: int(dst.Port()), Protocol: simulation.TCP, CallMode: simulation.CallModeInbound})
	if err != nil {
		return d, err
	}
	if errors.Is(res.Error, simulation.ErrNoListener) {
		d.Trace = append(d.Trace, Step{Stage: "inbound listener", Decision: "the server sidecar has no virtualInbound listener: nothing accepts the redirected connection"})
		return d, nil
	}
	l := c.Listener(res.ListenerMatched)
	if l == nil {
		return d, fmt.Errorf("choosing the inbound listener for %s: the simulation matched %q, which the configuration does not hold", dst, res.ListenerMatched)
	}
	d.Listener = l.GetName()
	a := l.GetAddress().GetSocketAddress()
	d.Trace = append(d.Trace, Step{Stage: "inbound listener", Decision: fmt.Sprintf("%s (%s:%d, where iptables redirects inbound TCP) takes the connection; its original_dst listener filter restores the original destination %s, which its filter chains match on", l.GetName(), a.GetAddress(), a.GetPortValue(), dst)})
	in, err := Inspect(l, int(dst.Port()))
	if err != nil {
		return d, err
	}
	for _, n := range in.Notes {
		d.Trace = append(d.Trace, Step{Stage: "inbound listener filters", Decision: l.GetName() + ": " + n})
	}
	d.ListenerFilters = in.ListenerFilters
	return d, nil
}

// InboundCall is a connection as it reaches virtualInbound: where to, in
// what transport, and, for TLS, the ClientHello's ALPN and SNI.
type InboundCall struct {
	Destination netip.AddrPort
	// TLS is simulation.Plaintext (the default), simulation.TLS or
	// simulation.MTLS.
	TLS  simulation.TLSMode
	ALPN []string
	SNI  string
}

func (a InboundCall) tls() bool { return a.TLS == simulation.TLS || a.TLS == simulation.MTLS }

// SimulateInbound runs Istio's simulation for a connection to
// virtualInbound in inbound call mode, carrying what the inspectors
// detected.
func (c *Config) SimulateInbound(a InboundCall, detected ClientBytes) (simulation.Result, error) {
	call := simulation.Call{
		Address: a.Destination.Addr().String(), Port: int(a.Destination.Port()),
		Protocol: simulation.TCP, TLS: a.TLS, Sni: a.SNI, CallMode: simulation.CallModeInbound,
	}
	if call.TLS == "" {
		call.TLS = simulation.Plaintext
	}
	if !a.tls() && detected == HTTPRequest {
		call.Protocol, call.HostHeader = simulation.HTTP, a.Destination.String()
	}
	if !a.tls() || len(a.ALPN) == 0 {
		return c.runSimulation(call)
	}
	// The simulation matches one ALPN. Envoy tries the offered protocols
	// in order and takes the first chain that lists one of them, else a
	// chain that lists none (filter_chain_match application_protocols):
	// that is what the simulation matches for a protocol no chain lists.
	var first simulation.Result
	for i, alpn := range a.ALPN {
		call.Alpn = alpn
		res, err := c.runSimulation(call)
		if err != nil {
			return res, err
		}
		if fc := c.Chain(res.ListenerMatched, res.FilterChainMatched); fc != nil && slices.Contains(fc.GetFilterChainMatch().GetApplicationProtocols(), alpn) {
			return res, nil
		}
		if i == 0 {
			first = res
		}
	}
	return first, nil
}

// inboundFilterRoles are the network filters Istio puts on inbound chains
// whose effect on who speaks first the envoy model knows: metadata exchange (on
// mTLS it swaps a header with the client sidecar's own filter, which both
// consume; the application's bytes are not held), RBAC (evaluated, see
// rbac.go), stats, and the terminal filters.
var inboundFilterRoles = map[string]bool{
	"istio.metadata_exchange":        true,
	"istio.stats":                    true,
	wellknown.RoleBasedAccessControl: true,
	wellknown.TCPProxy:               true,
	wellknown.HTTPConnectionManager:  true,
	// Protocol decoders Istio adds for ports named mongo (on by default)
	// or mysql (off by default): they read the bytes passing through for
	// stats and never hold them.
	wellknown.MongoProxy: true,
	wellknown.MySQLProxy: true,
}

// KnownInboundFilters refuses a chain with a network filter the envoy model does
// not know (ext_authz for a CUSTOM policy, connection_limit, a Wasm or
// EnvoyFilter addition): it may hold or close the connection, and a guess
// would be a verdict without evidence.
func KnownInboundFilters(fc *listener.FilterChain, label string) error {
	for _, f := range fc.GetFilters() {
		if !inboundFilterRoles[NetworkFilterName(f)] && !IsNetworkRBAC(f) {
			return fmt.Errorf("inbound chain %s has network filter %s (%s), which firstbyte's Envoy model does not model: teach envoy/inbound.go what it does before a server-first greeting", label, f.GetName(), f.GetTypedConfig().GetTypeUrl())
		}
	}
	return nil
}

// InboundChainDecision is virtualInbound's filter chain for a plaintext
// connection and what its network filters do: what the local target's
// emulated server sidecar needs to act on a real socket.
type InboundChainDecision struct {
	// NoChain is true when no filter chain takes the connection: Envoy
	// closes it.
	NoChain     bool
	FilterChain string
	// TerminatesTLS is true when the chain has a transport socket (Istio
	// mTLS): a plaintext connection into it waits for a ClientHello.
	TerminatesTLS bool
	// NetworkFilter is the chain's terminal filter: tcp_proxy or the HTTP
	// connection manager.
	NetworkFilter string
	Cluster       string
	// RBAC names the chain's network RBAC filters (AuthorizationPolicy).
	RBAC []string
	// ConnectOnData is tcp_proxy's upstream_connect_mode
	// ON_DOWNSTREAM_DATA: it dials only after the client's first bytes.
	ConnectOnData bool
}

// ChooseInboundChain picks virtualInbound's filter chain for a plaintext
// connection to dst carrying what the inspectors detected, with Istio's
// simulation in inbound call mode. A connection no chain takes gets a
// decision without a network filter: Envoy closes it.
func (c *Config) ChooseInboundChain(dst netip.AddrPort, detected ClientBytes) (InboundChainDecision, error) {
	var d InboundChainDecision
	res, err := c.SimulateInbound(InboundCall{Destination: dst, TLS: simulation.Plaintext}, detected)
	if err != nil {
		return d, err
	}
	l := c.Listener(res.ListenerMatched)
	switch {
	case l == nil:
		return d, fmt.Errorf("no inbound listener takes %s", dst)
	case errors.Is(res.Error, simulation.ErrNoFilterChain):
		d.NoChain = true
		return d, nil
	case errors.Is(res.Error, simulation.ErrMultipleFilterChain):
		return d, fmt.Errorf("listener %s, plaintext connection to %s: %w", l.GetName(), dst, res.Error)
	}
	fc := c.Chain(l.GetName(), res.FilterChainMatched)
	if fc == nil {
		return d, fmt.Errorf("the simulation matched chain %q of %s, which is not there", res.FilterChainMatched, l.GetName())
	}
	_, names := c.Simulation()
	d.FilterChain = ChainLabel(res.FilterChainMatched, names, l)
	d.TerminatesTLS = fc.GetTransportSocket() != nil
	if err := KnownInboundFilters(fc, d.FilterChain); err != nil {
		return d, err
	}
	for _, f := range fc.GetFilters() {
		switch name := NetworkFilterName(f); {
		case IsNetworkRBAC(f):
			d.RBAC = append(d.RBAC, f.GetName())
		case name == wellknown.TCPProxy && d.NetworkFilter == "":
			tp := &tcpproxy.TcpProxy{}
			if err := f.GetTypedConfig().UnmarshalTo(tp); err != nil {
				return d, fmt.Errorf("decoding tcp_proxy on %s / %s: %w", l.GetName(), d.FilterChain, err)
			}
			d.NetworkFilter, d.Cluster = name, tp.GetCluster()
			d.ConnectOnData = tp.GetUpstreamConnectMode() == tcpproxy.UpstreamConnectMode_ON_DOWNSTREAM_DATA
		case name == wellknown.HTTPConnectionManager && d.NetworkFilter == "":
			d.NetworkFilter, d.Cluster = name, res.ClusterMatched
		}
	}
	if d.NetworkFilter == "" {
		return d, fmt.Errorf("inbound chain %s of %s has neither tcp_proxy nor an HTTP connection manager: the envoy model cannot tell what it does", d.FilterChain, l.GetName())
	}
	return d, nil
}

// UpstreamSource is the address a cluster binds its upstream sockets to
// (upstream_bind_config); invalid when it binds none. Istio binds inbound
// clusters to 127.0.0.6, which its iptables rules let through.
func (c *Config) UpstreamSource(clusterName string) (netip.Addr, error) {
	cl := c.Cluster(clusterName)
	if cl == nil {
		return netip.Addr{}, fmt.Errorf("cluster %s is not in the configuration", clusterName)
	}
	sa := cl.GetUpstreamBindConfig().GetSourceAddress()
	if sa == nil {
		return netip.Addr{}, nil
	}
	ip, err := netip.ParseAddr(sa.GetAddress())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("cluster %s: upstream_bind_config address %q: %w", clusterName, sa.GetAddress(), err)
	}
	return ip, nil
}
