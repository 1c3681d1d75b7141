package predict

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/firstbyte/firstbyte/scenarios"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pkg/wellknown"
)

// inboundInspectors applies the who-speaks-first rule to virtualInbound's
// listener filters: it returns what they detect and how long that takes,
// or done when the connection's fate is already sealed (a hang, or a close
// at the timeout).
func inboundInspectors(p *Prediction, ld ListenerDecision, a Arrival) (detected ClientBytes, after time.Duration, done bool) {
	first := a.firstBytes()
	unrecognisedHTTP := first == HTTPRequest && !slices.Contains(ld.Waiting, wellknown.HTTPInspector)
	if unrecognisedHTTP {
		// Nobody recognises HTTP on this port: for chain matching the
		// bytes are just bytes (no application protocol).
		first = OpaqueBytes
	}
	port := a.Destination.Port()
	waiting := strings.Join(ld.Waiting, " and ")
	verb := " waits"
	if len(ld.Waiting) > 1 {
		verb = " wait"
	}
	const stage = "inbound listener filters"
	switch {
	case len(ld.Waiting) == 0:
		p.add(stage, "%s: nothing waits for client bytes on port %d: the filter chain is chosen at once", ld.Listener, port)
		return first, 0, false
	case first == NoClientBytes && ld.Timeout == 0:
		p.Outcome = scenarios.Hung
		p.HeldBy = fmt.Sprintf("%s on the server's %s (listener_filters_timeout 0s)", waiting, ld.Listener)
		p.add(stage, "%s: %s%s for the client's first bytes on port %d, with %s; the plaintext client speaks only after the server's greeting and sends nothing", ld.Listener, waiting, verb, port, ld.timeoutText())
		p.add("outcome", "deadlock: the server sidecar never chooses a filter chain, so it never connects the server application and no greeting comes: hung")
		return "", 0, true
	case first == NoClientBytes && !ld.ContinueOnTimeout:
		p.Outcome, p.After = scenarios.Reset, ld.Timeout
		p.add(stage, "%s: %s%s for the client's first bytes on port %d, with %s; the client sends nothing", ld.Listener, waiting, verb, port, ld.timeoutText())
		p.add("outcome", "after %s Envoy closes the socket (continue_on_listener_filters_timeout is false): reset", ld.Timeout)
		return "", 0, true
	case first == NoClientBytes:
		p.add(stage, "%s: %s%s for the client's first bytes on port %d, with %s; the client sends nothing", ld.Listener, waiting, verb, port, ld.timeoutText())
		p.add(stage, "after %s the inspectors give up and the filter chain is chosen with nothing detected: transport raw_buffer, no application protocol", ld.Timeout)
		return NoClientBytes, ld.Timeout, false
	case first == TLSClientHello && slices.Contains(ld.Waiting, wellknown.TLSInspector):
		p.add(stage, "%s: the first bytes are a TLS ClientHello and arrive at once, so %s%s no longer: transport tls, ALPN %v, SNI %s (http_inspector does not look at TLS)", ld.Listener, waiting, verb, a.ALPN, a.SNI)
	case first == TLSClientHello:
		p.add(stage, "%s: the first bytes are a TLS ClientHello and arrive at once; %s sees at once that they are not HTTP. tls_inspector is not active for port %d, so nobody reads the ClientHello: transport raw_buffer, no ALPN", ld.Listener, waiting, port)
	case unrecognisedHTTP:
		p.add(stage, "%s: the client's HTTP request arrives at once; %s sees it is not a ClientHello, and http_inspector is not active for port %d, so no application protocol is set: transport raw_buffer", ld.Listener, waiting, port)
	default:
		p.add(stage, "%s: the client's first bytes arrive at once and %s decide: %s", ld.Listener, waiting, detection(first))
	}
	return first, 0, false
}

// inboundChain chooses virtualInbound's filter chain and follows its
// network filters.
func inboundChain(p *Prediction, cfg *EnvoyConfig, a Arrival, detected ClientBytes, after time.Duration) error {
	res, err := cfg.simulateInbound(a, detected)
	if err != nil {
		return err
	}
	l := cfg.listener(res.ListenerMatched)
	switch {
	case l == nil:
		return fmt.Errorf("choosing an inbound filter chain for %s: no listener takes it", a.Destination)
	case errors.Is(res.Error, simulation.ErrNoFilterChain):
		p.add("inbound filter chain", "no filter chain of %s matches this %s connection to port %d and it has no default chain", l.GetName(), a.arrived(), a.Destination.Port())
		return closed(p, a, after, "Envoy closes the accepted connection")
	case errors.Is(res.Error, simulation.ErrMultipleFilterChain):
		return fmt.Errorf("choosing an inbound filter chain for %s: listener %s has several equally good filter chains for it: Envoy would reject this configuration", a.Destination, l.GetName())
	}
	fc := cfg.chain(l.GetName(), res.FilterChainMatched)
	if fc == nil {
		return fmt.Errorf("choosing an inbound filter chain for %s: the simulation matched chain %q of %s, which is not there", a.Destination, res.FilterChainMatched, l.GetName())
	}
	_, names := cfg.simulation()
	label := chainLabel(res.FilterChainMatched, names, l)
	p.Inbound.FilterChain = label
	p.add("inbound filter chain", "%s", chainReason(l, res.FilterChainMatched, fc, label))

	terminates := fc.GetTransportSocket() != nil
	switch {
	case errors.Is(res.Error, simulation.ErrTLSError):
		// Plaintext into a chain that terminates TLS.
		if a.AppSends == NoClientBytes {
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
	if err := knownInboundFilters(fc, label); err != nil {
		return err
	}
	if a.tls() && !terminates {
		return tlsIntoPlaintextChain(p, fc, a)
	}
	if a.tls() {
		p.add("inbound filter chain", "the chain terminates TLS (transport_socket %s%s): the handshake with the client sidecar completes and the application's bytes flow inside the tunnel, both ways", fc.GetTransportSocket().GetName(), clientCertText(fc))
	}
	for _, f := range fc.GetFilters() {
		switch networkFilterName(f) {
		case wellknown.HTTPConnectionManager:
			return inboundHTTP(p, cfg, a, res, after)
		case wellknown.TCPProxy:
			return inboundTCPProxy(p, cfg, fc, f, a, terminates, after)
		}
	}
	return fmt.Errorf("inbound chain %s of %s has neither tcp_proxy nor an HTTP connection manager: predict cannot tell what it does", label, l.GetName())
}

// inboundFilterRoles are the network filters Istio puts on inbound chains
// whose effect on who speaks first predict knows: metadata exchange (on
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

// knownInboundFilters refuses a chain with a network filter predict does
// not know (ext_authz for a CUSTOM policy, connection_limit, a Wasm or
// EnvoyFilter addition): it may hold or close the connection, and a guess
// would be a verdict without evidence.
func knownInboundFilters(fc *listener.FilterChain, label string) error {
	for _, f := range fc.GetFilters() {
		if !inboundFilterRoles[networkFilterName(f)] && !isNetworkRBAC(f) {
			return fmt.Errorf("inbound chain %s has network filter %s (%s), which predict does not model: teach predict/inbound_chain.go what it does before a server-first greeting", label, f.GetName(), f.GetTypedConfig().GetTypeUrl())
		}
	}
	return nil
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
		if networkFilterName(f) == wellknown.TCPProxy {
			tp := &tcpproxy.TcpProxy{}
			if err := f.GetTypedConfig().UnmarshalTo(tp); err == nil {
				p.Inbound.Cluster = tp.GetCluster()
			}
		}
	}
	p.Outcome = scenarios.Reset
	for _, f := range fc.GetFilters() {
		if networkFilterName(f) == wellknown.HTTPConnectionManager {
			p.add("inbound network filter", "the chain does not terminate TLS (no transport_socket) and ends in an HTTP connection manager: it reads the client sidecar's ClientHello as HTTP, cannot parse it and closes")
			p.add("outcome", "the client sidecar's handshake fails and it closes the client's connection without a byte: reset")
			return nil
		}
	}
	p.add("inbound network filter", "the chain does not terminate TLS (no transport_socket), so the client sidecar's ClientHello is relayed to the server application as plain bytes")
	if a.AppSends == NoClientBytes {
		p.add("outcome", "tcp_proxy connects the server application, whose plaintext greeting reaches the client sidecar in the middle of its TLS handshake: not a ServerHello, so the handshake fails and the client sidecar closes the client's connection without passing a byte: reset")
		return nil
	}
	p.add("outcome", "the server application reads a ClientHello instead of its protocol; whatever it answers is not a ServerHello, so the client sidecar's handshake fails and it closes the client's connection without a byte: reset")
	return nil
}

// inboundHTTP: an HTTP connection manager on the inbound chain decides
// nothing until a request arrives.
func inboundHTTP(p *Prediction, cfg *EnvoyConfig, a Arrival, res simulation.Result, after time.Duration) error {
	cd := ChainDecision{NetworkFilter: wellknown.HTTPConnectionManager, RouteConfig: "inline", Cluster: res.ClusterMatched}
	if a.AppSends == HTTPRequest && res.Error != nil {
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
