package predict

import (
	"fmt"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/scenarios"
)

// Step is one decision on the connection's way, in words.
type Step struct {
	// Stage is what decided: capture, config, listener, listener filters,
	// filter chain, network filter, cluster, outcome.
	Stage    string `json:"stage"`
	Decision string `json:"decision"`
}

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
	Trace  []Step `json:"trace"`
}

func (p *Prediction) add(stage, format string, args ...any) {
	p.Trace = append(p.Trace, Step{Stage: stage, Decision: fmt.Sprintf(format, args...)})
}

// Decision is the deciding path in one line, for tables:
// "listener / chain → cluster", or why no sidecar was involved.
func (p Prediction) Decision() string {
	if p.Listener == "" {
		return "not captured → direct"
	}
	var b strings.Builder
	b.WriteString(p.Listener)
	if p.FilterChain != "" {
		b.WriteString(" / " + p.FilterChain)
	}
	if p.Cluster != "" {
		b.WriteString(" → " + p.Cluster)
	}
	if p.HeldBy != "" {
		b.WriteString(": held by " + p.HeldBy)
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
