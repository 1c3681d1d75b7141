package envoy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/firstbyte/firstbyte/scenarios"
	"google.golang.org/protobuf/encoding/protojson"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pkg/wellknown"
)

// Envoy decides a redirected connection in two halves, with the client's
// first bytes (or the listener filter timeout) in between. Evaluate
// composes them; an emulated data plane (the local target) calls them
// around real socket reads.

// ListenerDecision is the first half, before any client byte: the listener
// that takes the connection and what its listener filters wait for. Its
// ListenerFilters say what comes of the wait (ListenerFilters.Wait).
type ListenerDecision struct {
	// Listener is the listener's name; empty when nothing accepts the
	// connection (no listener for it and no virtualOutbound).
	Listener string
	// ListenerFilters are Listener's listener filters for the
	// destination's port, or, when Accepting is set, both listeners'
	// together (HandOffWait): what holds a silent client, for how long,
	// and whether a filter chain of Listener is chosen after.
	ListenerFilters
	// Accepting is the listener that accepted the redirected connection
	// (virtualOutbound) when its own listener filters wait for client bytes
	// before it hands the connection to Listener, as under
	// ALLOW_ANY_DYNAMIC_DNS; empty otherwise. AcceptingWaiting are those
	// filters.
	Accepting        string
	AcceptingWaiting []string
	// Decider is the listener whose listener filter timeout ends a silent
	// client's wait: Listener, or Accepting.
	Decider string
	Trace   []Step
	// listenerWaiting are Listener's own waiting filters.
	listenerWaiting []string
}

// ChooseListener picks the listener for a connection to dst as Envoy's
// virtualOutbound hand-off does: the listener for dst exactly, else
// 0.0.0.0 on dst's port, else virtualOutbound itself (Istio's simulation
// decides), and reads its listener filters for dst's port.
func (c *Config) ChooseListener(dst netip.AddrPort) (ListenerDecision, error) {
	var d ListenerDecision
	res, err := c.simulate(dst, NoClientBytes)
	if err != nil {
		return d, err
	}
	if errors.Is(res.Error, simulation.ErrNoListener) {
		d.Trace = append(d.Trace, Step{Stage: "listener", Decision: fmt.Sprintf("no listener for %s and no virtualOutbound: nothing accepts the redirected connection", dst)})
		return d, nil
	}
	l := c.Listener(res.ListenerMatched)
	if l == nil {
		return d, fmt.Errorf("choosing a listener for %s: the simulation matched listener %q, which the configuration does not hold", dst, res.ListenerMatched)
	}
	d.Listener, d.Decider = l.GetName(), l.GetName()
	var accepting Inspection
	if v := c.VirtualOutbound(); v != nil && v.GetName() != l.GetName() {
		if accepting, err = Inspect(v, int(dst.Port())); err != nil {
			return d, err
		}
		if accepting.Waits() {
			d.Accepting, d.AcceptingWaiting = v.GetName(), accepting.Waiting
			d.Trace = append(d.Trace, Step{Stage: "listener", Decision: fmt.Sprintf("%s (use_original_dst) accepts the redirected connection and runs its own listener filters first: Envoy hands a connection to the original destination's listener only after all of them finished (active_tcp_socket.cc, continueFilterChain → newConnection)", v.GetName())})
			for _, n := range accepting.Notes {
				d.Trace = append(d.Trace, Step{Stage: "listener filters", Decision: v.GetName() + ": " + n})
			}
			d.Trace = append(d.Trace, Step{Stage: "listener filters", Decision: fmt.Sprintf("%s: listener_filters_timeout %s, continue_on_listener_filters_timeout %v: on the timeout without continue Envoy closes the socket before any hand-off (ActiveTcpSocket::onTimeout → unlink)", v.GetName(), accepting.Timeout, accepting.ContinueOnTimeout)})
		}
	}
	reason := listenerReason(c, l, dst)
	if d.Accepting != "" {
		reason = "only once a client byte has decided " + d.Accepting + "'s listener filters (or the timeout, with continue): " + reason
	}
	d.Trace = append(d.Trace, Step{Stage: "listener", Decision: reason})
	in, err := Inspect(l, int(dst.Port()))
	if err != nil {
		return d, err
	}
	for _, n := range in.Notes {
		d.Trace = append(d.Trace, Step{Stage: "listener filters", Decision: n})
	}
	d.ListenerFilters, d.listenerWaiting = in.ListenerFilters, in.Waiting
	if d.Accepting != "" {
		var acceptingDecides bool
		d.ListenerFilters, acceptingDecides = HandOffWait(accepting.ListenerFilters, in.ListenerFilters)
		if acceptingDecides {
			d.Decider = d.Accepting
		}
	}
	return d, nil
}

// VirtualOutbound is the listener iptables redirects outbound connections
// to: the one with use_original_dst (Istio builds only virtualOutbound so,
// pilot/pkg/networking/core/listener_builder.go
// buildVirtualOutboundListener).
func (c *Config) VirtualOutbound() *listener.Listener {
	for _, l := range c.Listeners {
		if l.GetUseOriginalDst().GetValue() {
			return l
		}
	}
	return nil
}

// WaitersText names what waits for a silent client's bytes, with the
// listener when a listener before the hand-off waits.
func (d ListenerDecision) WaitersText() string {
	if d.Accepting == "" {
		return strings.Join(d.Waiting, " and ")
	}
	var parts []string
	parts = append(parts, fmt.Sprintf("%s's %s (before the hand-off)", d.Accepting, strings.Join(d.AcceptingWaiting, " and ")))
	if len(d.listenerWaiting) > 0 && d.Decider == d.Listener {
		parts = append(parts, fmt.Sprintf("%s's %s", d.Listener, strings.Join(d.listenerWaiting, " and ")))
	}
	return strings.Join(parts, " then ")
}

// ChainDecision is the second half: the filter chain for what the
// inspectors detected, and its network filter.
type ChainDecision struct {
	// FilterChain is the chain's name, or its position when unnamed.
	FilterChain string
	// NetworkFilter is wellknown.TCPProxy or wellknown.HTTPConnectionManager;
	// empty when no chain matches, and Envoy closes the connection.
	NetworkFilter string
	// Cluster is tcp_proxy's cluster, or the cluster an HTTP request is
	// routed to.
	Cluster string
	// RouteError is set when an HTTP request finds no route (Envoy answers
	// with an HTTP error).
	RouteError error
	// RouteConfig names the HTTP connection manager's route configuration.
	RouteConfig string
	Trace       []Step
}

// ChooseChain picks the filter chain of dst's listener for what the
// listener filters detected: detected is NoClientBytes after a timeout
// (nothing detected: transport raw_buffer, no application protocol),
// OpaqueBytes for bytes that are neither HTTP nor TLS, HTTPRequest for
// HTTP/1.1.
func (c *Config) ChooseChain(dst netip.AddrPort, detected ClientBytes) (ChainDecision, error) {
	var d ChainDecision
	res, err := c.simulate(dst, detected)
	if err != nil {
		return d, err
	}
	l := c.Listener(res.ListenerMatched)
	switch {
	case l == nil:
		return d, fmt.Errorf("choosing a filter chain for %s: no listener takes it", dst)
	case errors.Is(res.Error, simulation.ErrNoFilterChain):
		d.Trace = append(d.Trace, Step{Stage: "filter chain", Decision: fmt.Sprintf("no filter chain of %s matches and it has no default chain", l.GetName())})
		return d, nil
	case errors.Is(res.Error, simulation.ErrMultipleFilterChain):
		return d, fmt.Errorf("choosing a filter chain for %s: listener %s has several equally good filter chains for this connection: Envoy would reject this configuration", dst, l.GetName())
	}
	fc := c.Chain(l.GetName(), res.FilterChainMatched)
	if fc == nil {
		return d, fmt.Errorf("choosing a filter chain for %s: the simulation matched chain %q of %s, which is not there", dst, res.FilterChainMatched, l.GetName())
	}
	_, names := c.Simulation()
	d.FilterChain = ChainLabel(res.FilterChainMatched, names, l)
	d.Trace = append(d.Trace, Step{Stage: "filter chain", Decision: ChainReason(l, res.FilterChainMatched, fc, d.FilterChain)})
	for _, f := range fc.GetFilters() {
		switch NetworkFilterName(f) {
		case wellknown.HTTPConnectionManager:
			d.NetworkFilter, d.RouteConfig = wellknown.HTTPConnectionManager, res.RouteConfigMatched
			if detected == HTTPRequest {
				if res.Error != nil {
					d.RouteError = res.Error
				}
				d.Cluster = res.ClusterMatched
				d.Trace = append(d.Trace, Step{Stage: "network filter", Decision: fmt.Sprintf("HTTP connection manager, route config %s, virtual host %s, route %s → cluster %s", res.RouteConfigMatched, res.VirtualHostMatched, res.RouteMatched, res.ClusterMatched)})
			}
			return d, nil
		case wellknown.TCPProxy:
			d.NetworkFilter = wellknown.TCPProxy
			return d, c.TCPProxy(&d, f, l)
		}
	}
	return d, fmt.Errorf("choosing a filter chain for %s: chain %s of %s has neither tcp_proxy nor an HTTP connection manager: the envoy model cannot tell what it does", dst, d.FilterChain, l.GetName())
}

func (c *Config) TCPProxy(d *ChainDecision, f *listener.Filter, l *listener.Listener) error {
	tp := &tcpproxy.TcpProxy{}
	if err := f.GetTypedConfig().UnmarshalTo(tp); err != nil {
		return fmt.Errorf("decoding tcp_proxy on %s / %s: %w", l.GetName(), d.FilterChain, err)
	}
	d.Cluster = tp.GetCluster()
	if w := tp.GetWeightedClusters(); w != nil && d.Cluster == "" {
		var all []string
		for _, c := range w.GetClusters() {
			all = append(all, fmt.Sprintf("%s (weight %d)", c.GetName(), c.GetWeight()))
		}
		if len(all) == 0 {
			return fmt.Errorf("tcp_proxy on %s / %s has empty weighted_clusters", l.GetName(), d.FilterChain)
		}
		d.Cluster = w.GetClusters()[0].GetName()
		d.Trace = append(d.Trace, Step{Stage: "network filter", Decision: fmt.Sprintf("tcp_proxy with weighted clusters %s: following the first", strings.Join(all, ", "))})
		return nil
	}
	d.Trace = append(d.Trace, Step{Stage: "network filter", Decision: fmt.Sprintf("tcp_proxy → cluster %s: %s", d.Cluster, c.tcpProxyDials(d.Cluster))})
	return nil
}

// tcpProxyDials says what tcp_proxy does once its chain is chosen: it
// dials the cluster at once, and only a cluster with an upstream lets the
// server's greeting flow back (BlackHoleCluster has none).
func (c *Config) tcpProxyDials(cluster string) string {
	if outcome, _ := ClusterOutcome(c, cluster); outcome != scenarios.Connected {
		return "it would dial the upstream as soon as the chain is chosen, but the cluster has no upstream to dial (see below), so no greeting can come back"
	}
	return "it dials the upstream as soon as the chain is chosen, so the server's greeting flows back"
}

// ErrNoUpstream marks a cluster tcp_proxy cannot dial at all (missing, or
// without a usable endpoint, like BlackHoleCluster): Envoy accepts the
// connection and closes it.
var ErrNoUpstream = errors.New("no upstream")

// Upstream is where tcp_proxy to a cluster dials for a connection to dst:
// dst itself for an ORIGINAL_DST cluster (PassthroughCluster), else the
// cluster's first usable endpoint. An error means Envoy has no upstream
// and closes the connection.
func (c *Config) Upstream(clusterName string, dst netip.AddrPort) (netip.AddrPort, error) {
	cl := c.Cluster(clusterName)
	if cl == nil {
		return netip.AddrPort{}, fmt.Errorf("%w: cluster %s is not in the configuration", ErrNoUpstream, clusterName)
	}
	to, _, err := c.upstreamEndpoint(cl, dst)
	if err == nil && !to.IsValid() {
		err = fmt.Errorf("cluster %s has no usable endpoint with an IP address", clusterName)
	}
	return to, err
}

// ErrDynamicForwardProxy marks a dynamic forward proxy cluster (Istio's
// AllowAnyDynamicDNSCluster under ALLOW_ANY_DYNAMIC_DNS): it has no
// endpoints of its own; Envoy resolves the HTTP request's Host by DNS and
// dials the answer on the Host's port (envoyproxy/envoy
// source/extensions/clusters/dynamic_forward_proxy/cluster.cc, host
// from the request's :authority via the DFP HTTP filter). Its upstream is
// a name, not an address in the configuration.
var ErrDynamicForwardProxy = errors.New("dynamic forward proxy cluster: Envoy dials the request's Host, resolved by DNS")

// dynamicForwardProxyCluster is the cluster_type name of Envoy's dynamic
// forward proxy cluster.
const dynamicForwardProxyCluster = "envoy.clusters.dynamic_forward_proxy"

// upstreamEndpoint is Upstream with the endpoint it picked (nil for an
// ORIGINAL_DST cluster), whose metadata chooses the transport socket.
func (c *Config) upstreamEndpoint(cl *cluster.Cluster, dst netip.AddrPort) (netip.AddrPort, *endpoint.LbEndpoint, error) {
	if cl.GetClusterType().GetName() == dynamicForwardProxyCluster {
		return netip.AddrPort{}, nil, fmt.Errorf("%w: cluster %s", ErrDynamicForwardProxy, cl.GetName())
	}
	if cl.GetType() == cluster.Cluster_ORIGINAL_DST && cl.GetClusterType() == nil {
		return dst, nil, nil
	}
	a := cl.GetLoadAssignment()
	if cl.GetType() == cluster.Cluster_EDS {
		if !c.EndpointsKnown {
			return netip.AddrPort{}, nil, fmt.Errorf("cluster %s is EDS and the configuration has no endpoints (a config_dump taken without ?include_eds): its endpoint, and so the transport socket Envoy picks for it, is unknown", cl.GetName())
		}
		a = c.LoadAssignment(cl)
	}
	eps := UsableLbEndpoints(a)
	for _, e := range eps {
		sa := e.GetEndpoint().GetAddress().GetSocketAddress()
		ip, err := netip.ParseAddr(sa.GetAddress())
		if err != nil {
			continue // a DNS name: not dialled by address
		}
		return netip.AddrPortFrom(ip, uint16(sa.GetPortValue())), e, nil
	}
	if len(eps) > 0 {
		// Only DNS names (a ServiceEntry with DNS resolution): the
		// address is resolved at run time, the metadata is known.
		return netip.AddrPort{}, eps[0], nil
	}
	return netip.AddrPort{}, nil, fmt.Errorf("%w: cluster %s has no usable endpoint", ErrNoUpstream, cl.GetName())
}

// RouteHTTP routes one HTTP/1.1 request on a connection to dst, by its
// Host header and path, through the HTTP connection manager of the chain
// the request lands on, and returns the cluster. The local target's
// emulator calls it for each request it proxies.
func (c *Config) RouteHTTP(dst netip.AddrPort, host, path string) (string, error) {
	res, err := c.simulateCall(dst, simulation.Call{Protocol: simulation.HTTP, HostHeader: host, Path: path})
	if err != nil {
		return "", err
	}
	if res.Error != nil {
		return "", fmt.Errorf("routing HTTP %s%s on %s: %w", host, path, dst, res.Error)
	}
	if res.ClusterMatched == "" {
		return "", fmt.Errorf("routing HTTP %s%s on %s: the route has no cluster (listener %s, route %s)", host, path, dst, res.ListenerMatched, res.RouteMatched)
	}
	return res.ClusterMatched, nil
}

// simulate runs Istio's simulation for a connection to dst carrying what
// the inspectors detected.
func (c *Config) simulate(dst netip.AddrPort, detected ClientBytes) (res simulation.Result, err error) {
	call := simulation.Call{Protocol: simulation.TCP}
	if detected == HTTPRequest {
		call.Protocol, call.HostHeader = simulation.HTTP, dst.String()
	}
	return c.simulateCall(dst, call)
}

// simulateCall completes an outbound plaintext call to dst and runs it.
func (c *Config) simulateCall(dst netip.AddrPort, call simulation.Call) (res simulation.Result, err error) {
	call.Address, call.Port = dst.Addr().String(), int(dst.Port())
	call.TLS, call.CallMode = simulation.Plaintext, simulation.CallModeOutbound
	return c.runSimulation(call)
}

// simulationRuns counts runs of Istio's traffic simulation in this
// process.
var simulationRuns atomic.Int64

// SimulationRuns is how many times Istio's traffic simulation has run in
// this process. The local target's tests read it around a probe: its
// emulated sidecars decide before the wire, so a probe must run none.
func SimulationRuns() int64 { return simulationRuns.Load() }

// runSimulation runs Istio's traffic simulation for a complete call.
func (c *Config) runSimulation(call simulation.Call) (res simulation.Result, err error) {
	simulationRuns.Add(1)
	sim, _ := c.Simulation()
	if call.CallMode == simulation.CallModeOutbound && call.Port > 0 {
		sim = c.outboundSimulation(uint32(call.Port))
	}
	defer func() {
		if r := recover(); r != nil { // the simulation fails its *testing.T on malformed config
			err = fmt.Errorf("Istio's traffic simulation failed on %s:%d, malformed configuration? %v", call.Address, call.Port, r)
		}
	}()
	return sim.Run(call), nil
}

func listenerReason(cfg *Config, l *listener.Listener, dst netip.AddrPort) string {
	virtual := cfg.VirtualOutbound()
	handOff := "iptables redirected the connection to the sidecar"
	if virtual != nil {
		handOff = fmt.Sprintf("%s (use_original_dst) accepts the redirected connection and hands it to the listener for the original destination %s", virtual.GetName(), dst)
	}
	a := l.GetAddress().GetSocketAddress()
	switch {
	case a.GetAddress() == dst.Addr().String() && a.GetPortValue() == uint32(dst.Port()):
		return fmt.Sprintf("%s: %s matches %s exactly", handOff, l.GetName(), dst)
	case a.GetPortValue() == uint32(dst.Port()):
		return fmt.Sprintf("%s: no listener for %s itself, so the wildcard listener %s (%s:%d) takes every address on port %d", handOff, dst, l.GetName(), a.GetAddress(), a.GetPortValue(), dst.Port())
	default:
		return fmt.Sprintf("%s: no listener for %s or 0.0.0.0:%d, so %s keeps the connection and matches its own filter chains", handOff, dst, dst.Port(), l.GetName())
	}
}

func ChainReason(l *listener.Listener, simName string, fc *listener.FilterChain, label string) string {
	if d := l.GetDefaultFilterChain(); d != nil && uniqueChainName(l, -1, d) == simName {
		return fmt.Sprintf("no chain's filter_chain_match fits, so the default chain: %s", label)
	}
	m := "{} (matches anything)"
	if fcm := fc.GetFilterChainMatch(); fcm != nil {
		if j, err := (protojson.MarshalOptions{}).Marshal(fcm); err == nil && string(j) != "{}" {
			m = string(j)
		}
	}
	return fmt.Sprintf("%s, filter_chain_match %s", label, m)
}

func NetworkFilterName(f *listener.Filter) string {
	url := f.GetTypedConfig().GetTypeUrl()
	switch {
	case f.GetName() == wellknown.HTTPConnectionManager || strings.Contains(url, ".http_connection_manager."):
		return wellknown.HTTPConnectionManager
	case f.GetName() == wellknown.TCPProxy || strings.Contains(url, ".tcp_proxy."):
		return wellknown.TCPProxy
	}
	return f.GetName()
}
