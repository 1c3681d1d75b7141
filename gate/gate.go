package gate

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/report"
	"github.com/firstbyte/firstbyte/scenarios"
)

// Side is one run of the comparison: a line and its predict report.
type Side struct {
	// Line is the line's name ("release-1.30"), or the report's file
	// when the caller compares reports it did not build.
	Line   string
	Report *report.Report
}

// Result is what an upgrade from one line to another changes.
type Result struct {
	// From and To name the lines, FromIstio and ToIstio their Istio
	// builds as the reports state them.
	From      string `json:"from"`
	To        string `json:"to"`
	FromIstio string `json:"fromIstio"`
	ToIstio   string `json:"toIstio"`
	// Compared counts the rows present in both reports.
	Compared int `json:"compared"`
	// Changes are the rows whose outcome differs, in FROM's row order.
	Changes []Change `json:"changes"`
	// OnlyFrom and OnlyTo are scenario ids one report lacks (a scenario
	// set that changed between the runs: not compared).
	OnlyFrom []string `json:"onlyFrom,omitempty"`
	OnlyTo   []string `json:"onlyTo,omitempty"`
}

// Change is one row whose outcome differs between the lines.
type Change struct {
	ID  string `json:"id"`
	Why string `json:"why,omitempty"`
	// From and To are the row on each line.
	From Outcome `json:"from"`
	To   Outcome `json:"to"`
	// Regression: the row connects on FROM and does not on TO.
	Regression bool `json:"regression"`
}

// Outcome is one row on one line.
type Outcome struct {
	// Verdict is the outcome in the catalogue's words ("connects",
	// "fails reset after 15s", "hangs"), "not predicted: <reason>" for a
	// row the line skipped (its validation rejects the input), or
	// "error: <reason>" when predict failed on it.
	Verdict string `json:"verdict"`
	// Connects says whether a client gets its server's greeting.
	Connects bool `json:"connects"`
	// Decisive is the decisive step of the explain trace: the deciding
	// listener / filter chain → cluster (report.Row.Decision).
	Decisive string `json:"decisive,omitempty"`
}

// outcomeOf states a report row in the catalogue's words. A release
// (first byte, or the close) after more than scenarios.LateConnect is a
// held connection and says after how long.
func outcomeOf(row report.Row) Outcome {
	o := Outcome{Decisive: row.Decision}
	switch {
	case row.Verdict == report.Skip:
		o.Verdict = "not predicted: " + row.Reason
		return o
	case row.Observed == "":
		o.Verdict = "error: " + row.Reason
		return o
	}
	e := scenarios.Expectation{Outcome: scenarios.Outcome(row.Observed)}
	if e.Outcome != scenarios.Hung && row.FirstByte > scenarios.LateConnect {
		e.After = row.FirstByte.Round(100 * time.Millisecond)
	}
	o.Verdict, o.Connects = e.String(), e.Outcome == scenarios.Connected
	return o
}

// Diff compares two predict reports row by row (by scenario id).
func Diff(from, to Side) Result {
	r := Result{From: from.Line, To: to.Line, FromIstio: from.Report.Istio, ToIstio: to.Report.Istio}
	toRows := map[string]report.Row{}
	for _, row := range to.Report.Rows {
		toRows[row.ID] = row
	}
	seen := map[string]bool{}
	for _, f := range from.Report.Rows {
		seen[f.ID] = true
		t, ok := toRows[f.ID]
		if !ok {
			r.OnlyFrom = append(r.OnlyFrom, f.ID)
			continue
		}
		r.Compared++
		a, b := outcomeOf(f), outcomeOf(t)
		if a.Verdict == b.Verdict {
			continue
		}
		r.Changes = append(r.Changes, Change{ID: f.ID, Why: f.Why, From: a, To: b, Regression: a.Connects && !b.Connects})
	}
	for _, t := range to.Report.Rows {
		if !seen[t.ID] {
			r.OnlyTo = append(r.OnlyTo, t.ID)
		}
	}
	return r
}

// Regressions counts the rows that connect on FROM and not on TO.
func (r Result) Regressions() int {
	n := 0
	for _, c := range r.Changes {
		if c.Regression {
			n++
		}
	}
	return n
}

// ExitCode is the gate's verdict: 1 when a row regresses, 0 otherwise.
func (r Result) ExitCode() int {
	if r.Regressions() > 0 {
		return 1
	}
	return 0
}

// Summary is the closing line.
func (r Result) Summary() string {
	if n := r.Regressions(); n > 0 {
		return fmt.Sprintf("gate: FAIL: %d of %d rows connect on %s and not on %s (%d changed)", n, r.Compared, r.From, r.To, len(r.Changes))
	}
	return fmt.Sprintf("gate: pass: no row that connects on %s stops connecting on %s (%d of %d rows changed)", r.From, r.To, len(r.Changes), r.Compared)
}

// WriteMarkdown writes the result as a GitHub step summary: a header
// naming both Istio builds, one table row per change (regressions first),
// and the summary line.
func (r Result) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### firstbyte gate: Istio %s → %s\n\n", r.From, r.To)
	fmt.Fprintf(&b, "- from: Istio %s\n- to: Istio %s\n\n", r.FromIstio, r.ToIstio)
	if len(r.Changes) == 0 {
		fmt.Fprintf(&b, "No row changes: the %d rows predict the same outcome on both lines.\n", r.Compared)
	} else {
		fmt.Fprintf(&b, "| scenario | %s | %s | decisive step on %s | decisive step on %s |\n|---|---|---|---|---|\n", r.From, r.To, r.From, r.To)
		for _, regression := range []bool{true, false} {
			for _, c := range r.Changes {
				if c.Regression != regression {
					continue
				}
				id := c.ID
				if c.Regression {
					id = "**" + id + "** (regression)"
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", id, cell(c.From.Verdict), cell(c.To.Verdict), cell(c.From.Decisive), cell(c.To.Decisive))
			}
		}
	}
	if len(r.OnlyFrom)+len(r.OnlyTo) > 0 {
		fmt.Fprintf(&b, "\nNot compared (in one report only): %s on %s; %s on %s.\n", list(r.OnlyFrom), r.From, list(r.OnlyTo), r.To)
	}
	fmt.Fprintf(&b, "\n%s\n", r.Summary())
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the result for machines.
func (r Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if r.Changes == nil {
		r.Changes = []Change{}
	}
	return enc.Encode(r)
}

func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

func list(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}
