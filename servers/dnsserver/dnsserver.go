// Package dnsserver is a small authoritative DNS-over-TCP server for
// probing, built on github.com/miekg/dns (framing, parsing and packing are
// the library's).
//
// DNS over TCP is the suite's second client-first control next to MongoDB:
// the client sends its length-prefixed query before the server says
// anything (RFC 7766), so a sniffing sidecar sees bytes at once and never
// holds the connection. The seed listed DNS among the server-first
// protocols; it is not.
//
// The zone is fixed and needs no data:
//   - A probe.firstbyte.test. → 192.0.2.53 (Address);
//   - TXT <label>.echo.firstbyte.test. → "<label>": the answer carries the
//     question, so a probe that asks a fresh label proves that this server
//     answered this query;
//   - anything else: NXDOMAIN; a message that is not a standard query:
//     NOTIMP.
//
// Several queries on one connection are answered in turn (RFC 7766 §6.2.1).
package dnsserver

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/firstbyte/firstbyte/servers/internal/acceptloop"
)

const (
	// Zone is the zone the server is authoritative for.
	Zone = "firstbyte.test."
	// AddressName is the name with a fixed A record.
	AddressName = "probe." + Zone
	// EchoZone holds the TXT names that echo their first label.
	EchoZone = "echo." + Zone
)

// Address is the A record of AddressName (TEST-NET-1, never routed).
var Address = netip.MustParseAddr("192.0.2.53")

// Server answers DNS queries over TCP. Use New.
type Server struct {
	log     *slog.Logger
	queries atomic.Int64
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets where per-connection failures are logged (default:
// nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) { s.log = l }
}

// New returns a server for the fixed zone.
func New(opts ...Option) *Server {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Queries is how many queries the server has read and answered (or
// tried to: a query whose answer could not be written counts too).
func (s *Server) Queries() int64 { return s.queries.Load() }

// Serve answers queries on l until ctx is done, then closes l and all
// client connections. It returns nil after a shutdown through ctx and the
// accept error otherwise.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return acceptloop.Serve(ctx, l, s.serveConn)
}

func (s *Server) serveConn(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	dc := &dns.Conn{Conn: conn}
	for ctx.Err() == nil {
		req, err := dc.ReadMsg()
		if err != nil {
			if !isClosed(err) {
				s.log.Info("read query", "remote", conn.RemoteAddr().String(), "err", err)
			}
			return
		}
		// Counted before the answer goes out, so a client holding its
		// answer always finds its query counted.
		s.queries.Add(1)
		if err := dc.WriteMsg(s.Answer(req)); err != nil {
			s.log.Info("write answer", "remote", conn.RemoteAddr().String(), "err", err)
			return
		}
	}
}

// Answer is the server's reply to one query.
func (s *Server) Answer(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		return m.SetRcode(req, dns.RcodeNotImplemented)
	}
	m.SetReply(req)
	m.Authoritative = true
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 0}
	switch {
	case name == AddressName && q.Qtype == dns.TypeA:
		hdr.Rrtype = dns.TypeA
		m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: Address.AsSlice()})
	case strings.HasSuffix(name, "."+EchoZone) && q.Qtype == dns.TypeTXT:
		hdr.Rrtype = dns.TypeTXT
		label := strings.TrimSuffix(q.Name[:len(q.Name)-len(EchoZone)], ".")
		m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: []string{label}})
	case name == AddressName || name == EchoZone:
		// The name exists, not with this type: NODATA.
	default:
		m.Rcode = dns.RcodeNameError
	}
	return m
}

func isClosed(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "use of closed network connection") || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "connection reset"))
}
