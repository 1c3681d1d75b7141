package predict

import (
	"testing"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
)

// A scenario whose input the running Istio's validation rejects gets a
// "needs Istio ≥" cell, counted as skipped, without running the generator;
// the others are predicted as usual.
func TestNeedsNewerIstio(t *testing.T) {
	list := scenarios.Catalogue()[:2]
	p := NewPredictor()
	p.rejection = func(b *fixtures.Bundle) string {
		if b.Scenario.ID == list[0].ID {
			return "needs Istio ≥ 1.99: Istio 1.98 rejects it: meshConfig: unknown field"
		}
		return ""
	}
	results := p.predictAll(list)
	if got, want := results[0].Needs, "needs Istio ≥ 1.99: Istio 1.98 rejects it: meshConfig: unknown field"; got != want {
		t.Errorf("needs %q, want %q", got, want)
	}
	if results[0].Err != nil || results[0].Prediction.Outcome != "" {
		t.Errorf("a scenario that needs a newer Istio was predicted: %+v", results[0])
	}
	if results[1].Needs != "" || results[1].Err != nil {
		t.Errorf("second scenario: needs %q, err %v", results[1].Needs, results[1].Err)
	}
	if g := p.Generations.Load(); g != 1 {
		t.Errorf("the generator ran %d times, want once (the second scenario only)", g)
	}
}
