package generator

import (
	"fmt"
	"strings"

	"github.com/firstbyte/firstbyte/scenarios"
)

// IstioFeature is something a scenario may rely on that not every Istio
// line predict builds against has (make e2e TARGET=predict ISTIO_LINES=all
// runs the catalogue on several). A scenario that needs a feature the
// running Istio lacks is not predicted: its cell says "needs Istio ≥
// Since", which is neither a pass nor an error.
//
// Whether the running Istio has a feature is detected in Istio's own code
// (an API enum value, a function), never by comparing version numbers:
// a development line gains features between its VERSION bumps. Since is
// only the words of the cell.
type IstioFeature struct {
	// Name is the feature in the scenario's words.
	Name string
	// Since is the first Istio line that has it.
	Since string
	// Has reports whether the Istio this binary runs has the feature.
	Has func() bool
	// Uses reports whether a scenario needs it.
	Uses func(scenarios.Scenario) bool
}

// Features are the features the catalogue's scenarios may need. The
// outbound-modes family (scenarios/catalogue-outbound-modes.yaml) uses
// ALLOW_ANY_DYNAMIC_DNS, so on the 1.31-dev-master line those rows land in
// "needs Istio ≥ 1.31" cells (TestFeaturesOfTheCatalogue).
var Features = []IstioFeature{{
	Name: "outboundTrafficPolicy ALLOW_ANY_DYNAMIC_DNS",
	// istio/api has the mode since 1.30, but pilot builds its config
	// (pilot/pkg/networking/util.IsAllowAnyDynamicDNSOutbound) only from
	// release-1.31 on; master of April 2026 ignores it.
	Since: "1.31",
	Has:   func() bool { return HasDynamicDNS },
	Uses: func(s scenarios.Scenario) bool {
		return s.EffectiveMesh().OutboundTrafficPolicy == "ALLOW_ANY_DYNAMIC_DNS"
	},
}}

// MissingFeatures returns the cell text for a scenario that needs features
// the running Istio lacks ("needs Istio ≥ 1.32: <feature>"), or "".
func MissingFeatures(s scenarios.Scenario, features []IstioFeature) string {
	since, names := "", []string{}
	for _, f := range features {
		if !f.Uses(s) || f.Has() {
			continue
		}
		names = append(names, f.Name)
		if since == "" || lineBefore(since, f.Since) {
			since = f.Since
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("needs Istio ≥ %s: %s", since, strings.Join(names, ", "))
}

// lineBefore orders Istio lines such as "1.9" and "1.31" numerically.
func lineBefore(a, b string) bool {
	var amaj, amin, bmaj, bmin int
	fmt.Sscanf(a, "%d.%d", &amaj, &amin)
	fmt.Sscanf(b, "%d.%d", &bmaj, &bmin)
	return amaj < bmaj || (amaj == bmaj && amin < bmin)
}
