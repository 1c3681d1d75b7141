package predict

import (
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/scenarios"
)

// A user scenario file with cases outside the catalogue is predicted like
// the catalogue.
func TestScenarioFile(t *testing.T) {
	list, err := scenarios.LoadFile("testdata/user-scenarios.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := scenarios.CheckUnique(append(scenarios.Catalogue(), list...)); err != nil {
		t.Fatalf("the test file must hold cases the catalogue lacks: %v", err)
	}
	for _, r := range shared.predictAll(list) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Scenario.ID, r.Err)
			continue
		}
		if ok, why := r.Scenario.Expect.Match(r.Prediction.Outcome, r.Prediction.After); !ok {
			t.Errorf("%s: %s\n%s", r.Scenario.ID, why, r.Prediction)
		}
		if r.Scenario.ID == "smtp-2525-http-admin-detection-timeout-2s" && (r.Prediction.After != 2*time.Second || r.Prediction.Listener != "0.0.0.0_2525") {
			t.Errorf("%s: want the 2s timeout on 0.0.0.0_2525, got %s on %s", r.Scenario.ID, r.Prediction.After, r.Prediction.Listener)
		}
	}
}
