package scenarios

import (
	"fmt"
	"time"
)

// The timing thresholds a verdict uses, and what each guards against:
//
//   - LateConnect (500 ms), "prompt": a plain "connects" must see the
//     server's first byte within it. It separates a prompt connect (a few
//     ms on loopback or in a cluster) from one that only landed after an
//     inspector's timeout (the smallest the catalogue uses is 1s), so a
//     remediation that merely converts a hang into a late connect cannot
//     pass as a fix. Too small, and a loaded machine's scheduling delay
//     reads as a late connect; the report shows each row's margin.
//   - the connects-after window [0.8·D, 1.5·D + LateConnect]: the first
//     byte of "connects-after D" must land around the detection timeout D.
//     The lower edge guards against a connect that did not wait for the
//     inspector (the timeout was not what let it through); the upper edge
//     against one that waited for something else (a second timeout, a
//     retry), with LateConnect of slack for a loaded machine.
//   - the hang budget (Expectation.Budget, base 1s): a hung verdict means
//     no server byte within it after the TCP connect. It guards against
//     calling a slow greeting a hang: the hung rule also needs the control
//     probe (direct path, same server) to answer within LateConnect, so
//     the budget's margin is the budget minus the control's first byte.

// Margin is how far an observed release (first server byte, or the close of
// a connection that got none) stayed inside the timing threshold its
// expectation is judged by (negative: outside), and that threshold in
// words. ok is false when no timing threshold applies: "hangs", or another
// outcome than the expected one observed.
func (e Expectation) Margin(o Outcome, released time.Duration) (margin time.Duration, threshold string, ok bool) {
	if o != e.Outcome || !e.TimedOutcome() {
		return 0, "", false
	}
	if e.After == 0 {
		return LateConnect - released, fmt.Sprintf("prompt ≤ %s", LateConnect), true
	}
	lo, hi := e.Earliest(), e.Latest()
	return min(released-lo, hi-released), fmt.Sprintf("window %s–%s", lo, hi), true
}
