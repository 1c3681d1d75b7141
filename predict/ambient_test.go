package predict

import (
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/scenarios"
	"istio.io/istio/pilot/pkg/features"
)

func ambientRow(t *testing.T, id string) scenarios.Scenario {
	t.Helper()
	s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
	if !ok {
		t.Fatalf("no scenario %s", id)
	}
	return s
}

// The waypoint's listeners come from Istio's generator: a waypoint for
// services only disables http_inspector on a port every bound service
// declares TCP; one that serves workloads too (waypoint-for all) keeps it
// on every port, with Envoy's default timeout (main_internal sets none).
// The trace names the waypoint listener and the inspector that decide.
func TestWaypointInspectionFromTheGenerator(t *testing.T) {
	p := NewPredictor()
	for _, c := range []struct {
		id, inspection, trace string
		waypoint              bool
	}{
		{"ambient-mysql-10000-waypoint-service-tcp", "main_internal port 10000: nothing waits for client bytes", "disabled for port 10000", true},
		{"ambient-mysql-10000-waypoint-all-tcp", "main_internal port 10000: envoy.filters.listener.http_inspector waits, listener_filters_timeout 15s, continue false", "http_inspector is active for port 10000", true},
		{"ambient-mysql-10000-egress-waypoint-service-auto", "main_internal port 10000: envoy.filters.listener.http_inspector waits, listener_filters_timeout 15s, continue false", "http_inspector is active for port 10000", true},
		{"ambient-mysql-10000-no-waypoint-auto", "", "no waypoint", false},
	} {
		s := ambientRow(t, c.id)
		b, err := p.Render(s)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ExpectedAmbient(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		if (want.Waypoint != nil) != c.waypoint || (want.ServiceWaypoint != "") != c.waypoint {
			t.Errorf("%s: waypoint dump %v, WDS waypoint %q; want a waypoint: %v", c.id, want.Waypoint != nil, want.ServiceWaypoint, c.waypoint)
		}
		if c.waypoint {
			got, err := WaypointInspection(want.Waypoint, "generated", s.Port)
			if err != nil || got != c.inspection {
				t.Errorf("%s: inspection %q (%v), want %q", c.id, got, err, c.inspection)
			}
		}
		pr, err := p.Predict(s)
		if err != nil {
			t.Fatal(err)
		}
		if text := pr.String(); !strings.Contains(text, c.trace) || c.waypoint && !strings.Contains(text, "main_internal") {
			t.Errorf("%s: the trace does not name %q and main_internal:\n%s", c.id, c.trace, text)
		}
	}
}

// Ambient generations run with istiod's ambient features and restore the
// default profile's afterwards, so sidecar scenarios are generated as a
// sidecar-only istiod builds them.
func TestAmbientFeaturesAreScoped(t *testing.T) {
	before := features.EnableAmbient
	p := NewPredictor()
	if _, err := p.Predict(ambientRow(t, "ambient-mysql-10000-waypoint-all-tcp")); err != nil {
		t.Fatal(err)
	}
	if features.EnableAmbient != before || features.EnableAmbientWaypoints != before {
		t.Errorf("after an ambient generation EnableAmbient=%v, EnableAmbientWaypoints=%v; want %v", features.EnableAmbient, features.EnableAmbientWaypoints, before)
	}
}

// ztunnel sends service-addressed traffic to a workload waypoint never:
// the workload-only waypoint is bypassed and the trace says which rule.
func TestWorkloadWaypointBypassedByServiceTraffic(t *testing.T) {
	pr, err := NewPredictor().Predict(ambientRow(t, "ambient-mysql-10000-waypoint-workload-tcp"))
	if err != nil {
		t.Fatal(err)
	}
	if pr.Outcome != scenarios.Connected || !strings.Contains(pr.String(), "never goes to a workload waypoint") {
		t.Errorf("prediction:\n%s", pr)
	}
}

// TestWaypointGeneratedAfterItsBindings: every ambient catalogue row with a
// waypoint is generated from a ztunnel view that already binds what the
// row's waypoint serves (waypointBound). Without that wait the ambient
// index's asynchronous binding raced the waypoint's generation, and on
// Istio's April master line three rows flipped from run to run.
func TestWaypointGeneratedAfterItsBindings(t *testing.T) {
	for _, s := range scenarios.Catalogue() {
		if s.Ambient == nil || s.Ambient.Waypoint == scenarios.WaypointNone {
			continue
		}
		t.Run(s.ID, func(t *testing.T) {
			p := newPredictorFor(Topology())
			b, err := p.Render(s)
			if err != nil {
				t.Fatal(err)
			}
			in, err := inputFor(b)
			if err != nil {
				t.Fatal(err)
			}
			g, err := p.generated(b, in)
			if err != nil {
				t.Fatal(err)
			}
			got := g.ztunnel.workloads.binds()
			if got.services < in.waypointBinds.services || got.workloads < in.waypointBinds.workloads {
				t.Errorf("waypoint for %s generated from a view that binds %d services, %d workloads (want %+v)", s.Ambient.Waypoint, got.services, got.workloads, in.waypointBinds)
			}
			if in.waypointBinds.services == 0 && in.waypointBinds.workloads == 0 {
				t.Errorf("waypoint for %s: the row binds nothing to wait for", s.Ambient.Waypoint)
			}
		})
	}
}
