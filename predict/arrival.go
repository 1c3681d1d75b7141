package predict

import (
	"fmt"
	"net/netip"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/scenarios"
	"istio.io/istio/pilot/pkg/simulation"
)

// Arrival is a connection as it reaches a server pod whose sidecar
// captures it: where to, from whom, in what transport, and what the
// client application sends first inside that transport.
type Arrival struct {
	// Destination is the server pod's IP and port (after kube-proxy).
	Destination netip.AddrPort
	Source      netip.Addr
	// Protocol is the application protocol, for traces; may be empty.
	Protocol scenarios.Protocol
	// TLS is simulation.Plaintext, or simulation.MTLS when a client
	// sidecar originates Istio mTLS (simulation.TLS for TLS without a
	// client certificate).
	TLS simulation.TLSMode
	// ALPN and SNI are the ClientHello's, for TLS.
	ALPN []string
	SNI  string
	// Principal is the client's identity (the URI SAN of its certificate)
	// under mTLS; empty otherwise.
	Principal string
	// AppSends is what the client application sends first; under TLS it
	// travels inside the tunnel, after the handshake.
	AppSends envoy.ClientBytes
}

// arrivalOf is the connection a Leg delivers to the server pod at dst.
func arrivalOf(leg envoy.Leg, src netip.Addr, dst netip.AddrPort, protocol scenarios.Protocol, appSends envoy.ClientBytes, principal string) Arrival {
	a := Arrival{Destination: dst, Source: src, Protocol: protocol, TLS: leg.TLS, ALPN: leg.ALPN, SNI: leg.SNI, AppSends: appSends}
	if leg.TLS == "" {
		a.TLS = simulation.Plaintext
	}
	if a.TLS == simulation.MTLS {
		a.Principal = principal
	}
	return a
}

// firstBytes is what the server sidecar's listener filters see first.
func (a Arrival) firstBytes() envoy.ClientBytes {
	if a.tls() {
		return envoy.TLSClientHello
	}
	return a.AppSends
}

func (a Arrival) tls() bool { return a.TLS == simulation.TLS || a.TLS == simulation.MTLS }

// arrived is the transport in one word, for the decision column.
func (a Arrival) arrived() string {
	if a.TLS == "" {
		return string(simulation.Plaintext)
	}
	return string(a.TLS)
}

func (a Arrival) String() string {
	app := Connection{Destination: a.Destination, Protocol: a.Protocol, ClientSends: a.AppSends}.String()
	switch a.TLS {
	case simulation.MTLS:
		return fmt.Sprintf("from %s in Istio mTLS (client identity %s, ALPN %v, SNI %s): the first bytes are the client sidecar's TLS ClientHello; inside the tunnel: %s", a.Source, a.Principal, a.ALPN, a.SNI, app)
	case simulation.TLS:
		return fmt.Sprintf("from %s in TLS (ALPN %v, SNI %s): the first bytes are a TLS ClientHello; inside the tunnel: %s", a.Source, a.ALPN, a.SNI, app)
	default:
		return fmt.Sprintf("from %s in plaintext, no client certificate: %s", a.Source, app)
	}
}

// call is the arrival as Envoy's inbound listener sees it.
func (a Arrival) call() envoy.InboundCall {
	return envoy.InboundCall{Destination: a.Destination, TLS: a.TLS, ALPN: a.ALPN, SNI: a.SNI}
}
