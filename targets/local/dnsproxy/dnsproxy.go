// Package dnsproxy is the local target's DNS: a small authoritative
// responder (github.com/miekg/dns) that answers A and AAAA queries from a
// name table and forwards the names it does not hold to an upstream
// resolver, over the transport the query came on.
//
// The local target runs it twice per scenario that dials a name: in the
// world namespace as the cluster's DNS (the external server's public
// name → its IP), and in the client pod's namespace on 127.0.0.1:15053 as
// istio-agent's DNS proxy, answering from the name table Istio's
// BuildNameTable made for the client sidecar and forwarding the rest to
// the cluster's DNS. The client's queries reach the latter only through
// istio-iptables' DNS capture rules, as in a pod: nothing here redirects
// anything.
package dnsproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Table maps a host (without the trailing dot) to its addresses.
type Table map[string][]netip.Addr

// DialFunc opens the connection a forwarded query goes out on (the
// emulated agent's carries the proxy UID, so istio-iptables lets it by).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Server answers from Table() and forwards other names to Upstream.
type Server struct {
	// Name says which resolver this is, in the query log.
	Name string
	// Table returns the table in force (it may change between queries,
	// as istiod pushes a new one to the agent).
	Table func() Table
	// Upstream is where names outside the table go; invalid means none:
	// such names get NXDOMAIN.
	Upstream netip.AddrPort
	Dial     DialFunc

	mu      sync.Mutex
	servers []*dns.Server
	log     []string
}

// Serve answers on an already open UDP socket and TCP listener (opened
// in the namespace the server belongs to) until Close.
func (s *Server) Serve(pc net.PacketConn, ln net.Listener) error {
	udp := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.handle(false))}
	tcp := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(s.handle(true))}
	s.mu.Lock()
	s.servers = append(s.servers, udp, tcp)
	s.mu.Unlock()
	errs := make(chan error, 2)
	go func() { errs <- udp.ActivateAndServe() }()
	go func() { errs <- tcp.ActivateAndServe() }()
	return errors.Join(<-errs, <-errs)
}

// Close stops the server.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, srv := range s.servers {
		errs = append(errs, srv.Shutdown())
	}
	s.servers = nil
	return errors.Join(errs...)
}

// Log returns the queries answered so far, one line each, for evidence.
func (s *Server) Log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func (s *Server) note(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, time.Now().UTC().Format("15:04:05.000000")+" "+s.Name+": "+fmt.Sprintf(format, args...))
}

func (s *Server) handle(overTCP bool) func(w dns.ResponseWriter, q *dns.Msg) {
	return func(w dns.ResponseWriter, q *dns.Msg) {
		reply, how := s.answer(q, overTCP)
		if len(q.Question) > 0 {
			s.note("%s %s from %s: %s", dns.TypeToString[q.Question[0].Qtype], q.Question[0].Name, w.RemoteAddr(), how)
		}
		w.WriteMsg(reply)
	}
}

func (s *Server) answer(q *dns.Msg, overTCP bool) (*dns.Msg, string) {
	m := new(dns.Msg)
	m.SetReply(q)
	if len(q.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m, "not one question: FORMERR"
	}
	qn := q.Question[0]
	host := strings.TrimSuffix(strings.ToLower(qn.Name), ".")
	addrs, ok := s.Table()[host]
	if !ok {
		return s.forward(q, overTCP)
	}
	m.Authoritative = true
	var got []string
	for _, a := range addrs {
		hdr := dns.RR_Header{Name: qn.Name, Class: dns.ClassINET, Ttl: 30}
		switch {
		case a.Is4() && qn.Qtype == dns.TypeA:
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IP(a.AsSlice())})
		case a.Is6() && qn.Qtype == dns.TypeAAAA:
			hdr.Rrtype = dns.TypeAAAA
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: net.IP(a.AsSlice())})
		default:
			continue
		}
		got = append(got, a.String())
	}
	return m, fmt.Sprintf("from the table: %v", got)
}

// forward relays the query to Upstream over the same transport and
// returns its reply, or SERVFAIL/NXDOMAIN when there is none.
func (s *Server) forward(q *dns.Msg, overTCP bool) (*dns.Msg, string) {
	m := new(dns.Msg)
	m.SetReply(q)
	if !s.Upstream.IsValid() {
		m.Rcode = dns.RcodeNameError
		return m, "not in the table, no upstream: NXDOMAIN"
	}
	network := "udp"
	if overTCP {
		network = "tcp"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := s.Dial(ctx, network, s.Upstream.String())
	if err != nil {
		m.Rcode = dns.RcodeServerFailure
		return m, fmt.Sprintf("forwarding to %s: %v: SERVFAIL", s.Upstream, err)
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	c := &dns.Conn{Conn: conn}
	if err := c.WriteMsg(q); err != nil {
		m.Rcode = dns.RcodeServerFailure
		return m, fmt.Sprintf("forwarding to %s: %v: SERVFAIL", s.Upstream, err)
	}
	r, err := c.ReadMsg()
	if err != nil {
		m.Rcode = dns.RcodeServerFailure
		return m, fmt.Sprintf("forwarding to %s: %v: SERVFAIL", s.Upstream, err)
	}
	return r, fmt.Sprintf("not in the table: forwarded to %s (%s), which answered %s %v", s.Upstream, network, dns.RcodeToString[r.Rcode], answers(r))
}

func answers(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		}
	}
	return out
}

// Resolver is a Go resolver whose queries go to nameserver (the pod's
// resolv.conf) over sockets dial opens (inside the pod's namespace), so
// they take the pod's own path, capture rules included.
func Resolver(nameserver netip.AddrPort, dial DialFunc) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dial(ctx, network, nameserver.String())
		},
	}
}

// DialName returns a dial function that resolves a host name with r (the
// first IPv4 address) and dials the address with dial; addresses are
// dialled as they are. OnResolve, if set, hears each resolution.
func DialName(r *net.Resolver, dial DialFunc, onResolve func(host string, addrs []netip.Addr, err error)) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if _, err := netip.ParseAddr(host); err == nil {
			return dial(ctx, network, addr)
		}
		// A trailing dot: the name is absolute, no search domains.
		addrs, err := r.LookupNetIP(ctx, "ip4", strings.TrimSuffix(host, ".")+".")
		if onResolve != nil {
			onResolve(host, addrs, err)
		}
		if err != nil {
			return nil, fmt.Errorf("resolving %s through the pod's resolver: %w", host, err)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("resolving %s through the pod's resolver: no IPv4 address", host)
		}
		return dial(ctx, network, net.JoinHostPort(addrs[0].String(), port))
	}
}
