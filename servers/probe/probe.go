package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/firstbyte/firstbyte/scenarios"
)

// Defaults applied by Run to zero Config fields.
const (
	DefaultBudget   = time.Second
	DefaultExchange = 5 * time.Second
)

// DialFunc opens the probe's TCP connections. The default is a plain
// net.Dialer; the local target swaps in one that dials from a network
// namespace.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Config says what to probe and how long to wait.
type Config struct {
	Protocol scenarios.Protocol
	// Addr is host:port of the server (or of whatever sits in its path).
	Addr string
	// Budget is the longest wait for the first server byte after the TCP
	// connect; past it the verdict is hung. Zero means DefaultBudget.
	Budget time.Duration
	// Exchange bounds the rest of the exchange after the first server byte,
	// and the TCP connect itself. Zero means DefaultExchange.
	Exchange time.Duration
	// Dial opens TCP connections; nil means net.Dialer.
	Dial DialFunc
	// ConfirmSMTP, when set, is asked after the 250 reply to DATA whether
	// the server really holds the message with this Message-ID (angle
	// brackets included). An error makes the verdict protocol-error.
	ConfirmSMTP func(ctx context.Context, messageID string) error
	// MessageID is the SMTP Message-ID to send (angle brackets included);
	// empty means a fresh unique one. A caller that confirms delivery
	// itself after the probe (the local target reads the server's mailbox
	// in-process) picks the ID up front.
	MessageID string
	// User and Password log in to MySQL and MongoDB; empty User means the
	// embedded servers' fixed credentials (mysqlserver.DefaultUser) for
	// MySQL and no authentication for MongoDB. Upstream servers
	// (SERVERS=upstream) take a per-run random password.
	User, Password string
}

func (c Config) withDefaults() Config {
	if c.Budget == 0 {
		c.Budget = DefaultBudget
	}
	if c.Exchange == 0 {
		c.Exchange = DefaultExchange
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	return c
}

// Validate reports the first field that makes the config unusable.
func (c Config) Validate() error {
	if _, err := scenarios.ParseProtocol(string(c.Protocol)); err != nil {
		return fmt.Errorf("Protocol: %w", err)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("Addr %q: want host:port: %w", c.Addr, err)
	}
	if c.Budget < 0 {
		return fmt.Errorf("Budget %s: must not be negative", c.Budget)
	}
	if c.Exchange < 0 {
		return fmt.Errorf("Exchange %s: must not be negative", c.Exchange)
	}
	return nil
}

// Observation is a probe's verdict with the evidence behind it. Its JSON form
// writes durations as Go duration strings ("203.117ms", "0s"); see
// MarshalJSON.
type Observation struct {
	Protocol scenarios.Protocol `json:"protocol"`
	Addr     string             `json:"addr"`
	Outcome  scenarios.Outcome  `json:"outcome"`
	Timings  scenarios.Timings  `json:"timings"`
	Budget   time.Duration      `json:"budget"`
	// ServerBytes counts bytes read from the server on the raw connections,
	// before any driver buffering, up to the verdict.
	ServerBytes int64 `json:"serverBytes"`
	// Detail says what was confirmed, or the error or timeout that decided
	// the verdict.
	Detail string `json:"detail"`
}

// exchangeFunc runs one protocol's real client exchange, dialing only
// through dial, and returns what it confirmed.
type exchangeFunc func(ctx context.Context, cfg Config, dial DialFunc) (confirmed string, err error)

var exchanges = map[scenarios.Protocol]exchangeFunc{
	scenarios.MySQL: exchangeMySQL,
	scenarios.SMTP:  exchangeSMTP,
	scenarios.Mongo: exchangeMongo,
	scenarios.DNS:   exchangeDNS,
}

// Run probes cfg.Addr with a real client for cfg.Protocol and returns the
// verdict; it never returns an error, because every failure is an Outcome
// (an invalid Config is reported as protocol-error with the field named in
// Detail). Run returns as soon as the verdict is known: when the budget
// expires without a server byte it closes the probe's sockets and returns
// without waiting for the driver to notice.
func Run(ctx context.Context, cfg Config) Observation {
	start := time.Now()
	cfg = cfg.withDefaults()
	obs := Observation{Protocol: cfg.Protocol, Addr: cfg.Addr, Budget: cfg.Budget}
	if err := cfg.Validate(); err != nil {
		obs.Outcome, obs.Detail = scenarios.ProtocolError, "invalid probe config: "+err.Error()
		return obs
	}

	t := newTracker(start, cfg.Dial, cfg.Exchange)
	exCtx, cancel := context.WithCancel(ctx)
	// Cancelling on return stops a driver still working after a verdict.
	defer cancel()
	done := make(chan exchangeResult, 1)
	go func() {
		confirmed, err := exchanges[cfg.Protocol](exCtx, cfg, t.DialContext)
		done <- exchangeResult{confirmed, err}
	}()

	var (
		connected = t.connectedCh
		firstByte = t.firstByteCh
		budget    <-chan time.Time
		exchange  <-chan time.Time
	)
	for {
		select {
		case <-connected:
			connected = nil
			if firstByte == nil {
				break // a fast server's byte was handled first: no budget to run
			}
			timer := time.NewTimer(cfg.Budget - (t.since() - t.snapshot().connectAt))
			defer timer.Stop()
			budget = timer.C
		case <-firstByte:
			firstByte, budget = nil, nil
			timer := time.NewTimer(cfg.Exchange)
			defer timer.Stop()
			exchange = timer.C
		case <-budget:
			budget = nil
			// A result that raced the timer is the better evidence.
			select {
			case r := <-done:
				return verdict(obs, t, r)
			default:
			}
			if w, aborted := t.abortIfSilent(); aborted {
				if w.peerEnd != "" {
					return observe(obs, t, w, scenarios.Reset, w.peerEnd)
				}
				return observe(obs, t, w, scenarios.Hung,
					fmt.Sprintf("TCP connected but no server byte within the %s budget", cfg.Budget))
			}
			// The first byte beat the timer by a hair; firstByte fires next.
		case <-exchange:
			w := t.abort()
			return observe(obs, t, w, scenarios.ProtocolError,
				fmt.Sprintf("exchange not finished %s after the first server byte", cfg.Exchange))
		case r := <-done:
			return verdict(obs, t, r)
		case <-ctx.Done():
			w := t.abort()
			return observe(obs, t, w, scenarios.ProtocolError, "probe cancelled: "+ctx.Err().Error())
		}
	}
}

type exchangeResult struct {
	confirmed string
	err       error
}

// verdict classifies a finished exchange by what the wire showed.
func verdict(obs Observation, t *tracker, r exchangeResult) Observation {
	w := t.abort()
	switch {
	case r.err == nil && w.gotByte:
		return observe(obs, t, w, scenarios.Connected, r.confirmed)
	case r.err == nil:
		// A client cannot complete an exchange without a server byte; if
		// one claims to, do not believe it.
		return observe(obs, t, w, scenarios.ProtocolError, "exchange reported success without any server byte: "+r.confirmed)
	case w.gotByte:
		return observe(obs, t, w, scenarios.ProtocolError, r.err.Error())
	case !w.connected && w.dialErr != nil:
		return observe(obs, t, w, scenarios.Refused, describeDialError(w.dialErr))
	case !w.connected:
		return observe(obs, t, w, scenarios.ProtocolError, "client failed before dialing: "+r.err.Error())
	case w.peerEnd != "":
		return observe(obs, t, w, scenarios.Reset, w.peerEnd)
	default:
		return observe(obs, t, w, scenarios.ProtocolError,
			"client gave up after TCP connect, before any server byte and before the budget: "+r.err.Error())
	}
}

func describeDialError(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "TCP connect refused (ECONNREFUSED): " + err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "TCP connect timed out (no SYN-ACK): " + err.Error()
	}
	return "TCP connect failed: " + err.Error()
}

func observe(obs Observation, t *tracker, w wireState, o scenarios.Outcome, detail string) Observation {
	obs.Outcome, obs.Detail = o, detail
	obs.ServerBytes = w.serverBytes
	obs.Timings.Done = t.since()
	if w.connected {
		obs.Timings.Connect = w.connectAt
	}
	if w.gotByte {
		obs.Timings.FirstByte = w.firstByteAt
	}
	if w.peerEnd != "" {
		obs.Timings.Closed = w.peerEndAt
	}
	return obs
}
