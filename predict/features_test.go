package predict

import (
	"testing"

	"github.com/firstbyte/firstbyte/scenarios"
)

// A scenario that uses a feature the running Istio lacks gets a "needs
// Istio ≥" cell, counted as skipped, without running the generator; the
// others are predicted as usual.
func TestNeedsNewerIstio(t *testing.T) {
	list := scenarios.Catalogue()[:2]
	p := NewPredictor()
	p.features = []IstioFeature{{
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
	results := p.PredictAll(list)
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

// The catalogue's ALLOW_ANY_DYNAMIC_DNS family (catalogue-outbound-modes.yaml)
// needs pilot of 1.31 or later: a line that has it predicts every row, a
// line that lacks it reports those rows, and only those, as "needs Istio ≥
// 1.31".
func TestFeaturesOfTheCatalogue(t *testing.T) {
	uses := 0
	for _, s := range scenarios.Catalogue() {
		dyn := s.EffectiveMesh().OutboundTrafficPolicy == scenarios.AllowAnyDynamicDNS
		if dyn {
			uses++
		}
		n := missingFeatures(s, istioFeatures)
		switch {
		case n != "" && (!dyn || istioHasDynamicDNS):
			t.Errorf("%s: %s", s.ID, n)
		case n == "" && dyn && !istioHasDynamicDNS:
			t.Errorf("%s uses ALLOW_ANY_DYNAMIC_DNS, which this Istio lacks, and is not reported", s.ID)
		}
	}
	if uses == 0 {
		t.Error("no catalogue scenario uses ALLOW_ANY_DYNAMIC_DNS (the outbound-modes family)")
	}
	if !lineBefore("1.9", "1.31") || lineBefore("1.31", "1.31") || lineBefore("2.0", "1.31") {
		t.Error("lineBefore does not order Istio lines numerically")
	}
}
