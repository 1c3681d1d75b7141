package generator

import (
	"testing"

	"github.com/firstbyte/firstbyte/scenarios"
)

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
		n := MissingFeatures(s, Features)
		switch {
		case n != "" && (!dyn || HasDynamicDNS):
			t.Errorf("%s: %s", s.ID, n)
		case n == "" && dyn && !HasDynamicDNS:
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
