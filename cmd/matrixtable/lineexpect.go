package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/report"
	"github.com/firstbyte/firstbyte/scenarios"
	"sigs.k8s.io/yaml"
)

// LineExpect is one Istio line's own expectations
// (hack/istio/<line>/expect.yaml): the catalogue rows whose outcome on
// that line legitimately differs from the catalogue's expect, which
// describes the main line, each with the outcome the line must show and
// why.
type LineExpect struct {
	// Line is the line's name as its module states it (release-1.30).
	Line string `json:"line"`
	// Rows maps a scenario id to its outcome on this line.
	Rows map[string]RowExpect `json:"rows"`
	// File is where it was read from.
	File string `json:"-"`
}

// RowExpect is one row's outcome on the line.
type RowExpect struct {
	// Expect is in the scenario-file form ("connects", "fails reset").
	Expect string `json:"expect"`
	// Why says what the line's generator builds that makes it so.
	Why string `json:"why"`
}

// ReadLineExpect reads and checks a line's expectations file.
func ReadLineExpect(path string) (*LineExpect, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading a line's expectations: %w", err)
	}
	e := &LineExpect{File: path}
	if err := yaml.UnmarshalStrict(data, e); err != nil {
		return nil, fmt.Errorf("%s: %w (want line: <name>, rows: {<scenario id>: {expect: ..., why: ...}})", path, err)
	}
	if e.Line == "" {
		return nil, fmt.Errorf("%s: no line: name the Istio line it describes (its folder name, e.g. release-1.30)", path)
	}
	for id, r := range e.Rows {
		if _, err := scenarios.ParseExpectation(r.Expect); err != nil {
			return nil, fmt.Errorf("%s: rows.%s.expect: %w", path, id, err)
		}
		if strings.TrimSpace(r.Why) == "" {
			return nil, fmt.Errorf("%s: rows.%s: no why: say what the %s line's generator builds that makes the row differ from the main line", path, id, e.Line)
		}
	}
	return e, nil
}

// Describes says whether a report is a run on this line: its Istio
// version names the line as its branch ("1.30-dev (release-1.30 …").
func (e *LineExpect) Describes(r *report.Report) bool {
	return strings.Contains(r.Istio, "("+e.Line+" ")
}

// Matches judges a row's observed outcome against the line's expectation,
// with the catalogue's timing rules; the first-byte column holds the
// close time for a closed connection.
func (r RowExpect) Matches(row report.Row) (bool, string) {
	want, err := scenarios.ParseExpectation(r.Expect)
	if err != nil {
		return false, err.Error()
	}
	if row.Observed == "" {
		return false, fmt.Sprintf("no outcome (%s)", row.Reason)
	}
	return want.Match(scenarios.Outcome(row.Observed), time.Duration(row.FirstByte))
}
