package local

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/targets/local/netlab"
	"github.com/firstbyte/firstbyte/targets/local/upstream"
)

// The SERVERS choices.
const (
	// EmbeddedServers are the Go servers of servers/ (the default: fast,
	// nothing to install).
	EmbeddedServers = "embedded"
	// UpstreamServers are Debian's MariaDB and Exim (targets/local/upstream);
	// Mongo stays embedded because Debian does not package MongoDB.
	UpstreamServers = "upstream"
)

// Names of the embedded implementations, as reports show them.
var embeddedNames = map[scenarios.Protocol]string{
	scenarios.MySQL: "embedded go-mysql (github.com/go-mysql-org/go-mysql server)",
	scenarios.SMTP:  "embedded go-smtp (github.com/emersion/go-smtp server)",
	scenarios.Mongo: "embedded mongoserver (mongo-driver wire messages)",
	scenarios.DNS:   "embedded dnsserver (github.com/miekg/dns over TCP)",
}

// mongoNotInDebian is why SERVERS=upstream keeps the embedded Mongo.
const mongoNotInDebian = "; MongoDB is not in Debian (SSPL), so SERVERS=upstream keeps the embedded server"

// embeddedOnly are the protocols SERVERS=upstream keeps embedded, and why.
// DNS: the control needs only a real TCP responder, and the embedded one
// answers with miekg/dns; a Debian resolver would add nothing to it.
var embeddedOnly = map[scenarios.Protocol]string{
	scenarios.Mongo: mongoNotInDebian,
	scenarios.DNS:   "; SERVERS=upstream keeps the embedded DNS server (a client-first control needs no second implementation)",
}

// NewWith returns the local target with the given servers (embedded or
// upstream; empty means embedded).
func NewWith(servers string) (*Local, error) {
	switch servers {
	case "", EmbeddedServers:
		return New(), nil
	case UpstreamServers:
		l := New()
		l.servers = UpstreamServers
		return l, nil
	}
	return nil, fmt.Errorf("SERVERS=%q: want embedded (the Go servers, the default) or upstream (Debian's MariaDB and Exim on the local target)", servers)
}

// setupUpstream installs Debian's servers when SERVERS=upstream, and stops
// what killed runs left.
func (l *Local) setupUpstream(ctx context.Context) error {
	if l.servers != UpstreamServers {
		return nil
	}
	if removed, err := upstream.Sweep(); err != nil {
		return err
	} else if len(removed) > 0 {
		fmt.Fprintf(os.Stderr, "local: removed the upstream servers of killed runs: %v\n", removed)
	}
	s, err := upstream.New(ctx, func(line string) { fmt.Fprintln(os.Stderr, "local: "+line) })
	if err != nil {
		return fmt.Errorf("SERVERS=upstream on the local target: %w", err)
	}
	l.upstream = s
	return nil
}

// ServerImplementation names the server a scenario's probe talks to.
func (l *Local) ServerImplementation(b *fixtures.Bundle) string {
	p := b.Scenario.Protocol
	if l.upstream == nil {
		if l.servers == UpstreamServers && embeddedOnly[p] == "" {
			return "upstream (not set up)"
		}
		if l.servers == UpstreamServers {
			return embeddedNames[p] + embeddedOnly[p]
		}
		return embeddedNames[p]
	}
	switch p {
	case scenarios.MySQL:
		return l.upstream.MariaDB
	case scenarios.SMTP:
		return l.upstream.Exim
	}
	return embeddedNames[p] + embeddedOnly[p]
}

// startProtocol starts the scenario's protocol server in host h on the
// addresses (one port) that have none yet: the embedded server, one
// listener per address, or one upstream instance for all of them.
func (r *scenarioRun) startProtocol(h *netlab.Host, p scenarios.Protocol, addrs []netip.AddrPort) error {
	var todo []netip.AddrPort
	for _, a := range addrs {
		if !r.listening[a] {
			todo = append(todo, a)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	if r.upstream == nil || embeddedOnly[p] != "" {
		for _, a := range todo {
			if err := r.serve(h, a, func(ln net.Listener) error { return serveProtocol(r.ctx, p, r.mailbox, ln) }); err != nil {
				return err
			}
		}
		return nil
	}
	ips := make([]netip.Addr, 0, len(todo))
	port := todo[0].Port()
	for _, a := range todo {
		if a.Port() != port {
			return fmt.Errorf("one upstream %s instance serves one port: got %s and %s", p, todo[0], a)
		}
		ips = append(ips, a.Addr())
	}
	var inst *upstream.Instance
	var err error
	switch p {
	case scenarios.MySQL:
		inst, err = r.upstream.StartMariaDB(r.ctx, h.Name, ips, int(port))
	case scenarios.SMTP:
		inst, err = r.upstream.StartExim(r.ctx, h.Name, ips, int(port), h.Dialer(-1))
	default:
		return fmt.Errorf("no upstream server for protocol %s", p)
	}
	if err != nil {
		return err
	}
	r.instances = append(r.instances, inst)
	if p == scenarios.SMTP {
		r.mta = inst
	}
	for _, a := range todo {
		r.listening[a] = true
	}
	return nil
}

// closeInstances stops the run's upstream servers.
func (r *scenarioRun) closeInstances() error {
	var first error
	for _, i := range r.instances {
		if err := i.Close(); err != nil && first == nil {
			first = err
		}
	}
	r.instances = nil
	return first
}

// credentials fills in the upstream MySQL account (the embedded servers'
// fixed one is the probe's default).
func (r *scenarioRun) credentials(p scenarios.Protocol) (user, password string) {
	if r.upstream != nil && p == scenarios.MySQL {
		return upstream.User, r.upstream.Password()
	}
	return "", ""
}
