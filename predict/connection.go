package predict

import (
	"fmt"
	"net/netip"

	"github.com/firstbyte/firstbyte/scenarios"
)

// ClientBytes is what the client sends first after the TCP handshake, as
// far as a listener inspector can tell.
type ClientBytes string

const (
	// NoClientBytes: a server-first client sends nothing and waits for the
	// greeting.
	NoClientBytes ClientBytes = "none"
	// OpaqueBytes: a client-first protocol that is neither HTTP nor TLS
	// (MongoDB's hello). Inspectors conclude at once: not HTTP, not TLS.
	OpaqueBytes ClientBytes = "opaque"
	// HTTPRequest: an HTTP/1.1 request, which http_inspector recognises.
	HTTPRequest ClientBytes = "http/1.1"
	// TLSClientHello: a TLS ClientHello, which a client sidecar sends the
	// moment its tcp_proxy connects an upstream whose transport socket is
	// TLS (Istio mTLS), whatever the application does. tls_inspector reads
	// it at once; http_inspector sees at once that it is not HTTP.
	TLSClientHello ClientBytes = "tls"
)

// Connection is an outbound connection from the client's application.
type Connection struct {
	Destination netip.AddrPort
	// Protocol is the application protocol, for traces; may be empty.
	Protocol    scenarios.Protocol
	ClientSends ClientBytes
}

// ProtocolConnection is a connection of a suite protocol: server-first
// protocols send nothing first; the client-first ones the suite has
// (mongo, dns over TCP) open with non-HTTP, non-TLS bytes.
func ProtocolConnection(p scenarios.Protocol, dst netip.AddrPort) Connection {
	c := Connection{Destination: dst, Protocol: p, ClientSends: OpaqueBytes}
	if p.ServerFirst() {
		c.ClientSends = NoClientBytes
	}
	return c
}

func (c Connection) String() string {
	who := "the client speaks first"
	switch {
	case c.ClientSends == NoClientBytes:
		who = "the server speaks first: the client sends nothing until the greeting"
	case c.ClientSends == OpaqueBytes:
		who = "the client speaks first with bytes that are neither HTTP nor TLS"
	case c.ClientSends == HTTPRequest:
		who = "the client speaks first with an HTTP/1.1 request"
	}
	if c.Protocol != "" {
		return fmt.Sprintf("%s to %s (%s)", c.Protocol, c.Destination, who)
	}
	return fmt.Sprintf("TCP to %s (%s)", c.Destination, who)
}
