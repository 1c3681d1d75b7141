package analyze

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// entryGroup is the entries of one finding and destination: the clients
// it meets them from.
type entryGroup struct {
	Entry
	members []string
}

// groupEntries folds entries that differ only in scope member.
func groupEntries(es []Entry) []entryGroup {
	sortEntries(es)
	var out []entryGroup
	index := map[string]int{}
	for _, e := range es {
		k := e.Finding + "|" + e.Class + "|" + e.Cause + "|" + e.Destination
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, entryGroup{Entry: e})
		}
		out[i].members = append(out[i].members, e.Scope)
	}
	return out
}

func (g entryGroup) from() string { return terseList(strings.Join(g.members, ", "), 6) }

func (g entryGroup) port() string {
	if g.Port == 0 {
		return "every"
	}
	return fmt.Sprint(g.Port)
}

// portPhrase is the port in words: "port 3306", "every port".
func (g entryGroup) portPhrase() string {
	if g.Port == 0 {
		return "every port"
	}
	return fmt.Sprintf("port %d", g.Port)
}

// summary is the gate's one-line verdict.
func (c *Change) summary() string {
	verdict := "no new hazard meets a server-first destination"
	if c.Fails() {
		verdict = fmt.Sprintf("%d new hazard(s) meet server-first destinations", len(groupEntries(c.New)))
	}
	return fmt.Sprintf("%s; %d fixed, %d unchanged", verdict, len(groupEntries(c.Fixed)), c.Unchanged)
}

// WriteJSON writes the change as JSON (the head's report included).
func (c *Change) WriteJSON(w io.Writer) error {
	if c.New == nil {
		c.New = []Entry{}
	}
	if c.Fixed == nil {
		c.Fixed = []Entry{}
	}
	if c.Head.Findings == nil {
		c.Head.Findings = []*Finding{}
	}
	if c.Head.Exposed == nil {
		c.Head.Exposed = []*Finding{}
	}
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(c)
}

// WriteTable writes the change for a terminal: the new hazards with
// their details and checked remediations, then the fixed ones.
func (c *Change) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "firstbyte change gate — %s, %d objects, %d client scopes\n", c.Head.Istio, c.Head.Input.Objects, len(c.Head.Scopes))
	c.Head.writeSkipped(w)
	fmt.Fprintf(w, "baseline: %s\n\n%s\n", c.Method, c.summary())
	for _, g := range groupEntries(c.New) {
		fmt.Fprintf(w, "  new:   %s %s %s, %s → %s (from %s; cause %s)\n", g.Finding, g.Class, g.portPhrase(), g.Destination, g.Verdict, g.from(), g.Cause)
	}
	for _, g := range groupEntries(c.Fixed) {
		fmt.Fprintf(w, "  fixed: %s %s, %s, was %s (from %s; cause %s)\n", g.Class, g.portPhrase(), g.Destination, g.Verdict, g.from(), g.Cause)
	}
	for _, f := range c.newFindings() {
		writeFindingText(w, f)
	}
	for _, n := range c.Head.Notes {
		fmt.Fprintf(w, "\nnote: %s\n", n)
	}
	return nil
}

// WriteMarkdown writes the change for a pull-request comment or a
// GitHub step summary.
func (c *Change) WriteMarkdown(w io.Writer) error {
	mark := "✅"
	if c.Fails() {
		mark = "❌"
	}
	fmt.Fprintf(w, "# firstbyte change gate\n\n%s **%s**.\n\n%s, %d objects, %d client scopes; baseline: %s.\n", mark, md(c.summary()), c.Head.Istio, c.Head.Input.Objects, len(c.Head.Scopes), md(c.Method))
	if len(c.New) > 0 {
		fmt.Fprintln(w, "\n## New hazards\n\n| finding | class | port | destination | a server-first client | from | cause |\n|---|---|---|---|---|---|---|")
		for _, g := range groupEntries(c.New) {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", g.Finding, g.Class, g.port(), md(g.Destination), md(g.Verdict), md(g.from()), md(g.Cause))
		}
	}
	if len(c.Fixed) > 0 {
		fmt.Fprintln(w, "\n## Fixed\n\n| class | port | destination | was | from | cause |\n|---|---|---|---|---|---|")
		for _, g := range groupEntries(c.Fixed) {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", g.Class, g.port(), md(g.Destination), md(g.Verdict), md(g.from()), md(g.Cause))
		}
	}
	for _, f := range c.newFindings() {
		writeFindingMarkdown(w, f, "###")
	}
	for _, n := range c.Head.Notes {
		fmt.Fprintf(w, "\nNote: %s\n", md(n))
	}
	return nil
}

// newFindings are the head's findings with a new entry.
func (c *Change) newFindings() []*Finding {
	var out []*Finding
	for _, f := range c.Head.Findings {
		for _, e := range c.New {
			if e.Finding == f.ID {
				out = append(out, f)
				break
			}
		}
	}
	return out
}
