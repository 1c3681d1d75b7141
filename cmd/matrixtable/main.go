// Command matrixtable joins the report.json files of several runs (one per
// Istio version or line, as the e2e workflow's matrix and
// hack/predict-lines.sh write them) into one Markdown table: scenarios ×
// Istio versions, each cell the observed outcome and the verdict.
//
//	go run ./cmd/matrixtable artifacts/istio-*/kind/report.json > matrix.md
//	go run ./cmd/matrixtable -check main.json -expect hack/istio/release-1.30/expect.yaml r130.json
//
// -expect FILE applies a line's own expectations (lineexpect.go) to the
// report that follows it: the rows it lists are judged against the
// outcome that line must show, not the catalogue's expect (a claim about
// the main line). -check exits 1 when any cell fails.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/firstbyte/firstbyte/report"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = "usage: matrixtable [-check] [-expect LINE.yaml] REPORT.json... (the report.json of each run; -expect applies to the report after it)"

func run(args []string, stdout, stderr io.Writer) int {
	var cols []Column
	var expect *LineExpect
	check := false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-check":
			check = true
		case a == "-expect":
			if i+1 >= len(args) {
				fmt.Fprintln(stderr, "matrixtable: -expect needs a file;", usage)
				return 2
			}
			i++
			e, err := ReadLineExpect(args[i])
			if err != nil {
				fmt.Fprintln(stderr, "matrixtable:", err)
				return 2
			}
			expect = e
		case strings.HasPrefix(a, "-"):
			fmt.Fprintf(stderr, "matrixtable: unknown flag %s; %s\n", a, usage)
			return 2
		default:
			r, err := report.ReadFile(a)
			if err != nil {
				fmt.Fprintln(stderr, "matrixtable:", err)
				return 2
			}
			if expect != nil && !expect.Describes(r) {
				fmt.Fprintf(stderr, "matrixtable: %s holds the expectations of the %s line, but %s is Istio %s: put -expect before the report of its own line\n", expect.File, expect.Line, a, r.Istio)
				return 2
			}
			cols = append(cols, Column{Report: r, Expect: expect})
			expect = nil
		}
	}
	if len(cols) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	failed, err := Write(stdout, cols)
	if err != nil {
		fmt.Fprintln(stderr, "matrixtable:", err)
		return 1
	}
	if check && failed > 0 {
		return 1
	}
	return 0
}

// Column is one run: its report and, for an Istio line other than the
// main one, that line's own expectations (nil otherwise).
type Column struct {
	Report *report.Report
	Expect *LineExpect
}

// Write prints the table, one row per scenario (in first-seen order), one
// column per report (its target and Istio version), and returns how many
// cells failed.
func Write(w io.Writer, cols []Column) (failed int, err error) {
	var ids []string
	expected := map[string]string{}
	cells := make([]map[string]cell, len(cols))
	var b strings.Builder
	b.WriteString("### firstbyte: scenarios × Istio versions\n\n| scenario | expected |")
	for i, c := range cols {
		fmt.Fprintf(&b, " %s Istio %s |", c.Report.Target, c.Report.Istio)
		cells[i] = map[string]cell{}
		for _, row := range c.Report.Rows {
			if _, seen := expected[row.ID]; !seen {
				ids = append(ids, row.ID)
				expected[row.ID] = row.Expected
			}
			cells[i][row.ID] = c.judge(row)
		}
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(cols)) + "\n")
	for _, id := range ids {
		fmt.Fprintf(&b, "| %s | %s |", id, expected[id])
		for i := range cols {
			c, ok := cells[i][id]
			switch {
			case !ok:
				b.WriteString(" not run |")
			case c.verdict == report.Fail:
				fmt.Fprintf(&b, " **FAIL** %s%s |", c.observed, c.note)
			default:
				fmt.Fprintf(&b, " %s %s%s |", c.verdict, c.observed, c.note)
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	var pass, fail, skip int
	for i, c := range cols {
		var p, f, s, own int
		for _, cl := range cells[i] {
			switch cl.verdict {
			case report.Pass:
				p++
			case report.Fail:
				f++
			case report.Skip:
				s++
			}
			if cl.note != "" && cl.verdict == report.Pass {
				own++
			}
		}
		fmt.Fprintf(&b, "- %s Istio %s: %d passed, %d failed, %d skipped", c.Report.Target, c.Report.Istio, p, f, s)
		if c.Expect != nil {
			fmt.Fprintf(&b, " (%d passed on the line's own expectation, %s)", own, c.Expect.File)
		}
		b.WriteString("\n")
		pass, fail, skip = pass+p, fail+f, skip+s
	}
	fmt.Fprintf(&b, "\nsummary: %d scenarios × %d Istio versions: %d cells passed, %d failed, %d skipped\n", len(ids), len(cols), pass, fail, skip)
	if fail > 0 {
		b.WriteString("\nFailed cells:\n")
		for _, id := range ids {
			for i, c := range cols {
				if cl, ok := cells[i][id]; ok && cl.verdict == report.Fail {
					fmt.Fprintf(&b, "- %s on Istio %s: %s\n", id, c.Report.Istio, cl.reason)
				}
			}
		}
	}
	_, err = io.WriteString(w, b.String())
	return fail, err
}

// cell is one scenario on one run, as the table shows it.
type cell struct {
	observed string
	verdict  report.Verdict
	// note marks a cell judged on the line's own expectation.
	note   string
	reason string
}

// judge gives a row its cell: the report's own verdict, unless the
// column's line lists the row with an outcome of its own.
func (c Column) judge(row report.Row) cell {
	obs := row.Observed
	if obs == "" {
		obs = "-"
	} else if row.FirstByte > 0 {
		obs += " " + report.FormatLatency(row.FirstByte)
	}
	out := cell{observed: obs, verdict: row.Verdict, reason: row.Reason}
	if c.Expect == nil {
		return out
	}
	want, ok := c.Expect.Rows[row.ID]
	if !ok {
		return out
	}
	out.note = " ≠ main"
	if row.Verdict == report.Skip {
		out.verdict, out.reason = report.Fail, fmt.Sprintf("%s lists it (%s), but the line skipped it: %s", c.Expect.File, want.Expect, row.Reason)
		return out
	}
	if ok, why := want.Matches(row); !ok {
		out.verdict, out.reason = report.Fail, fmt.Sprintf("%s: the %s line must show %s (%s): %s", c.Expect.File, c.Expect.Line, want.Expect, want.Why, why)
		return out
	}
	out.verdict, out.reason = report.Pass, ""
	return out
}
