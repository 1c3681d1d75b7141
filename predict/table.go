package predict

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict/generator"
	"github.com/firstbyte/firstbyte/report"
)

// Table turns predictions into the suite's shared report (report.Report),
// so predict's table reads like every other target's: the observed column
// holds the prediction, the decision column the deciding listener / chain
// → cluster (both sidecars' when the server has one), and an extra column
// whether the server's first bytes reached a client an authorization
// policy denied.
func Table(results []Result, build generator.IstioBuild, took time.Duration) *report.Report {
	r := &report.Report{
		Target:       "predict",
		Istio:        build.Version(),
		Started:      time.Now().Add(-took),
		Duration:     took,
		ExtraColumns: []string{ServerBytesBeforeDenyColumn},
	}
	for _, res := range results {
		row := report.NewRow(res.Scenario)
		row.Duration = res.Took
		if res.Needs != "" {
			row.Observed, row.Verdict, row.Reason = res.Needs, report.Skip, res.Needs
		} else if res.Skipped != "" {
			row.Observed, row.Verdict, row.Reason = "-", report.Skip, res.Skipped
		} else if res.Err != nil {
			row.Observed, row.Verdict, row.Reason = "error", report.Fail, res.Err.Error()
		} else {
			row.Judge(res.Scenario.Expect, res.Prediction.Outcome, res.Prediction.After)
			// A margin says how close a measured time came to its
			// threshold; a prediction's time is the configured timeout
			// itself, not a measurement, so it has none.
			row.Margin = ""
			row.Decision = res.Prediction.Decision()
			row.Extra = map[string]string{ServerBytesBeforeDenyColumn: res.Prediction.ServerBytesBeforeDenyText()}
		}
		r.Rows = append(r.Rows, row)
	}
	return r
}

// Mismatches counts rows whose prediction differs from the expectation.
func Mismatches(r *report.Report) int {
	_, fail, _ := r.Counts()
	return fail
}

// RunFacts are the closing lines' figures.
type RunFacts struct {
	Scenarios   int
	Generations int
	// Artifacts is where the reports went; empty when none were written.
	Artifacts string
}

// WriteTable prints the Markdown table and the closing lines: the timing,
// where the artifacts are, the Istio line, and "mismatches: N" last, which
// CI greps.
func WriteTable(w io.Writer, r *report.Report, f RunFacts) error {
	if err := r.WriteMarkdown(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "predicted %d scenarios in %s (Istio's generator ran %d times)\n", f.Scenarios, r.Duration.Round(time.Millisecond), f.Generations)
	if f.Artifacts != "" {
		fmt.Fprintf(w, "artifacts: %s\n", f.Artifacts)
	}
	_, err := fmt.Fprintf(w, "istio: %s\nmismatches: %d\n", r.Istio, Mismatches(r))
	return err
}

// predictionRecord is one scenario in predictions.json.
type predictionRecord struct {
	ID         string      `json:"id"`
	Source     string      `json:"source"`
	Expected   string      `json:"expected"`
	Prediction *Prediction `json:"prediction,omitempty"`
	Error      string      `json:"error,omitempty"`
}

// WriteArtifacts writes the report (report.md, report.json, junit.xml),
// predictions.json with every explain trace, and, for each mismatch, an
// evidence folder: the explain trace, the sidecar's config dump and the
// rendered manifests.
func WriteArtifacts(dir string, r *report.Report, results []Result, p *Predictor) error {
	if err := r.WriteDir(dir); err != nil {
		return err
	}
	records := make([]predictionRecord, 0, len(results))
	for _, res := range results {
		rec := predictionRecord{ID: res.Scenario.ID, Source: res.Scenario.Source, Expected: res.Scenario.Expect.String()}
		if res.Needs != "" {
			rec.Error = res.Needs
		} else if res.Skipped != "" {
			rec.Error = "skipped: " + res.Skipped
		} else if res.Err != nil {
			rec.Error = res.Err.Error()
		} else {
			rec.Prediction = &res.Prediction
		}
		records = append(records, rec)
	}
	data, err := json.MarshalIndent(records, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "predictions.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing predictions: %w", err)
	}
	for i, row := range r.Rows {
		if row.Verdict != report.Fail {
			continue
		}
		if err := writeEvidence(filepath.Join(dir, "evidence", row.ID), results[i], p); err != nil {
			return err
		}
	}
	return nil
}

func writeEvidence(dir string, res Result, p *Predictor) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing evidence: %w", err)
	}
	files := map[string][]byte{}
	explain := res.Prediction.String()
	if res.Err != nil {
		explain += "error: " + res.Err.Error() + "\n"
	}
	files["explain.txt"] = []byte(explain)
	if b, err := p.Render(res.Scenario); err == nil {
		files["manifests.yaml"] = fixtures.Manifest(b.Final)
		files["meshconfig.yaml"] = b.MeshConfig
		if cfg, err := p.Sidecar(b); err == nil {
			if dump, err := cfg.ConfigDump(); err == nil {
				files["config_dump.json"] = dump
			}
		}
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("writing evidence: %w", err)
		}
	}
	return nil
}
