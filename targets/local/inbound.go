package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/predict/capture"
	"github.com/firstbyte/firstbyte/targets/local/dataplane"
	"github.com/firstbyte/firstbyte/targets/local/netlab"
	"istio.io/istio/pkg/wellknown"
)

// The inbound family on the local target: a server whose pod runs a
// sidecar gets its own network namespace at the server pod IP, Istio's own
// iptables rules for that pod (istio-iptables' builder: nat PREROUTING
// redirects inbound TCP to 15006) and an emulated virtualInbound on 15006
// that carries out what the envoy model decides from the server
// sidecar's listeners Istio generates. The world stands in for kube-proxy:
// it DNATs the Service ClusterIP to the pod, so a client without a sidecar
// reaches the pod as it would in a cluster.
//
// What is emulated is plaintext only: a connection that would arrive in
// Istio mTLS (auto mTLS, DestinationRule ISTIO_MUTUAL) needs istiod's
// workload certificates, and an AuthorizationPolicy needs the RBAC
// filter's enforcement; Requirement skips both with the need named.

// inboundPort is Envoy's inbound capture port (virtualInbound).
const inboundPort = 15006

// inboundPlanner adapts the envoy model's inbound half to the
// emulated server sidecar, as outboundPlanner does for the outbound half.
type inboundPlanner struct {
	cfg *envoy.Config
}

func (d inboundPlanner) inspect(dst netip.AddrPort) (envoy.ListenerDecision, error) {
	ld, err := d.cfg.ChooseInboundListener(dst)
	if err != nil {
		return envoy.ListenerDecision{}, err
	}
	if ld.Listener == "" {
		return envoy.ListenerDecision{}, fmt.Errorf("no inbound listener accepts %s", dst)
	}
	return ld, nil
}

func (d inboundPlanner) route(dst netip.AddrPort, detected envoy.ClientBytes) (dataplane.Action, error) {
	cd, err := d.cfg.ChooseInboundChain(dst, detected)
	if err != nil {
		return dataplane.Action{}, err
	}
	act := dataplane.Action{FilterChain: cd.FilterChain, Cluster: cd.Cluster}
	switch {
	case cd.NoChain:
		// No filter chain matches: Envoy closes the connection.
		act.Kind = dataplane.Close
		return act, nil
	case cd.TerminatesTLS:
		// Envoy would wait for a ClientHello on this plaintext
		// connection; the emulator has no TLS to wait in, so it refuses
		// rather than guess.
		return act, fmt.Errorf("%w: virtualInbound chain %s terminates Istio mTLS and the connection is plaintext, run it on kind or cluster", dataplane.ErrNotEmulated, cd.FilterChain)
	case len(cd.RBAC) > 0:
		return act, fmt.Errorf("%w: virtualInbound chain %s has %s (an AuthorizationPolicy), run it on kind or cluster", dataplane.ErrNotEmulated, cd.FilterChain, strings.Join(cd.RBAC, ", "))
	case cd.NetworkFilter != wellknown.TCPProxy:
		// An inbound HTTP connection manager would need its own upstream
		// binding per request; no catalogue scenario reaches one with
		// HTTP (server-first clients send none).
		return act, fmt.Errorf("%w: virtualInbound chain %s ends in %s: the emulated server sidecar relays TCP only", dataplane.ErrNotEmulated, cd.FilterChain, cd.NetworkFilter)
	case cd.ConnectOnData:
		return act, fmt.Errorf("%w: virtualInbound chain %s: tcp_proxy's upstream_connect_mode ON_DOWNSTREAM_DATA", dataplane.ErrNotEmulated, cd.FilterChain)
	}
	up, err := d.cfg.Upstream(cd.Cluster, dst)
	switch {
	case errors.Is(err, envoy.ErrNoUpstream):
		act.Kind = dataplane.Close
		return act, nil
	case err != nil:
		return act, fmt.Errorf("%w: %v", dataplane.ErrNotEmulated, err)
	}
	src, err := d.cfg.UpstreamSource(cd.Cluster)
	if err != nil {
		return act, err
	}
	act.Kind, act.Upstream, act.Source = dataplane.TCPProxy, up, src
	return act, nil
}

func (d inboundPlanner) routeHTTP(dst netip.AddrPort, host, path string) (string, netip.AddrPort, error) {
	return "", netip.AddrPort{}, fmt.Errorf("%w: HTTP request on %s for Host %q: the emulated server sidecar relays TCP only", dataplane.ErrNotEmulated, dst, host)
}

// deployServerPod builds the server pod: its namespace at fixtures.WorldServerIP, the
// server application on every address of the pod, the world's kube-proxy
// rule for the Service, and the emulated virtualInbound on 15006.
func (l *Local) deployServerPod(r *scenarioRun, b *fixtures.Bundle) error {
	pod, err := r.net.AddPod("server", fixtures.WorldServerIP)
	if err != nil {
		return err
	}
	r.server = pod
	port := uint16(b.Scenario.Port)
	if err := r.startProtocol(pod, b.Scenario.Protocol, []netip.AddrPort{netip.AddrPortFrom(netip.IPv4Unspecified(), port)}); err != nil {
		return err
	}
	if err := restore(r.net.World(), kubeProxyRules(b)); err != nil {
		return fmt.Errorf("kube-proxy rules in the world: %w", err)
	}
	ln, err := pod.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", inboundPort))
	if err != nil {
		return fmt.Errorf("emulated server sidecar listener: %w", err)
	}
	r.inbound = &dataplane.Proxy{
		Decider: current{&r.mu, &r.serverDecisions},
		Dial:    pod.Dialer(proxyUID),
		DialFrom: func(ctx context.Context, src netip.Addr, network, addr string) (net.Conn, error) {
			return pod.DialerFrom(proxyUID, src)(ctx, network, addr)
		},
		Record: func(rec dataplane.ConnRecord) { r.record(serverSide, rec) },
	}
	go r.inbound.Serve(ln)
	return nil
}

// kubeProxyRules DNAT the server Service's ClusterIP and port to the
// server pod, as kube-proxy's iptables mode does (one rule: one endpoint).
func kubeProxyRules(b *fixtures.Bundle) string {
	vip, to := kubeProxyTarget(b)
	return fmt.Sprintf("*nat\n-A PREROUTING -d %s/32 -p tcp -m tcp --dport %d -j DNAT --to-destination %s\nCOMMIT\n", vip.Addr(), vip.Port(), to)
}

// kubeProxyTarget is the server Service's ClusterIP and port and the
// server pod endpoint kube-proxy DNATs it to.
func kubeProxyTarget(b *fixtures.Bundle) (vip, to netip.AddrPort) {
	vip = netip.AddrPortFrom(fixtures.WorldServerClusterIP, uint16(b.Scenario.Port))
	to, _, ok := predict.ServerBackend(b, fixtures.WorldServerIP, vip)
	if !ok {
		to = netip.AddrPortFrom(fixtures.WorldServerIP, vip.Port())
	}
	return vip, to
}

// restore loads iptables-restore input into a namespace.
func restore(h *netlab.Host, rules string) error {
	cmd := exec.Command("ip", "netns", "exec", h.Name, "iptables-restore")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore in %s: %v: %s", h.Name, err, out)
	}
	return nil
}

// configureServer decides, from the listeners Istio generates for the
// bundle's server pod, what the emulated server sidecar does with every
// connection that can arrive (serverArrivals), and programs the pod's
// istio-iptables rules.
func (l *Local) configureServer(r *scenarioRun, b *fixtures.Bundle, client *decisionTable) error {
	if r.server == nil {
		return nil
	}
	pod, err := predict.PodOf(b, predict.ServerPod)
	if err != nil {
		return err
	}
	if !pod.Injected {
		return fmt.Errorf("the server pod lost its sidecar between states (%s): the local target builds the server pod once", pod.Why)
	}
	cfg, err := l.predictor.ServerSidecar(b)
	if err != nil {
		return err
	}
	pod.Capture.IP = fixtures.WorldServerIP
	rules, err := capture.RestoreRules(pod.Capture)
	if err != nil {
		return err
	}
	r.mu.Lock()
	same := rules == r.serverRules
	r.mu.Unlock()
	if !same {
		if err := restore(r.server, rules); err != nil {
			return fmt.Errorf("programming istio-iptables' rules for the server pod: %w", err)
		}
	}
	decisions := decide(serverSide, inboundPlanner{cfg: cfg}, serverArrivals(b, client), nil)
	r.mu.Lock()
	r.serverDecisions, r.serverCfg, r.serverRules = decisions, cfg, rules
	r.mu.Unlock()
	return nil
}

// serverArrivals are the destinations a connection can have when it
// reaches the server pod: the Service's endpoint after the world's
// kube-proxy DNAT (a client without a sidecar), and every server pod
// address the client sidecar's decisions relay to.
func serverArrivals(b *fixtures.Bundle, client *decisionTable) []netip.AddrPort {
	_, to := kubeProxyTarget(b)
	out := []netip.AddrPort{to}
	for _, act := range client.actions() {
		if act.Kind == dataplane.TCPProxy && act.Upstream.Addr() == fixtures.WorldServerIP {
			out = append(out, act.Upstream)
		}
	}
	slices.SortFunc(out, netip.AddrPort.Compare)
	return slices.Compact(out)
}

// requirement names what an inbound scenario needs that the emulator does
// not provide, in either state; "" when it runs here. Whether the client
// sidecar would speak Istio mTLS comes from Istio's generated cluster
// (predict's walk: Prediction.Transport), not from the scenario's
// settings.
func (l *Local) requirement(b *fixtures.Bundle) string {
	if a := b.Scenario.Ambient; a != nil {
		// Every ambient hop between two mesh pods is HBONE (mTLS with
		// istiod's certificates), and relaying it as plaintext would claim
		// a path that does not exist; so even rows whose client is outside
		// the mesh are skipped rather than half emulated.
		why := "needs ztunnel/HBONE (ambient mode: ztunnel and the waypoint tunnel every mesh hop in mTLS with istiod's workload certificates)"
		if b.Scenario.Collider.Present {
			// The collision lives inside the waypoint's Envoy (its
			// main_internal listener), which the emulator does not run.
			why += " and a waypoint (the collider " + b.Scenario.Collider.String() + " is bound to the server's waypoint, where the collision happens)"
		}
		return why + ", which the local emulator does not provide: run it on kind (the ambient job) or cluster; predict covers it offline"
	}
	sec := b.Scenario.Security
	if sec.IsZero() {
		return ""
	}
	if sec.AuthorizationPolicy != "" {
		return "needs the server sidecar's RBAC filter (AuthorizationPolicy " + sec.AuthorizationPolicy + ") and Istio mTLS identities, which the local emulator does not provide: run it on kind or cluster; predict covers it offline"
	}
	for _, state := range []*fixtures.Bundle{baseBundle(b), b} {
		pr, err := l.predictor.PredictBundle(state)
		if err != nil {
			return "" // Deploy reports the error
		}
		if pr.Encrypted() {
			return fmt.Sprintf("needs Istio mTLS (the client sidecar's cluster originates %s; istiod's workload certificates), which the local emulator does not provide: run it on kind or cluster; predict covers it offline", pr.Transport)
		}
	}
	return ""
}
