package predict

import (
	"fmt"
	"istio.io/istio/pilot/pkg/simulation"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/scenarios"
)

// Prediction is the outcome predict derives for a connection, with the
// deciding listener, chain and cluster and the trace that led there.
type Prediction struct {
	Outcome scenarios.Outcome `json:"outcome"`
	// After is when the first server byte arrives for a late connect (the
	// listener filter timeout that had to pass); zero for a prompt one.
	After       time.Duration `json:"after,omitempty"`
	Listener    string        `json:"listener,omitempty"`
	FilterChain string        `json:"filterChain,omitempty"`
	Cluster     string        `json:"cluster,omitempty"`
	// HeldBy names what holds a hung connection, such as
	// "envoy.filters.listener.http_inspector (timeout 0s)".
	HeldBy string `json:"heldBy,omitempty"`
	// Direct says why no client sidecar handled the connection ("not
	// captured", "no client sidecar"); empty when one did or when only
	// the server side was evaluated.
	Direct string `json:"direct,omitempty"`
	// Transport is how the connection leaves the client pod, when the
	// walk gets that far: "plaintext" (the application's own bytes), or
	// "tls"/"mtls" when the client sidecar's cluster originates TLS.
	Transport string `json:"transport,omitempty"`
	// Inbound is the server sidecar's deciding path, when the server runs
	// a sidecar.
	Inbound *InboundPath `json:"inbound,omitempty"`
	// DeniedBy names the RBAC filter and policy that closed the
	// connection, when one did.
	DeniedBy string `json:"deniedBy,omitempty"`
	// ServerBytesBeforeDeny says, for a connection an authorization policy
	// denies, whether the server's first bytes reached the client before
	// the close; nil when nothing denied it.
	ServerBytesBeforeDeny *bool        `json:"serverBytesBeforeDeny,omitempty"`
	Trace                 []envoy.Step `json:"trace"`
	// straightIn is true when the client sidecar's TLS reaches the server
	// application with no server sidecar to terminate it.
	straightIn bool
}

// InboundPath is where the server sidecar takes a connection.
type InboundPath struct {
	// Arrived is how the connection reached it: "plaintext" or "mtls".
	Arrived     string `json:"arrived"`
	Listener    string `json:"listener,omitempty"`
	FilterChain string `json:"filterChain,omitempty"`
	Cluster     string `json:"cluster,omitempty"`
}

// Encrypted reports whether the connection leaves the client pod in TLS
// (a client sidecar's Istio mTLS) rather than plaintext.
func (p Prediction) Encrypted() bool {
	return p.Transport != "" && p.Transport != string(simulation.Plaintext)
}

// ServerBytesBeforeDenyText is the property in a word: yes, no, or "-"
// when nothing denied the connection.
func (p Prediction) ServerBytesBeforeDenyText() string {
	switch {
	case p.ServerBytesBeforeDeny == nil:
		return "-"
	case *p.ServerBytesBeforeDeny:
		return "yes"
	default:
		return "no"
	}
}

// addConfig names where a sidecar configuration came from, and its notes.
func (p *Prediction) addConfig(cfg *envoy.Config) {
	if cfg.Source != "" {
		p.add("config", "%s", cfg.Source)
	}
	for _, n := range cfg.Notes {
		p.add("config", "%s", n)
	}
}

func (p *Prediction) add(stage, format string, args ...any) {
	p.Trace = append(p.Trace, envoy.Step{Stage: stage, Decision: fmt.Sprintf(format, args...)})
}

// Decision is the deciding path in one line, for tables:
// "listener / chain → cluster", or why no sidecar was involved, then, when
// the server runs a sidecar, "⇒ mtls virtualInbound / chain → cluster",
// then what holds or denied the connection.
func (p Prediction) Decision() string {
	var b strings.Builder
	switch {
	case p.Listener != "":
		b.WriteString(p.Listener)
		if p.FilterChain != "" {
			b.WriteString(" / " + p.FilterChain)
		}
		if p.Cluster != "" {
			b.WriteString(" → " + p.Cluster)
		}
	case p.Direct != "":
		b.WriteString(p.Direct + " → direct")
	case p.Inbound == nil:
		b.WriteString("not captured → direct")
	}
	if p.straightIn {
		b.WriteString(" ⇒ " + p.Transport + " straight into the server application")
	}
	if in := p.Inbound; in != nil {
		if b.Len() > 0 {
			b.WriteString(" ⇒ ")
		}
		b.WriteString(in.Arrived + " " + in.Listener)
		if in.FilterChain != "" {
			b.WriteString(" / " + in.FilterChain)
		}
		if in.Cluster != "" {
			b.WriteString(" → " + in.Cluster)
		}
	}
	if p.HeldBy != "" {
		b.WriteString(": held by " + p.HeldBy)
	}
	if p.DeniedBy != "" {
		b.WriteString(": denied by " + p.DeniedBy)
	}
	return b.String()
}

// Verdict is the outcome as a scenario expectation reads.
func (p Prediction) Verdict() string {
	if p.Outcome == scenarios.Connected && p.After > 0 {
		return fmt.Sprintf("connected after %s", p.After)
	}
	return string(p.Outcome)
}

// String prints the explain trace: every decision, numbered, then the
// outcome.
func (p Prediction) String() string {
	var b strings.Builder
	width := 0
	for _, s := range p.Trace {
		width = max(width, len(s.Stage))
	}
	for i, s := range p.Trace {
		fmt.Fprintf(&b, "%2d. %-*s  %s\n", i+1, width, s.Stage, s.Decision)
	}
	fmt.Fprintf(&b, "=> %s (%s)\n", p.Verdict(), p.Decision())
	return b.String()
}
