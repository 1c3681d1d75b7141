// Package report writes the result of a run in the three forms the suite
// promises: a Markdown table for humans (scenario, expected, observed,
// first-byte latency, verdict), JSON for machines and JUnit XML for CI.
// Every target (kind, cluster, local, predict) fills the same Report, so a
// bug report reads the same whichever target produced it.
package report

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Verdict is the result of one row: did observed match expected?
type Verdict string

const (
	Pass Verdict = "pass"
	Fail Verdict = "fail"
	// Skip means the target could not run the scenario; Reason names the
	// missing requirement. Skips are counted and shown, never dropped.
	Skip Verdict = "skip"
)

// Row is one scenario's result.
type Row struct {
	ID          string `json:"id"`
	Why         string `json:"why,omitempty"`
	Protocol    string `json:"protocol"`
	Placement   string `json:"placement"`
	Port        int    `json:"port"`
	Collider    string `json:"collider"`
	Remediation string `json:"remediation"`
	// Labels are the scenario's labels (protocol:, family:, ...).
	Labels   []string `json:"labels,omitempty"`
	Expected string   `json:"expected"`
	// Server names the server implementation and version the probe
	// talked to (e.g. "mariadb 10.11.19 (Debian ...)", "mysql:8.4@sha256:…").
	Server string `json:"server,omitempty"`
	// Observed is the outcome seen on the wire, or predicted by predict.
	Observed string `json:"observed"`
	// FirstByte is the first-server-byte latency; zero when none came.
	FirstByte time.Duration `json:"firstByteNs"`
	Verdict   Verdict       `json:"verdict"`
	// Reason says why a row failed or was skipped.
	Reason string `json:"reason,omitempty"`
	// Decision is the deciding listener / filter chain → cluster.
	Decision string `json:"decision,omitempty"`
	// Extra holds target-specific observed properties shown as their own
	// columns, such as "server bytes before deny"; keys are column titles.
	Extra map[string]string `json:"extra,omitempty"`
	// Margin is how far the row stayed inside the timing threshold its
	// verdict used (scenarios/thresholds.go), e.g. "497ms (prompt ≤ 500ms)";
	// negative when outside. Empty when no timing threshold applied.
	Margin string `json:"margin,omitempty"`
	// Evidence is the folder with dumps and logs for a failed row.
	Evidence string        `json:"evidence,omitempty"`
	Duration time.Duration `json:"durationNs"`
}

// Basis says what each target's verdicts rest on; every report names it
// in its header, so nobody reads a local or predict table as a run on real
// Envoy.
var Basis = map[string]string{
	"kind":    "real Envoy sidecars in a kind cluster the run made, with the pinned Istio installed by its istioctl",
	"cluster": "real Envoy sidecars of an existing cluster's own Istio",
	"local": "the real kernel running Istio's own iptables rules, real servers and clients on real sockets; " +
		"every Envoy decision (listener, inspector wait, filter chain, cluster) is taken from predict's Envoy model, " +
		"so local cannot disagree with predict about Envoy",
	"predict": "Istio's own config generator (pilot's FakeDiscoveryServer, istio-iptables, the injector) and firstbyte's Envoy model; no traffic",
}

// BasisOf returns Basis for a target, or says it is unknown.
func BasisOf(target string) string {
	if b, ok := Basis[target]; ok {
		return b
	}
	return "unknown target " + target
}

// Report is a whole run.
type Report struct {
	Target string `json:"target"`
	// Basis is what the verdicts rest on (BasisOf(Target) when empty).
	Basis string `json:"basis,omitempty"`
	// Istio names the Istio version the run used or predicted with.
	Istio    string        `json:"istio"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"durationNs"`
	Rows     []Row         `json:"rows"`
	// ExtraColumns orders the Extra keys shown in the Markdown table.
	ExtraColumns []string `json:"extraColumns,omitempty"`
}

// Counts returns how many rows passed, failed and were skipped.
func (r *Report) Counts() (pass, fail, skip int) {
	for _, row := range r.Rows {
		switch row.Verdict {
		case Pass:
			pass++
		case Fail:
			fail++
		case Skip:
			skip++
		}
	}
	return
}

// Summary is the closing line: "N passed, N failed, N skipped", a form CI
// tooling reads.
func (r *Report) Summary() string {
	p, f, s := r.Counts()
	return fmt.Sprintf("%d passed, %d failed, %d skipped", p, f, s)
}

func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

// FormatLatency renders a first-byte latency for tables ("-" when none).
func FormatLatency(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	if d < 10*time.Millisecond {
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// WriteMarkdown writes the human table. Rows keep their order.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### firstbyte %s — Istio %s\n\n", r.Target, r.Istio)
	fmt.Fprintf(&b, "Verdicts rest on: %s.\n\n", r.basis())
	head := []string{"scenario", "expected", "observed", "first byte", "verdict"}
	withServer := r.hasServers()
	if withServer {
		head = append(head, "server")
	}
	head = append(head, r.ExtraColumns...)
	head = append(head, "decision / reason")
	b.WriteString("| " + strings.Join(head, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat("---|", len(head)) + "\n")
	for _, row := range r.Rows {
		verdict := string(row.Verdict)
		if row.Verdict == Fail {
			verdict = "**FAIL**"
		}
		firstByte := FormatLatency(row.FirstByte)
		if row.Margin != "" {
			firstByte += " (margin " + row.Margin + ")"
		}
		cols := []string{row.ID, row.Expected, row.Observed, firstByte, verdict}
		if withServer {
			cols = append(cols, row.Server)
		}
		for _, c := range r.ExtraColumns {
			v := row.Extra[c]
			if v == "" {
				v = "-"
			}
			cols = append(cols, v)
		}
		detail := row.Decision
		if row.Reason != "" {
			detail = strings.TrimSpace(row.Reason + "; " + detail)
			detail = strings.TrimSuffix(detail, ";")
		}
		cols = append(cols, detail)
		for i := range cols {
			cols[i] = cell(cols[i])
		}
		b.WriteString("| " + strings.Join(cols, " | ") + " |\n")
	}
	fmt.Fprintf(&b, "\n%s in %s\n", r.Summary(), r.Duration.Round(time.Millisecond))
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) basis() string {
	if r.Basis != "" {
		return r.Basis
	}
	return BasisOf(r.Target)
}

// WriteJSON writes the machine form.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	withBasis := *r
	withBasis.Basis = r.basis()
	return enc.Encode(&withBasis)
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes JUnit XML, one testcase per row, classname = target.
func (r *Report) WriteJUnit(w io.Writer) error {
	_, f, s := r.Counts()
	suite := junitSuite{
		Name: "firstbyte-" + r.Target, Tests: len(r.Rows), Failures: f, Skipped: s,
		Time: r.Duration.Seconds(),
	}
	for _, row := range r.Rows {
		c := junitCase{Name: row.ID, Classname: "firstbyte." + r.Target, Time: row.Duration.Seconds()}
		text := fmt.Sprintf("expected %s, observed %s; %s", row.Expected, row.Observed, row.Decision)
		switch row.Verdict {
		case Fail:
			c.Failure = &junitMessage{Message: row.Reason, Text: text}
		case Skip:
			c.Skipped = &junitMessage{Message: row.Reason}
		}
		suite.Cases = append(suite.Cases, c)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{suite}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// Files are the names WriteDir creates.
var Files = struct{ Markdown, JSON, JUnit string }{"report.md", "report.json", "junit.xml"}

// WriteDir writes all three forms into dir, creating it.
func (r *Report) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating report folder: %w", err)
	}
	for name, write := range map[string]func(io.Writer) error{
		Files.Markdown: r.WriteMarkdown, Files.JSON: r.WriteJSON, Files.JUnit: r.WriteJUnit,
	} {
		if err := writeFile(filepath.Join(dir, name), write); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

// hasServers says whether any row names its server implementation (the
// table then has a server column).
func (r *Report) hasServers() bool {
	for _, row := range r.Rows {
		if row.Server != "" {
			return true
		}
	}
	return false
}

// ReadFile reads a report.json back.
func ReadFile(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading report: %w", err)
	}
	r := &Report{}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("%s is not a firstbyte report.json: %w", path, err)
	}
	return r, nil
}
