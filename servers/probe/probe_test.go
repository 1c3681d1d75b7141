package probe_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/probe"
	"github.com/firstbyte/firstbyte/servers/probe/probetest"
)

// testBudget is small to keep the suite fast; the benchmark measures
// timings, these tests only check verdicts.
const testBudget = 250 * time.Millisecond

var allProtocols = []scenarios.Protocol{scenarios.MySQL, scenarios.SMTP, scenarios.Mongo, scenarios.DNS}

func run(t *testing.T, p scenarios.Protocol, addr string, mutate ...func(*probe.Config)) probe.Observation {
	t.Helper()
	cfg := probe.Config{Protocol: p, Addr: addr, Budget: testBudget, Exchange: 3 * time.Second}
	for _, m := range mutate {
		m(&cfg)
	}
	obs := probe.Run(context.Background(), cfg)
	t.Logf("%s", mustJSON(t, obs))
	return obs
}

func mustJSON(t *testing.T, obs probe.Observation) []byte {
	t.Helper()
	b, err := json.Marshal(obs)
	if err != nil {
		t.Fatalf("marshal observation: %v", err)
	}
	return b
}

func wantOutcome(t *testing.T, obs probe.Observation, want scenarios.Outcome) {
	t.Helper()
	if obs.Outcome != want {
		t.Fatalf("outcome = %s, want %s (detail: %s)", obs.Outcome, want, obs.Detail)
	}
}

func TestRealServerConnects(t *testing.T) {
	for _, p := range allProtocols {
		t.Run(string(p), func(t *testing.T) {
			srv := probetest.RealServer(t, p)
			obs := run(t, p, srv.Addr)
			wantOutcome(t, obs, scenarios.Connected)
			if obs.ServerBytes == 0 || obs.Timings.FirstByte == 0 || obs.Timings.Connect == 0 {
				t.Errorf("connected without wire evidence: %+v", obs)
			}
			if obs.Timings.FirstByte < obs.Timings.Connect || obs.Timings.Done < obs.Timings.FirstByte {
				t.Errorf("timings out of order: %+v", obs.Timings)
			}
		})
	}
}

func TestSMTPMessageIsOnTheServer(t *testing.T) {
	srv := probetest.RealServer(t, scenarios.SMTP)
	var confirmedID string
	obs := run(t, scenarios.SMTP, srv.Addr, func(c *probe.Config) {
		c.ConfirmSMTP = func(_ context.Context, id string) error {
			if _, ok := srv.Mailbox.Find(id); !ok {
				return fmt.Errorf("message %s not in the mailbox", id)
			}
			confirmedID = id
			return nil
		}
	})
	wantOutcome(t, obs, scenarios.Connected)
	msg, ok := srv.Mailbox.Find(confirmedID)
	if !ok {
		t.Fatalf("mailbox has no message %q; has %d messages", confirmedID, len(srv.Mailbox.Messages()))
	}
	if !strings.Contains(obs.Detail, confirmedID) || !strings.Contains(obs.Detail, "confirmed on the server") {
		t.Errorf("detail %q does not name the confirmed Message-ID %s", obs.Detail, confirmedID)
	}
	if len(msg.To) != 1 || msg.From == "" || !strings.Contains(msg.Subject, confirmedID) {
		t.Errorf("stored message looks wrong: %+v", msg)
	}
}

func TestSMTPConfirmationFailureIsProtocolError(t *testing.T) {
	srv := probetest.RealServer(t, scenarios.SMTP)
	obs := run(t, scenarios.SMTP, srv.Addr, func(c *probe.Config) {
		c.ConfirmSMTP = func(context.Context, string) error { return fmt.Errorf("not here") }
	})
	wantOutcome(t, obs, scenarios.ProtocolError)
}

func TestSMTPWithoutHookSaysThe250IsTheConfirmation(t *testing.T) {
	srv := probetest.RealServer(t, scenarios.SMTP)
	obs := run(t, scenarios.SMTP, srv.Addr)
	wantOutcome(t, obs, scenarios.Connected)
	if !strings.Contains(obs.Detail, "250 is the confirmation") {
		t.Errorf("detail %q does not say the 250 was the only confirmation", obs.Detail)
	}
	if len(srv.Mailbox.Messages()) != 1 {
		t.Errorf("mailbox has %d messages, want 1", len(srv.Mailbox.Messages()))
	}
}

func TestSMTPConfirmViaHTTP(t *testing.T) {
	srv := probetest.RealServer(t, scenarios.SMTP)
	status := httptest.NewServer(srv.Mailbox)
	defer status.Close()
	obs := run(t, scenarios.SMTP, srv.Addr, func(c *probe.Config) {
		c.ConfirmSMTP = probe.ConfirmSMTPViaHTTP(status.URL+"/messages", nil)
	})
	wantOutcome(t, obs, scenarios.Connected)

	err := probe.ConfirmSMTPViaHTTP(status.URL, nil)(context.Background(), "<never-sent@firstbyte.probe>")
	if err == nil {
		t.Fatal("confirming a message that was never sent succeeded")
	}
}

// The silent acceptor is a sidecar holding the connection: every protocol
// hangs, Mongo too, because although Mongo speaks first nobody answers.
func TestSilentAcceptorHangs(t *testing.T) {
	for _, p := range allProtocols {
		t.Run(string(p), func(t *testing.T) {
			obs := run(t, p, probetest.SilentAcceptor(t))
			wantOutcome(t, obs, scenarios.Hung)
			if obs.ServerBytes != 0 || obs.Timings.FirstByte != 0 {
				t.Errorf("hung but saw server bytes: %+v", obs)
			}
			if obs.Timings.Connect <= 0 {
				t.Errorf("hung needs a TCP connect, Connect = %s", obs.Timings.Connect)
			}
			if obs.Timings.Done < obs.Timings.Connect+testBudget {
				t.Errorf("verdict at %s came before connect %s + budget %s", obs.Timings.Done, obs.Timings.Connect, testBudget)
			}
		})
	}
}

func TestClosedPortIsRefused(t *testing.T) {
	for _, p := range allProtocols {
		t.Run(string(p), func(t *testing.T) {
			obs := run(t, p, probetest.ClosedPort(t))
			wantOutcome(t, obs, scenarios.Refused)
			if obs.Timings.Connect != 0 {
				t.Errorf("refused but Connect = %s", obs.Timings.Connect)
			}
		})
	}
}

func TestResettingAcceptorIsReset(t *testing.T) {
	for _, p := range allProtocols {
		t.Run(string(p), func(t *testing.T) {
			obs := run(t, p, probetest.ResettingAcceptor(t))
			wantOutcome(t, obs, scenarios.Reset)
			if !strings.Contains(obs.Detail, "ECONNRESET") && !strings.Contains(obs.Detail, "EOF") && !strings.Contains(obs.Detail, "EPIPE") {
				t.Errorf("detail %q does not say how the peer ended", obs.Detail)
			}
		})
	}
}

// An HTTP server waits for the client like the sidecar does: the
// server-first protocols deadlock with it just the same. Mongo speaks first,
// the HTTP server answers 400 to its bytes: protocol-error.
func TestHTTPServer(t *testing.T) {
	want := map[scenarios.Protocol]scenarios.Outcome{
		scenarios.MySQL: scenarios.Hung,
		scenarios.SMTP:  scenarios.Hung,
		scenarios.Mongo: scenarios.ProtocolError,
		// DNS speaks first too: the 400 is read as a DNS length prefix
		// and message, which does not parse.
		scenarios.DNS: scenarios.ProtocolError,
	}
	for _, p := range allProtocols {
		t.Run(string(p), func(t *testing.T) {
			obs := run(t, p, probetest.HTTPServer(t))
			wantOutcome(t, obs, want[p])
			if !p.ServerFirst() && obs.ServerBytes == 0 {
				t.Errorf("protocol-error without server bytes: %+v", obs)
			}
		})
	}
}

func TestInvalidConfig(t *testing.T) {
	obs := probe.Run(context.Background(), probe.Config{Protocol: "postgres", Addr: "127.0.0.1:1"})
	wantOutcome(t, obs, scenarios.ProtocolError)
	if !strings.Contains(obs.Detail, "Protocol") {
		t.Errorf("detail %q does not name the field", obs.Detail)
	}
}

func TestObservationJSONRoundTrip(t *testing.T) {
	in := probe.Observation{
		Protocol:    scenarios.MySQL,
		Addr:        "10.0.0.1:3306",
		Outcome:     scenarios.Hung,
		Timings:     scenarios.Timings{Connect: 1500 * time.Microsecond, Done: 1001500 * time.Microsecond},
		Budget:      time.Second,
		ServerBytes: 0,
		Detail:      "x",
	}
	b := mustJSON(t, in)
	for _, want := range []string{`"connect":"1.5ms"`, `"firstByte":"0s"`, `"done":"1.0015s"`, `"budget":"1s"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
	var out probe.Observation
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if out != in {
		t.Errorf("round trip changed the observation:\n in  %+v\n out %+v", in, out)
	}
}

// A caller-chosen Message-ID is the one delivered, so the caller can
// confirm delivery on the server itself.
func TestSMTPCallerMessageID(t *testing.T) {
	srv := probetest.RealServer(t, scenarios.SMTP)
	const id = "<caller-chosen-1@firstbyte.test>"
	obs := probe.Run(context.Background(), probe.Config{Protocol: scenarios.SMTP, Addr: srv.Addr, Budget: time.Second, MessageID: id})
	if obs.Outcome != scenarios.Connected {
		t.Fatalf("outcome %s: %s", obs.Outcome, obs.Detail)
	}
	if _, ok := srv.Mailbox.Find(id); !ok {
		t.Fatalf("message %s not on the server; have %d messages", id, len(srv.Mailbox.Messages()))
	}
}
