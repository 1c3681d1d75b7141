package predict

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/firstbyte/firstbyte/scenarios"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pkg/wellknown"
)

// The inbound walk: a connection iptables redirected to a server pod's
// sidecar (nat PREROUTING → 15006) goes to virtualInbound, whose listener
// filters may wait for client bytes before a filter chain is chosen by
// destination port, transport (raw_buffer or tls) and ALPN. Istio's
// simulation (inbound call mode) picks the listener and chain; predict
// adds who speaks first, what the inspectors do meanwhile, what a chain
// does with bytes in the wrong transport, the RBAC filter, and when it
// decides.

// ChooseInboundListener picks the listener for a connection to dst that
// iptables redirected to the sidecar's inbound port, as Istio's
// simulation does in inbound call mode (virtualInbound), and reads its
// listener filters for dst's port.
func (c *EnvoyConfig) ChooseInboundListener(dst netip.AddrPort) (ListenerDecision, error) {
	var d ListenerDecision
	res, err := c.runSimulation(simulation.Call{Address: dst.Addr().String(), Port: int(dst.Port()), Protocol: simulation.TCP, CallMode: simulation.CallModeInbound})
	if err != nil {
		return d, err
	}
	if errors.Is(res.Error, simulation.ErrNoListener) {
		d.Trace = append(d.Trace, Step{Stage: "inbound listener", Decision: "the server sidecar has no virtualInbound listener: nothing accepts the redirected connection"})
		return d, nil
	}
	l := c.listener(res.ListenerMatched)
	if l == nil {
		return d, fmt.Errorf("choosing the inbound listener for %s: the simulation matched %q, which the configuration does not hold", dst, res.ListenerMatched)
	}
	d.Listener = l.GetName()
	a := l.GetAddress().GetSocketAddress()
	d.Trace = append(d.Trace, Step{Stage: "inbound listener", Decision: fmt.Sprintf("%s (%s:%d, where iptables redirects inbound TCP) takes the connection; its original_dst listener filter restores the original destination %s, which its filter chains match on", l.GetName(), a.GetAddress(), a.GetPortValue(), dst)})
	in, err := inspect(l, int(dst.Port()))
	if err != nil {
		return d, err
	}
	for _, n := range in.notes {
		d.Trace = append(d.Trace, Step{Stage: "inbound listener filters", Decision: l.GetName() + ": " + n})
	}
	d.Waiting, d.Timeout, d.ContinueOnTimeout = in.waiting, in.timeout, in.continueOnTimeout
	return d, nil
}

// simulateInbound runs Istio's simulation for an arrival in inbound call
// mode, carrying what the inspectors detected.
func (c *EnvoyConfig) simulateInbound(a Arrival, detected ClientBytes) (simulation.Result, error) {
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
		if fc := c.chain(res.ListenerMatched, res.FilterChainMatched); fc != nil && slices.Contains(fc.GetFilterChainMatch().GetApplicationProtocols(), alpn) {
			return res, nil
		}
		if i == 0 {
			first = res
		}
	}
	return first, nil
}

// EvaluateInbound walks a connection the server pod's iptables
// redirected to its sidecar: virtualInbound, its listener filters and
// their timeout, the filter chain, the transport the chain expects, the
// network filters (RBAC, then tcp_proxy or the HTTP connection manager)
// and the inbound cluster.
func EvaluateInbound(cfg *EnvoyConfig, a Arrival) (Prediction, error) {
	var p Prediction
	p.addConfig(cfg)
	p.add("arrival", "%s", a)

	ld, err := cfg.ChooseInboundListener(a.Destination)
	p.Trace = append(p.Trace, ld.Trace...)
	if err != nil {
		return p, err
	}
	if ld.Listener == "" {
		p.Outcome = scenarios.Refused
		p.add("outcome", "the connection to the server sidecar's inbound port is refused")
		return p, nil
	}
	p.Inbound = &InboundPath{Arrived: a.arrived(), Listener: ld.Listener}
	detected, after, done := inboundInspectors(&p, ld, a)
	if done {
		return p, nil
	}
	return p, inboundChain(&p, cfg, a, detected, after)
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
func (c *EnvoyConfig) ChooseInboundChain(dst netip.AddrPort, detected ClientBytes) (InboundChainDecision, error) {
	var d InboundChainDecision
	res, err := c.simulateInbound(Arrival{Destination: dst, TLS: simulation.Plaintext, AppSends: detected}, detected)
	if err != nil {
		return d, err
	}
	l := c.listener(res.ListenerMatched)
	switch {
	case l == nil:
		return d, fmt.Errorf("no inbound listener takes %s", dst)
	case errors.Is(res.Error, simulation.ErrNoFilterChain):
		d.NoChain = true
		return d, nil
	case errors.Is(res.Error, simulation.ErrMultipleFilterChain):
		return d, fmt.Errorf("listener %s, plaintext connection to %s: %w", l.GetName(), dst, res.Error)
	}
	fc := c.chain(l.GetName(), res.FilterChainMatched)
	if fc == nil {
		return d, fmt.Errorf("the simulation matched chain %q of %s, which is not there", res.FilterChainMatched, l.GetName())
	}
	_, names := c.simulation()
	d.FilterChain = chainLabel(res.FilterChainMatched, names, l)
	d.TerminatesTLS = fc.GetTransportSocket() != nil
	if err := knownInboundFilters(fc, d.FilterChain); err != nil {
		return d, err
	}
	for _, f := range fc.GetFilters() {
		switch name := networkFilterName(f); {
		case isNetworkRBAC(f):
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
		return d, fmt.Errorf("inbound chain %s of %s has neither tcp_proxy nor an HTTP connection manager: predict cannot tell what it does", d.FilterChain, l.GetName())
	}
	return d, nil
}

// UpstreamSource is the address a cluster binds its upstream sockets to
// (upstream_bind_config); invalid when it binds none. Istio binds inbound
// clusters to 127.0.0.6, which its iptables rules let through.
func (c *EnvoyConfig) UpstreamSource(clusterName string) (netip.Addr, error) {
	cl := c.cluster(clusterName)
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
