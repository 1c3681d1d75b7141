package analyze

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// HitsServerFirst reports whether any finding hits a declared or named
// server-first destination: the CI gate (exit code 1).
func (r *Report) HitsServerFirst() bool { return len(r.Findings) > 0 }

// WriteJSON writes the report as JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	if r.Findings == nil {
		r.Findings = []*Finding{}
	}
	if r.Exposed == nil {
		r.Exposed = []*Finding{}
	}
	return writeReportJSON(w, r)
}

// WriteTable writes the terminal report: a table of findings, then each
// finding's causes, hits and checked remediations.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "firstbyte analyze — %s, %d objects, %d client scopes\n", r.Istio, r.Input.Objects, len(r.Scopes))
	r.writeSkipped(w)
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "\nno hazard meets a declared or named server-first destination")
	} else {
		fmt.Fprintf(w, "\n%d hazard(s) meet server-first destinations:\n\n", len(r.Findings))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCLASS\tPORT\tWHERE\tA SERVER-FIRST CLIENT\tCAUSE\tHITS\tFIXED BY")
		for _, f := range r.Findings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", f.ID, f.Class, portText(f), shortWhere(f), short(f.Meets), shortCause(f), len(f.Hits), fixers(f))
		}
		tw.Flush()
		for _, f := range r.Findings {
			writeFindingText(w, f)
		}
	}
	if len(r.Exposed) > 0 {
		fmt.Fprintf(w, "\n%d port(s) where a server-first client would meet a hazard, with no server-first destination known there (name one with --server-first or --server-first-ports):\n", len(r.Exposed))
		for _, f := range r.Exposed {
			fmt.Fprintf(w, "  %s  %s: %s (%s)\n", f.ID, f.Where, f.Meets, shortCause(f))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\nnote: %s\n", n)
	}
	return nil
}

// WriteMarkdown writes the report as Markdown.
func (r *Report) WriteMarkdown(w io.Writer) error {
	fmt.Fprintf(w, "# firstbyte analyze\n\n%s, %d objects, %d client scopes.\n\n", r.Istio, r.Input.Objects, len(r.Scopes))
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "No hazard meets a declared or named server-first destination.")
	} else {
		fmt.Fprintln(w, "| id | class | port | where | a server-first client | cause | hits | fixed by |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
		for _, f := range r.Findings {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %d | %s |\n", f.ID, f.Class, portText(f), md(f.Where), md(f.Meets), md(shortCause(f)), len(f.Hits), md(fixers(f)))
		}
		for _, f := range r.Findings {
			writeFindingMarkdown(w, f, "##")
		}
	}
	if len(r.Exposed) > 0 {
		fmt.Fprintln(w, "\n## Exposed ports (no server-first destination known)")
		for _, f := range r.Exposed {
			fmt.Fprintf(w, "- %s: %s: %s (%s)\n", f.ID, md(f.Where), md(f.Meets), md(shortCause(f)))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\nNote: %s\n", md(n))
	}
	return nil
}

// writeFindingText writes one finding's details: where, what a
// server-first client meets, causes, hits and checked remediations.
func writeFindingText(w io.Writer, f *Finding) {
	fmt.Fprintf(w, "\n%s  %s\n", f.ID, f.Where)
	fmt.Fprintf(w, "    a server-first client %s\n", f.Meets)
	for _, c := range f.Causes {
		fmt.Fprintf(w, "    cause: %s%s\n", c.Text, originText(c.Origin))
	}
	for _, h := range f.Hits {
		fmt.Fprintf(w, "    hits:  %s [%s, %s] → %s (from %s)\n", h.Destination.Name, h.Destination.Source, h.Destination.Protocol, h.Verdict, terseList(h.Scope, 6))
	}
	for _, rr := range f.Remediations {
		fmt.Fprintf(w, "    %-13s %s: %s → %s\n", rr.Verdict+":", rr.Kind, rr.Change, strings.Join(slices.Compact(slices.Clone(rr.Outcomes)), ", "))
		if rr.Verdict == FixesSome {
			fmt.Fprintf(w, "    %13s (%s)\n", "", someText(rr, f))
		}
		if rr.Note != "" && rr.Verdict != NoFix {
			fmt.Fprintf(w, "    %13s (%s)\n", "", rr.Note)
		}
	}
	if len(f.Scenarios) > 0 {
		fmt.Fprintf(w, "    scenarios: %s\n", strings.Join(f.Scenarios, ", "))
	}
}

// writeFindingMarkdown writes one finding's details under a heading of
// the given level.
func writeFindingMarkdown(w io.Writer, f *Finding, heading string) {
	fmt.Fprintf(w, "\n%s %s: %s\n\nA server-first client %s.\n\n", heading, f.ID, md(f.Where), md(f.Meets))
	for _, c := range f.Causes {
		fmt.Fprintf(w, "- cause: %s%s\n", md(c.Text), md(originText(c.Origin)))
	}
	for _, h := range f.Hits {
		fmt.Fprintf(w, "- hits: %s (%s, %s) → %s, from %s\n", md(h.Destination.Name), h.Destination.Source, h.Destination.Protocol, h.Verdict, md(h.Scope))
	}
	if len(f.Remediations) > 0 {
		fmt.Fprintln(w, "\n| remediation | change | checked with Istio's generator | note |\n|---|---|---|---|")
		for _, rr := range f.Remediations {
			note := rr.Note
			if rr.Verdict == FixesSome {
				note = strings.TrimPrefix(someText(rr, f)+"; "+note, "; ")
			}
			fmt.Fprintf(w, "| %s | %s | %s: %s | %s |\n", rr.Kind, md(rr.Change), rr.Verdict, md(strings.Join(slices.Compact(slices.Clone(rr.Outcomes)), ", ")), md(strings.TrimSuffix(note, "; ")))
		}
	}
	if len(f.Scenarios) > 0 {
		fmt.Fprintf(w, "\nScenarios: %s\n", strings.Join(f.Scenarios, ", "))
	}
}

func (r *Report) writeSkipped(w io.Writer) {
	for _, k := range slices.Sorted(maps.Keys(r.Input.Skipped)) {
		s := r.Input.Skipped[k]
		fmt.Fprintf(w, "skipped %d document(s): %s (first at %s)\n", s.Count, k, s.First)
	}
	if n := len(r.Input.AllocatedIPs); n > 0 {
		fmt.Fprintf(w, "%d Service(s) had no clusterIP; analyze gave them one as the API server would (e.g. %s)\n", n, r.Input.AllocatedIPs[0])
	}
}

func md(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

func originText(o Origin) string {
	if o.File == "" {
		return ""
	}
	return " [" + o.String() + "]"
}

func short(s string) string {
	if i := strings.Index(s, " ("); i > 0 {
		return s[:i]
	}
	return s
}

func shortWhere(f *Finding) string {
	if f.server != nil {
		return fmt.Sprintf("server pod :%d (%s)", f.Port, f.Listener)
	}
	if f.Any && f.Port == 0 {
		return "every port (" + f.Listener + ")"
	}
	if f.Any {
		return "every address (" + f.Listener + ")"
	}
	return f.Listener
}

func shortCause(f *Finding) string {
	var out []string
	for _, c := range f.Causes {
		if c.Object != "" {
			s := c.Object
			if c.PortName != "" {
				s += " port " + c.PortName
			}
			if c.AppProtocol != "" {
				s += " appProtocol " + c.AppProtocol
			}
			out = append(out, s)
		}
	}
	if len(out) == 0 && len(f.Causes) > 0 {
		return short(f.Causes[0].Text)
	}
	return strings.Join(out, ", ")
}

// portText is a finding's port for the tables: virtualOutbound's
// findings take every port without a listener of its own.
func portText(f *Finding) string {
	if f.Port == 0 {
		return "every"
	}
	return fmt.Sprint(f.Port)
}

// someText says which hits a remediation that fixes only some fixes, and
// which it leaves.
func someText(rr RemediationResult, f *Finding) string {
	var not []string
	for _, h := range f.Hits {
		if !slices.Contains(rr.Fixed, h.Destination.Name) {
			not = append(not, h.Destination.Name)
		}
	}
	return fmt.Sprintf("fixes %d of %d hits: %s; not %s", len(rr.Fixed), len(f.Hits), strings.Join(rr.Fixed, ", "), strings.Join(not, ", "))
}

func fixers(f *Finding) string {
	var out []string
	for _, r := range f.Remediations {
		switch r.Verdict {
		case Fixes:
			out = append(out, r.Kind)
		case FixesLate:
			out = append(out, r.Kind+" (late)")
		case FixesSome:
			out = append(out, fmt.Sprintf("%s (%d of %d hits)", r.Kind, len(r.Fixed), len(f.Hits)))
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ", ")
}

// terseList shortens a comma-separated list to its first n items and a
// count of the rest: a scope of 1,800 workloads fits on a terminal line
// (-o json keeps every member).
func terseList(list string, n int) string {
	head, tail, _ := strings.Cut(list, " (")
	items := strings.Split(head, ", ")
	if len(items) <= n {
		return list
	}
	out := strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
	if tail != "" {
		out += " (" + tail
	}
	return out
}
