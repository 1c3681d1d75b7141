package scenarios

import (
	"fmt"
	"sort"
)

// Protocol is an application protocol the suite can serve and probe.
type Protocol string

const (
	MySQL Protocol = "mysql"
	SMTP  Protocol = "smtp"
	// Mongo is the client-first control: the driver speaks first, so a
	// sniffing listener sees bytes and never holds the connection.
	Mongo Protocol = "mongo"
	// DNS (over TCP) is the second client-first control: the client's
	// length-prefixed query is the first byte (RFC 7766).
	DNS Protocol = "dns"
)

// Speaker says which side of a TCP connection sends the first byte.
type Speaker string

const (
	ServerFirst Speaker = "server"
	ClientFirst Speaker = "client"
)

// protocolFacts is data, not behaviour: who speaks first and the port IANA
// (and Istio's well-known server-first port list) assigns.
var protocolFacts = map[Protocol]struct {
	first Speaker
	port  int
}{
	MySQL: {ServerFirst, 3306},
	SMTP:  {ServerFirst, 25},
	Mongo: {ClientFirst, 27017},
	DNS:   {ClientFirst, 53},
}

// Protocols lists the supported protocols in a stable order.
func Protocols() []Protocol {
	out := make([]Protocol, 0, len(protocolFacts))
	for p := range protocolFacts {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ParseProtocol validates a protocol name.
func ParseProtocol(s string) (Protocol, error) {
	p := Protocol(s)
	if _, ok := protocolFacts[p]; !ok {
		return "", fmt.Errorf("unknown protocol %q (want one of %v)", s, Protocols())
	}
	return p, nil
}

// FirstSpeaker says who sends the first byte after the TCP handshake.
func (p Protocol) FirstSpeaker() Speaker { return protocolFacts[p].first }

// ServerFirst reports whether the server sends the first byte.
func (p Protocol) ServerFirst() bool { return p.FirstSpeaker() == ServerFirst }

// WellKnownPort is the protocol's standard port.
func (p Protocol) WellKnownPort() int { return protocolFacts[p].port }
