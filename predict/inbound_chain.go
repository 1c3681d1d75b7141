package predict

import (
	"errors"
	"fmt"
	"strings"
	"time"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/scenarios"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pkg/wellknown"
)

// inboundInspectors applies the who-speaks-first rule to virtualInbound's
// listener filters: it returns what they detect and how long that takes,
// or done when the connection's fate is already sealed (a hang, or a close
// at the timeout).
func inboundInspectors(p *Prediction, ld envoy.ListenerDecision, a Arrival) (detected envoy.ClientBytes, after time.Duration, done bool) {
	// Nobody may recognise HTTP on this port: for chain matching the bytes
	// are then just bytes (no application protocol).
	first := ld.Recognised(a.firstBytes())
	unrecognisedHTTP := first != a.firstBytes()
	port := a.Destination.Port()
	waiting := strings.Join(ld.Waiting, " and ")
	verb := " waits"
	if len(ld.Waiting) > 1 {
		verb = " wait"
	}
	const stage = "inbound listener filters"
	wait := ld.Wait(first)
	switch {
	case !ld.Waits():
		p.add(stage, "%s: nothing waits for client bytes on port %d: the filter chain is chosen at once", ld.Listener, port)
		return first, 0, false
	case wait.Kind == envoy.HoldForever:
		p.Outcome = scenarios.Hung
		p.HeldBy = fmt.Sprintf("%s on the server's %s (listener_filters_timeout 0s)", waiting, ld.Listener)
		p.add(stage, "%s: %s%s for the client's first bytes on port %d, with %s; the plaintext client speaks only after the server's greeting and sends nothing", ld.Listener, waiting, verb, port, ld.TimeoutText())
		p.add("outcome", "deadlock: the server sidecar never chooses a filter chain, so it never connects the server application and no greeting comes: hung")
		return "", 0, true
	case wait.Kind == envoy.CloseAfter:
		p.Outcome, p.After = scenarios.Reset, wait.After
		p.add(stage, "%s: %s%s for the client's first bytes on port %d, with %s; the client sends nothing", ld.Listener, waiting, verb, port, ld.TimeoutText())
		p.add("outcome", "after %s Envoy closes the socket (continue_on_listener_filters_timeout is false): reset", wait.After)
		return "", 0, true
	case wait.Kind == envoy.ContinueAfter:
		p.add(stage, "%s: %s%s for the client's first bytes on port %d, with %s; the client sends nothing", ld.Listener, waiting, verb, port, ld.TimeoutText())
		p.add(stage, "after %s the inspectors give up and the filter chain is chosen with nothing detected: transport raw_buffer, no application protocol", wait.After)
		return wait.Detected, wait.After, false
	case first == envoy.TLSClientHello && ld.Inspects(wellknown.TLSInspector):
		p.add(stage, "%s: the first bytes are a TLS ClientHello and arrive at once, so %s%s no longer: transport tls, ALPN %v, SNI %s (http_inspector does not look at TLS)", ld.Listener, waiting, verb, a.ALPN, a.SNI)
	case first == envoy.TLSClientHello:
		p.add(stage, "%s: the first bytes are a TLS ClientHello and arrive at once; %s sees at once that they are not HTTP. tls_inspector is not active for port %d, so nobody reads the ClientHello: transport raw_buffer, no ALPN", ld.Listener, waiting, port)
	case unrecognisedHTTP:
		p.add(stage, "%s: the client's HTTP request arrives at once; %s sees it is not a ClientHello, and http_inspector is not active for port %d, so no application protocol is set: transport raw_buffer", ld.Listener, waiting, port)
	default:
		p.add(stage, "%s: the client's first bytes arrive at once and %s decide: %s", ld.Listener, waiting, envoy.Detection(first))
	}
	return wait.Detected, 0, false
}

// inboundChain chooses virtualInbound's filter chain and follows its
// network filters.
func inboundChain(p *Prediction, cfg *envoy.Config, a Arrival, detected envoy.ClientBytes, after time.Duration) error {
	res, err := cfg.SimulateInbound(a.call(), detected)
	if err != nil {
		return err
	}
	l := cfg.Listener(res.ListenerMatched)
	switch {
	case l == nil:
		return fmt.Errorf("choosing an inbound filter chain for %s: no listener takes it", a.Destination)
	case errors.Is(res.Error, simulation.ErrNoFilterChain):
		p.add("inbound filter chain", "no filter chain of %s matches this %s connection to port %d and it has no default chain", l.GetName(), a.arrived(), a.Destination.Port())
		return closed(p, a, after, "Envoy closes the accepted connection")
	case errors.Is(res.Error, simulation.ErrMultipleFilterChain):
		return fmt.Errorf("choosing an inbound filter chain for %s: listener %s has several equally good filter chains for it: Envoy would reject this configuration", a.Destination, l.GetName())
	}
	fc := cfg.Chain(l.GetName(), res.FilterChainMatched)
	if fc == nil {
		return fmt.Errorf("choosing an inbound filter chain for %s: the simulation matched chain %q of %s, which is not there", a.Destination, res.FilterChainMatched, l.GetName())
	}
	_, names := cfg.Simulation()
	label := envoy.ChainLabel(res.FilterChainMatched, names, l)
	p.Inbound.FilterChain = label
	p.add("inbound filter chain", "%s", envoy.ChainReason(l, res.FilterChainMatched, fc, label))

	terminates := fc.GetTransportSocket() != nil
	switch {
	case errors.Is(res.Error, simulation.ErrTLSError):
		// Plaintext into a chain that terminates TLS.
		if a.AppSends == envoy.NoClientBytes {
			p.Outcome = scenarios.Hung
			p.HeldBy = fmt.Sprintf("the TLS transport socket of %s / %s, waiting for a ClientHello", l.GetName(), label)
			p.add("inbound filter chain", "the chain terminates TLS (transport_socket %s) but the connection is plaintext: the server sidecar waits for a ClientHello and holds anything the server sends until the handshake, which never starts", fc.GetTransportSocket().GetName())
			p.add("outcome", "the client waits for the greeting, the sidecar for a ClientHello: hung")
			return nil
		}
		p.add("inbound filter chain", "the chain terminates TLS (transport_socket %s) but the client's first bytes are plaintext, not a ClientHello: the handshake fails", fc.GetTransportSocket().GetName())
		return closed(p, a, after, "Envoy closes the connection")
	case errors.Is(res.Error, simulation.ErrMTLSError):
		p.add("inbound filter chain", "the chain's TLS and the connection's disagree on mutual TLS (Istio's simulation: %v): the handshake fails", res.Error)
		return closed(p, a, after, "Envoy closes the connection")
	}

	var filters []string
	for _, f := range fc.GetFilters() {
		filters = append(filters, f.GetName())
	}
	p.add("inbound network filter", "network filters on %s, in order: %s", label, strings.Join(filters, ", "))
	if err := envoy.KnownInboundFilters(fc, label); err != nil {
		return err
	}
	if a.tls() && !terminates {
		return tlsIntoPlaintextChain(p, fc, a)
	}
	if a.tls() {
		p.add("inbound filter chain", "the chain terminates TLS (transport_socket %s%s): the handshake with the client sidecar completes and the application's bytes flow inside the tunnel, both ways", fc.GetTransportSocket().GetName(), clientCertText(fc))
	}
	for _, f := range fc.GetFilters() {
		switch envoy.NetworkFilterName(f) {
		case wellknown.HTTPConnectionManager:
			return inboundHTTP(p, cfg, a, res, after)
		case wellknown.TCPProxy:
			return inboundTCPProxy(p, cfg, fc, f, a, terminates, after)
		}
	}
	return fmt.Errorf("inbound chain %s of %s has neither tcp_proxy nor an HTTP connection manager: predict cannot tell what it does", label, l.GetName())
}

// closed finishes a connection the server sidecar closes before relaying
// a byte. Under TLS the client sidecar sees its handshake fail and closes
// the client's connection; either way the client reads nothing.
func closed(p *Prediction, a Arrival, after time.Duration, what string) error {
	p.Outcome = scenarios.Reset
	if after > 0 {
		p.After = after
		what += fmt.Sprintf(", %s late (after the listener filter timeout)", after)
	}
	if a.tls() {
		p.add("outcome", "%s during the client sidecar's TLS handshake; the client sidecar's tcp_proxy counts a failed upstream connect and closes the client's connection without a byte: reset", what)
		return nil
	}
	p.add("outcome", "%s before any server byte: reset", what)
	return nil
}

// tlsIntoPlaintextChain: the chain does not terminate TLS, so the client
// sidecar's ClientHello is relayed to the server application as bytes.
func tlsIntoPlaintextChain(p *Prediction, fc *listener.FilterChain, a Arrival) error {
	for _, f := range fc.GetFilters() {
		if envoy.NetworkFilterName(f) == wellknown.TCPProxy {
			tp := &tcpproxy.TcpProxy{}
			if err := f.GetTypedConfig().UnmarshalTo(tp); err == nil {
				p.Inbound.Cluster = tp.GetCluster()
			}
		}
	}
	p.Outcome = scenarios.Reset
	for _, f := range fc.GetFilters() {
		if envoy.NetworkFilterName(f) == wellknown.HTTPConnectionManager {
			p.add("inbound network filter", "the chain does not terminate TLS (no transport_socket) and ends in an HTTP connection manager: it reads the client sidecar's ClientHello as HTTP, cannot parse it and closes")
			p.add("outcome", "the client sidecar's handshake fails and it closes the client's connection without a byte: reset")
			return nil
		}
	}
	p.add("inbound network filter", "the chain does not terminate TLS (no transport_socket), so the client sidecar's ClientHello is relayed to the server application as plain bytes")
	if a.AppSends == envoy.NoClientBytes {
		p.add("outcome", "tcp_proxy connects the server application, whose plaintext greeting reaches the client sidecar in the middle of its TLS handshake: not a ServerHello, so the handshake fails and the client sidecar closes the client's connection without passing a byte: reset")
		return nil
	}
	p.add("outcome", "the server application reads a ClientHello instead of its protocol; whatever it answers is not a ServerHello, so the client sidecar's handshake fails and it closes the client's connection without a byte: reset")
	return nil
}

// inboundHTTP: an HTTP connection manager on the inbound chain decides
// nothing until a request arrives.
func inboundHTTP(p *Prediction, cfg *envoy.Config, a Arrival, res simulation.Result, after time.Duration) error {
	cd := envoy.ChainDecision{NetworkFilter: wellknown.HTTPConnectionManager, RouteConfig: "inline", Cluster: res.ClusterMatched}
	if a.AppSends == envoy.HTTPRequest && res.Error != nil {
		cd.RouteError = res.Error
	}
	conn := Connection{Destination: a.Destination, Protocol: a.Protocol, ClientSends: a.AppSends}
	if err := httpConnectionManager(p, cfg, conn, cd, after); err != nil {
		return err
	}
	if p.Outcome == scenarios.Hung {
		p.HeldBy = "the server sidecar's HTTP connection manager, waiting for a request"
	}
	p.Inbound.Cluster, p.Cluster = p.Cluster, ""
	return nil
}

// clientCertText says whether a TLS-terminating chain requires a client
// certificate (Istio mTLS does).
func clientCertText(fc *listener.FilterChain) string {
	tc := &tlsv3.DownstreamTlsContext{}
	if err := fc.GetTransportSocket().GetTypedConfig().UnmarshalTo(tc); err != nil {
		return ""
	}
	if tc.GetRequireClientCertificate().GetValue() {
		return ", client certificate required"
	}
	return ", no client certificate required"
}
