// Package probetest starts loopback peers for testing and benchmarking
// probes: the real protocol servers, and the impostors a probe must classify
// correctly.
//
//   - silent acceptor: accepts, reads and discards, never writes. This is
//     exactly what a sidecar's http_inspector does while it waits for the
//     client's first bytes, so a server-first probe against it must say hung.
//   - resetting acceptor: accepts, then closes with SO_LINGER 0 so the kernel
//     sends RST: reset.
//   - closed port: an address nothing listens on: refused.
//   - HTTP server: the collider's HTTP backend, which like any HTTP server
//     waits for the client to speak, and answers 400 at the first byte that
//     cannot start an HTTP method.
//
// Each peer has a Start* form returning a *Peer (for the benchmark binary)
// and a short form taking a TB that stops the peer in Cleanup (for tests).
package probetest

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/dnsserver"
	"github.com/firstbyte/firstbyte/servers/httpbackend"
	"github.com/firstbyte/firstbyte/servers/internal/acceptloop"
	"github.com/firstbyte/firstbyte/servers/mongoserver"
	"github.com/firstbyte/firstbyte/servers/mysqlserver"
	"github.com/firstbyte/firstbyte/servers/smtpserver"
)

// TB is the part of testing.TB the short forms need; *testing.T and
// *testing.B satisfy it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Peer is a running loopback listener.
type Peer struct {
	// Addr is host:port to dial.
	Addr string
	stop func()
}

// Close stops the peer and waits for its goroutines.
func (p *Peer) Close() { p.stop() }

// serveFunc matches the Serve methods of the servers in this module.
type serveFunc func(ctx context.Context, l net.Listener) error

// start listens on a free loopback port and runs serve until Close.
func start(serve serveFunc) (*Peer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = serve(ctx, l)
	}()
	return &Peer{Addr: l.Addr().String(), stop: func() { cancel(); <-done }}, nil
}

// StartSilentAcceptor starts a peer that accepts and reads but never writes.
func StartSilentAcceptor() (*Peer, error) {
	return start(func(ctx context.Context, l net.Listener) error {
		return acceptloop.Serve(ctx, l, func(_ context.Context, c net.Conn) {
			_, _ = io.Copy(io.Discard, c)
		})
	})
}

// StartResettingAcceptor starts a peer that answers every connection with a
// TCP RST right after accepting it.
func StartResettingAcceptor() (*Peer, error) {
	return start(func(ctx context.Context, l net.Listener) error {
		return acceptloop.Serve(ctx, l, func(_ context.Context, c net.Conn) {
			if tc, ok := c.(*net.TCPConn); ok {
				// Linger 0 makes close send RST instead of FIN.
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
		})
	})
}

// StartHTTPServer starts the collider HTTP backend.
func StartHTTPServer() (*Peer, error) {
	return start(httpbackend.Backend{Name: "probetest-http"}.Serve)
}

// ClosedPortAddr returns a loopback address on which nothing listens: it
// listens on a free port and closes it again. Another process could take
// the port in between, which on a test machine does not happen in practice.
func ClosedPortAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listen on loopback: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("close %s: %w", addr, err)
	}
	return addr, nil
}

// Server is a real protocol server on loopback.
type Server struct {
	*Peer
	// Mailbox holds the messages an SMTP server received; nil otherwise.
	Mailbox *smtpserver.Mailbox
}

// StartServer starts the real server for p.
func StartServer(p scenarios.Protocol) (*Server, error) {
	var (
		serve   serveFunc
		mailbox *smtpserver.Mailbox
	)
	switch p {
	case scenarios.MySQL:
		srv, err := mysqlserver.New()
		if err != nil {
			return nil, err
		}
		serve = srv.Serve
	case scenarios.SMTP:
		mailbox = smtpserver.NewMailbox()
		serve = smtpserver.New(mailbox).Serve
	case scenarios.Mongo:
		serve = mongoserver.New().Serve
	case scenarios.DNS:
		serve = dnsserver.New().Serve
	default:
		return nil, fmt.Errorf("no server for protocol %q", p)
	}
	peer, err := start(serve)
	if err != nil {
		return nil, fmt.Errorf("start %s server: %w", p, err)
	}
	return &Server{Peer: peer, Mailbox: mailbox}, nil
}

// SilentAcceptor starts a silent acceptor for the test and returns its
// address.
func SilentAcceptor(tb TB) string {
	tb.Helper()
	return must(tb, StartSilentAcceptor).Addr
}

// ResettingAcceptor starts a resetting acceptor for the test and returns
// its address.
func ResettingAcceptor(tb TB) string {
	tb.Helper()
	return must(tb, StartResettingAcceptor).Addr
}

// HTTPServer starts the HTTP backend for the test and returns its address.
func HTTPServer(tb TB) string {
	tb.Helper()
	return must(tb, StartHTTPServer).Addr
}

// ClosedPort returns a loopback address nothing listens on.
func ClosedPort(tb TB) string {
	tb.Helper()
	addr, err := ClosedPortAddr()
	if err != nil {
		tb.Fatalf("closed port: %v", err)
	}
	return addr
}

// RealServer starts the real server for p for the test.
func RealServer(tb TB, p scenarios.Protocol) *Server {
	tb.Helper()
	s, err := StartServer(p)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

func must(tb TB, startPeer func() (*Peer, error)) *Peer {
	tb.Helper()
	p, err := startPeer()
	if err != nil {
		tb.Fatalf("start peer: %v", err)
	}
	tb.Cleanup(p.Close)
	return p
}
