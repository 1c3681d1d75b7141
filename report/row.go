package report

import (
	"time"

	"github.com/firstbyte/firstbyte/scenarios"
)

// NewRow starts a row with the scenario's identity and expectation; the
// target fills in what it observed.
func NewRow(s scenarios.Scenario) Row {
	return Row{
		ID:          s.ID,
		Why:         s.Why,
		Protocol:    string(s.Protocol),
		Placement:   string(s.Placement),
		Port:        s.Port,
		Collider:    s.Collider.String(),
		Remediation: s.Remediation.String(),
		Labels:      s.Labels(),
		Expected:    s.Expect.String(),
	}
}

// Judge sets Observed, FirstByte, Verdict and Reason by matching an
// outcome against the row's scenario expectation. released is when the
// connection's hold ended (scenarios.Timings.Released): the first server
// byte, or the close of a connection that got none; the row's latency
// column shows it.
func (r *Row) Judge(e scenarios.Expectation, o scenarios.Outcome, released time.Duration) {
	r.Observed = string(o)
	r.FirstByte = released
	if m, threshold, ok := e.Margin(o, released); ok {
		r.Margin = FormatMargin(m) + " (" + threshold + ")"
	}
	if ok, why := e.Match(o, released); ok {
		r.Verdict, r.Reason = Pass, ""
	} else {
		r.Verdict, r.Reason = Fail, why
	}
}

// FormatMargin renders a threshold margin, signed when negative.
func FormatMargin(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d < 0:
		return "-" + FormatLatency(-d)
	}
	return FormatLatency(d)
}
