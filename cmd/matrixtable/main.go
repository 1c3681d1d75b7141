// Command matrixtable joins the report.json files of several e2e runs (one
// per Istio version, as the e2e workflow's matrix writes them) into one
// Markdown table: scenarios × Istio versions, each cell the observed outcome
// and the verdict.
//
//	go run ./cmd/matrixtable artifacts/istio-*/kind/report.json > matrix.md
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/firstbyte/firstbyte/report"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: matrixtable REPORT.json... (the report.json of each run)")
		os.Exit(2)
	}
	var reports []*report.Report
	for _, path := range os.Args[1:] {
		r, err := read(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		reports = append(reports, r)
	}
	if err := Write(os.Stdout, reports); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func read(path string) (*report.Report, error) { return report.ReadFile(path) }

// Write prints the table: one row per scenario (in first-seen order), one
// column per report (its target and Istio version).
func Write(w io.Writer, reports []*report.Report) error {
	type cell struct{ observed, verdict string }
	var ids []string
	expected := map[string]string{}
	cells := make([]map[string]cell, len(reports))
	var b strings.Builder
	b.WriteString("### firstbyte: scenarios × Istio versions\n\n| scenario | expected |")
	for i, r := range reports {
		fmt.Fprintf(&b, " %s Istio %s |", r.Target, r.Istio)
		cells[i] = map[string]cell{}
		for _, row := range r.Rows {
			if _, seen := expected[row.ID]; !seen {
				ids = append(ids, row.ID)
				expected[row.ID] = row.Expected
			}
			obs := row.Observed
			if obs == "" {
				obs = "-"
			} else if row.FirstByte > 0 {
				obs += " " + report.FormatLatency(row.FirstByte)
			}
			cells[i][row.ID] = cell{obs, string(row.Verdict)}
		}
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(reports)) + "\n")
	for _, id := range ids {
		fmt.Fprintf(&b, "| %s | %s |", id, expected[id])
		for i := range reports {
			c, ok := cells[i][id]
			switch {
			case !ok:
				b.WriteString(" not run |")
			case c.verdict == string(report.Fail):
				fmt.Fprintf(&b, " **FAIL** %s |", c.observed)
			default:
				fmt.Fprintf(&b, " %s %s |", c.verdict, c.observed)
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	var pass, fail, skip int
	for _, r := range reports {
		fmt.Fprintf(&b, "- %s Istio %s: %s\n", r.Target, r.Istio, r.Summary())
		p, f, s := r.Counts()
		pass, fail, skip = pass+p, fail+f, skip+s
	}
	fmt.Fprintf(&b, "\nsummary: %d scenarios × %d Istio versions: %d cells passed, %d failed, %d skipped\n", len(ids), len(reports), pass, fail, skip)
	_, err := io.WriteString(w, b.String())
	return err
}
