package local

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/targets/local/dataplane"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pkg/wellknown"
)

// outboundPlanner adapts the envoy model's two halves (listener,
// then filter chain) to the emulated client sidecar: the model —
// Istio's simulation over Istio's generated listeners — makes every
// decision, before the wire (decide builds the table the emulator looks
// them up in), and the emulator does the socket work.
type outboundPlanner struct {
	cfg *envoy.Config
	// plaintextPeers are the pod addresses whose sidecar the local world
	// stands in for by handing plaintext to the application: the
	// collider, whose sidecar would terminate the client sidecar's Istio
	// mTLS (the collider check asserts only that its HTTP answers). Any
	// other TLS origination is refused: relaying plaintext there would
	// fake what a server or its emulated sidecar sees.
	plaintextPeers []netip.Addr
	// names is the cluster DNS the local world stands in for: the
	// addresses a Service's name resolves to (the collider's ClusterIP).
	// A dynamic forward proxy cluster (ALLOW_ANY_DYNAMIC_DNS) dials the
	// HTTP request's Host resolved here.
	names map[string]netip.Addr
}

func (d outboundPlanner) inspect(dst netip.AddrPort) (envoy.ListenerDecision, error) {
	ld, err := d.cfg.ChooseListener(dst)
	if err != nil {
		return envoy.ListenerDecision{}, err
	}
	if ld.Listener == "" {
		return envoy.ListenerDecision{}, fmt.Errorf("no listener accepts %s", dst)
	}
	return ld, nil
}

// upstream is the endpoint tcp_proxy or the router dials for cluster, if
// the emulator can dial it as Envoy would: an error wrapping
// predict.ErrNoUpstream means Envoy has none; one wrapping
// dataplane.ErrNotEmulated that Envoy would originate TLS (or use an
// endpoint the emulator cannot reach by address).
func (d outboundPlanner) upstream(cluster string, dst netip.AddrPort) (netip.AddrPort, error) {
	leg, err := d.cfg.UpstreamLeg(cluster, dst)
	switch {
	case errors.Is(err, envoy.ErrNoUpstream):
		return netip.AddrPort{}, err
	case err != nil:
		return netip.AddrPort{}, fmt.Errorf("%w: %v", dataplane.ErrNotEmulated, err)
	case !leg.To.IsValid():
		return netip.AddrPort{}, fmt.Errorf("%w: cluster %s dials %s, which Envoy resolves by DNS", dataplane.ErrNotEmulated, cluster, leg.Socket)
	case leg.TLS == simulation.MTLS && slices.Contains(d.plaintextPeers, leg.To.Addr()):
		return leg.To, nil
	case leg.TLS != simulation.Plaintext:
		return netip.AddrPort{}, fmt.Errorf("%w: cluster %s originates %s (%s): the emulated sidecar relays plaintext only, run it on kind or cluster", dataplane.ErrNotEmulated, cluster, leg.TLS, leg.Socket)
	}
	return leg.To, nil
}

func (d outboundPlanner) route(dst netip.AddrPort, detected envoy.ClientBytes) (dataplane.Action, error) {
	cd, err := d.cfg.ChooseChain(dst, detected)
	if err != nil {
		return dataplane.Action{}, err
	}
	act := dataplane.Action{FilterChain: cd.FilterChain, Cluster: cd.Cluster}
	switch cd.NetworkFilter {
	case wellknown.TCPProxy:
		up, err := d.upstream(cd.Cluster, dst)
		switch {
		case errors.Is(err, envoy.ErrNoUpstream):
			// No upstream (BlackHoleCluster, no endpoints): Envoy
			// accepts and closes.
			act.Kind = dataplane.Close
			return act, nil
		case err != nil:
			return act, err
		}
		act.Kind, act.Upstream = dataplane.TCPProxy, up
	case wellknown.HTTPConnectionManager:
		// Each request is routed by routeHTTP, decided in advance for
		// the requests the scenario sends (decisionTable.routeFunc).
		act.Kind = dataplane.HTTP
	default:
		act.Kind = dataplane.Close
	}
	return act, nil
}

func (d outboundPlanner) routeHTTP(dst netip.AddrPort, host, path string) (string, netip.AddrPort, error) {
	cluster, err := d.cfg.RouteHTTP(dst, host, path)
	if err != nil {
		return cluster, netip.AddrPort{}, err
	}
	if leg, err := d.cfg.UpstreamLeg(cluster, dst); errors.Is(err, envoy.ErrDynamicForwardProxy) {
		if leg.TLS != simulation.Plaintext {
			return cluster, netip.AddrPort{}, fmt.Errorf("%w: cluster %s originates %s (%s): the emulated sidecar relays plaintext only, run it on kind or cluster", dataplane.ErrNotEmulated, cluster, leg.TLS, leg.Socket)
		}
		up, err := d.resolveHost(host)
		return cluster, up, err
	}
	up, err := d.upstream(cluster, dst)
	return cluster, up, err
}

// resolveHost is the dynamic forward proxy's DNS lookup of a Host header
// (name:port) in the local world's names.
func (d outboundPlanner) resolveHost(host string) (netip.AddrPort, error) {
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: Host %q has no port: the dynamic forward proxy would use the listener's, which the emulator does not model", dataplane.ErrNotEmulated, host)
	}
	ip, ok := d.names[name]
	n, perr := strconv.ParseUint(port, 10, 16)
	if !ok || perr != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: the dynamic forward proxy resolves Host %q by DNS, and the local world has no name for it (it knows the scenario's Service names only)", dataplane.ErrNotEmulated, host)
	}
	return netip.AddrPortFrom(ip, uint16(n)), nil
}
