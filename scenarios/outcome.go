package scenarios

import (
	"fmt"
	"time"
)

// Outcome is what a client observes when it tries a protocol exchange. It is
// the common currency of every target: probes observe it on the wire, the
// predict target derives it from Istio's listeners, expectations are written
// in it.
type Outcome string

const (
	// Connected: the full protocol exchange succeeded.
	Connected Outcome = "connected"
	// Hung: TCP was accepted but no server byte arrived within the budget.
	// For a server-first protocol behind a sniffing sidecar this is the bug.
	Hung Outcome = "hung"
	// Reset: the peer closed or reset the connection before any server byte.
	Reset Outcome = "reset"
	// Refused: the TCP connect itself was refused.
	Refused Outcome = "refused"
	// ProtocolError: server bytes arrived but the exchange failed (wrong
	// protocol on the other end, bad reply, delivery not confirmed).
	ProtocolError Outcome = "protocol-error"
)

// Outcomes lists every valid Outcome, in report order.
var Outcomes = []Outcome{Connected, Hung, Reset, Refused, ProtocolError}

// ParseOutcome turns a string into an Outcome, naming the valid values on error.
func ParseOutcome(s string) (Outcome, error) {
	for _, o := range Outcomes {
		if string(o) == s {
			return o, nil
		}
	}
	return "", fmt.Errorf("unknown outcome %q (want one of %v)", s, Outcomes)
}

// Timings are measured from the start of the probe.
type Timings struct {
	// Connect is when the TCP handshake completed (zero if it never did).
	Connect time.Duration `json:"connect"`
	// FirstByte is when the first server byte was read on the raw
	// connection (zero if none arrived).
	FirstByte time.Duration `json:"firstByte"`
	// Closed is when the peer closed or reset the connection before any
	// server byte (zero if it did not).
	Closed time.Duration `json:"closed,omitempty"`
	// Done is when the probe reached its verdict.
	Done time.Duration `json:"done"`
}

// Released is when the connection's hold ended: the first server byte, or
// the peer's close when no byte came; zero when neither happened. It is
// what an expectation's timing (connects-after, fails … after) is matched
// against.
func (t Timings) Released() time.Duration {
	if t.FirstByte > 0 {
		return t.FirstByte
	}
	return t.Closed
}
