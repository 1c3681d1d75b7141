package analyze

import (
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/predict"
)

// TestConfigDump finds the seed's hazard in a sidecar's config dump (the
// hanging scenario's, predict/testdata), naming the colliding route.
func TestConfigDump(t *testing.T) {
	cfg, err := predict.ReadConfigDumpFile("../predict/testdata/config_dump.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := AnalyzeDump(cfg, Options{ServerFirst: []string{"198.51.100.7:10000"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 1 || r.Findings[0].Listener != "0.0.0.0_10000" || r.Findings[0].Verdict != "hung" {
		t.Fatalf("findings %+v", r.Findings)
	}
	if c := r.Findings[0].Causes[0].Text; !strings.Contains(c, "collider.fb-collider.svc.cluster.local") {
		t.Errorf("cause %q does not name the colliding service", c)
	}
}
