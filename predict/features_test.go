package predict

import (
	"testing"

	"github.com/firstbyte/firstbyte/predict/generator"
	"github.com/firstbyte/firstbyte/scenarios"
)

// A scenario that uses a feature the running Istio lacks gets a "needs
// Istio ≥" cell, counted as skipped, without running the generator; the
// others are predicted as usual.
func TestNeedsNewerIstio(t *testing.T) {
	list := scenarios.Catalogue()[:2]
	p := NewPredictor()
	p.features = []generator.IstioFeature{{
		Name:  "the first scenario's feature",
		Since: "1.99",
		Has:   func() bool { return false },
		Uses:  func(s scenarios.Scenario) bool { return s.ID == list[0].ID },
	}, {
		Name:  "a feature every line has",
		Since: "1.2",
		Has:   func() bool { return true },
		Uses:  func(scenarios.Scenario) bool { return true },
	}}
	results := p.predictAll(list)
	if got, want := results[0].Needs, "needs Istio ≥ 1.99: the first scenario's feature"; got != want {
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
