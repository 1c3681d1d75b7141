package probe_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/probe"
	"github.com/firstbyte/firstbyte/servers/probe/probetest"
)

// release is what a fake sidecar does once it stops holding a connection.
type release int

const (
	relay         release = iota // dial the real server and copy both ways (a chain chosen, tcp_proxy)
	closeConn                    // close without a byte (BlackHoleCluster, no chain)
	answerHTTP400                // answer as an HTTP connection manager does to bytes it cannot parse
	holdForever                  // never stop (http_inspector with listener_filters_timeout 0s)
)

// fakeSidecar is a loopback TCP proxy that holds each connection for
// delay, reading nothing and writing nothing, as a listener inspector
// does while it waits for client bytes, and then releases it.
func fakeSidecar(t *testing.T, delay time.Duration, then release, server string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(done); l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				select {
				case <-time.After(delay):
				case <-done:
					return
				}
				switch then {
				case holdForever:
					<-done
				case closeConn:
				case answerHTTP400:
					_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
				case relay:
					up, err := net.Dial("tcp", server)
					if err != nil {
						return
					}
					defer up.Close()
					go func() { _, _ = io.Copy(up, c); up.Close() }()
					_, _ = io.Copy(c, up)
				}
			}()
		}
	}()
	return l.Addr().String()
}

// For each expectation form, a fake sidecar that holds the connection and
// then releases it as the form says, in front of a real server, probed by
// the real client with the budget the expectation asks for: the form must
// match what the wire showed, and the neighbouring forms must not (a
// late close is neither "fails reset" nor "hangs"; a late connect is not
// "connects").
func TestEveryExpectationFormOnTheWire(t *testing.T) {
	const d = time.Second               // beyond LateConnect, so a prompt form cannot match it
	const base = 200 * time.Millisecond // a budget shorter than the hold: only the expectation's own budget sees the release
	for _, p := range []scenarios.Protocol{scenarios.MySQL, scenarios.SMTP} {
		srv := probetest.RealServer(t, p)
		for _, c := range []struct {
			expect   string
			delay    time.Duration
			then     release
			mismatch []string
		}{
			{"connects", 0, relay, []string{"connects-after 1s", "hangs"}},
			{"connects-after 1s", d, relay, []string{"connects", "fails reset after 1s"}},
			{"hangs", 0, holdForever, []string{"fails reset after 1s", "connects"}},
			{"fails reset", 0, closeConn, []string{"fails reset after 1s", "hangs"}},
			{"fails reset after 1s", d, closeConn, []string{"fails reset", "hangs", "connects-after 1s"}},
			{"fails protocol-error", 0, answerHTTP400, []string{"fails protocol-error after 1s"}},
			{"fails protocol-error after 1s", d, answerHTTP400, []string{"fails protocol-error", "hangs"}},
		} {
			t.Run(string(p)+"/"+c.expect, func(t *testing.T) {
				e, err := scenarios.ParseExpectation(c.expect)
				if err != nil {
					t.Fatal(err)
				}
				addr := fakeSidecar(t, c.delay, c.then, srv.Addr)
				obs := probe.Run(context.Background(), probe.Config{Protocol: p, Addr: addr, Budget: e.Budget(base)})
				if ok, why := e.Match(obs.Outcome, obs.Timings.Released()); !ok {
					t.Fatalf("%s: %s (%s; first byte %s, closed %s)", c.expect, why, obs.Detail, obs.Timings.FirstByte, obs.Timings.Closed)
				}
				for _, other := range c.mismatch {
					o, _ := scenarios.ParseExpectation(other)
					if ok, _ := o.Match(obs.Outcome, obs.Timings.Released()); ok {
						t.Errorf("the wire of %q also matches %q (%s after %s)", c.expect, other, obs.Outcome, obs.Timings.Released())
					}
				}
				if c.delay > base && c.then != holdForever {
					// With only the base budget the same hold reads as a
					// hang: the expectation's budget is what lets the
					// release be seen.
					short := probe.Run(context.Background(), probe.Config{Protocol: p, Addr: addr, Budget: base})
					if short.Outcome != scenarios.Hung {
						t.Errorf("with the base budget %s a %s hold reads %s, want hung", base, c.delay, short.Outcome)
					}
				}
			})
		}
	}
	t.Run("fails refused", func(t *testing.T) {
		e, _ := scenarios.ParseExpectation("fails refused")
		obs := probe.Run(context.Background(), probe.Config{Protocol: scenarios.MySQL, Addr: probetest.ClosedPort(t), Budget: e.Budget(base)})
		if ok, why := e.Match(obs.Outcome, obs.Timings.Released()); !ok {
			t.Fatalf("%s (%s)", why, obs.Detail)
		}
	})
}
