package scenarios

import (
	"testing"
	"time"
)

func TestMargin(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		e      Expectation
		o      Outcome
		fb     time.Duration
		margin time.Duration
		ok     bool
	}{
		{Expectation{Outcome: Connected}, Connected, 3 * ms, 497 * ms, true},
		{Expectation{Outcome: Connected}, Connected, 683 * ms, -183 * ms, true},
		// connects-after 1s: window 800ms–2s; the nearer edge counts.
		{Expectation{Outcome: Connected, After: time.Second}, Connected, 1010 * ms, 210 * ms, true},
		{Expectation{Outcome: Connected, After: time.Second}, Connected, 1900 * ms, 100 * ms, true},
		{Expectation{Outcome: Connected, After: time.Second}, Connected, 700 * ms, -100 * ms, true},
		{Expectation{Outcome: Hung}, Hung, 0, 0, false},
		{Expectation{Outcome: Connected}, Hung, 0, 0, false},
	} {
		m, th, ok := c.e.Margin(c.o, c.fb)
		if m != c.margin || ok != c.ok || ok && th == "" {
			t.Errorf("%s observed %s after %s: margin %s %q %v, want %s %v", c.e, c.o, c.fb, m, th, ok, c.margin, c.ok)
		}
		// The margin's sign agrees with the verdict.
		if match, _ := c.e.Match(c.o, c.fb); ok && match != (m >= 0) {
			t.Errorf("%s after %s: margin %s but Match %v", c.e, c.fb, m, match)
		}
	}
}
