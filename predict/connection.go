package predict

import (
	"fmt"
	"net/netip"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/scenarios"
)

// Connection is an outbound connection from the client's application.
type Connection struct {
	Destination netip.AddrPort
	// Protocol is the application protocol, for traces; may be empty.
	Protocol    scenarios.Protocol
	ClientSends envoy.ClientBytes
}

// protocolConnection is a connection of a suite protocol: server-first
// protocols send nothing first; the client-first ones the suite has
// (mongo, dns over TCP) open with non-HTTP, non-TLS bytes.
func protocolConnection(p scenarios.Protocol, dst netip.AddrPort) Connection {
	c := Connection{Destination: dst, Protocol: p, ClientSends: envoy.OpaqueBytes}
	if p.ServerFirst() {
		c.ClientSends = envoy.NoClientBytes
	}
	return c
}

func (c Connection) String() string {
	who := "the client speaks first"
	switch {
	case c.ClientSends == envoy.NoClientBytes:
		who = "the server speaks first: the client sends nothing until the greeting"
	case c.ClientSends == envoy.OpaqueBytes:
		who = "the client speaks first with bytes that are neither HTTP nor TLS"
	case c.ClientSends == envoy.HTTPRequest:
		who = "the client speaks first with an HTTP/1.1 request"
	}
	if c.Protocol != "" {
		return fmt.Sprintf("%s to %s (%s)", c.Protocol, c.Destination, who)
	}
	return fmt.Sprintf("TCP to %s (%s)", c.Destination, who)
}
