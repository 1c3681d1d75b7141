package analyze

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/scenarios"
)

// The issue-21 mesh: an ambient namespace behind a waypoint for services,
// a MySQL Service (tcp-mysql) and an HTTP Service on the same port. The
// waypoint keeps http_inspector on 10000 and closes MySQL after 15s; the
// cause is the HTTP Service; the fixes that exist in ambient are checked
// with the generator, and the emitted scenarios reproduce on predict.
func TestAmbientWaypointCollision(t *testing.T) {
	r := analyzeMesh(t, "ambient", Options{})
	if len(r.Findings) != 1 {
		t.Fatalf("findings %d, want 1: %+v (notes %v)", len(r.Findings), r.Findings, r.Notes)
	}
	f := r.Findings[0]
	if f.Class != WaypointHold || f.Port != 10000 || f.outcome != scenarios.Reset || f.after.String() != "15s" {
		t.Errorf("finding %s port %d %s after %s, want waypoint-hold on 10000, reset after 15s", f.Class, f.Port, f.outcome, f.after)
	}
	if !slices.ContainsFunc(f.Causes, func(c Cause) bool { return c.Object == "Service/db/admin-ui" && c.PortName == "http" }) {
		t.Errorf("causes do not name Service/db/admin-ui: %+v", f.Causes)
	}
	if len(f.Hits) != 1 || f.Hits[0].Destination.Owner != "Service/db/orders-db" {
		t.Errorf("hits %+v, want Service/db/orders-db", f.Hits)
	}
	if !slices.ContainsFunc(r.Scopes, func(s string) bool { return strings.Contains(s, "ambient") && strings.Contains(s, "app") }) {
		t.Errorf("scopes %v: the ambient namespaces are clients", r.Scopes)
	}
	want := map[string]string{"collider-port-tcp": Fixes, "port-separation": Fixes, "use-waypoint-none": Fixes, "own-waypoint": Fixes}
	if got := verdicts(f); !maps.Equal(got, want) {
		t.Errorf("remediations %v, want %v", got, want)
	}
	path := t.TempDir() + "/found.yaml"
	em, err := EmitScenarios(r, path)
	if err != nil {
		t.Fatal(err)
	}
	if em.Written != 5 || len(em.Skipped) > 0 {
		t.Errorf("emitted %d (skipped %v), want the finding and its four model remediations", em.Written, em.Skipped)
	}
	ss, err := scenarios.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := predict.NewPredictor()
	for _, s := range ss {
		if s.Mode() != scenarios.ModeAmbient || !s.Collider.Present {
			t.Errorf("%s: mode %s collider %v, want an ambient row with the collider", s.ID, s.Mode(), s.Collider)
		}
		pr, err := p.Predict(s)
		if err != nil {
			t.Fatal(err)
		}
		if ok, why := s.Expect.Match(pr.Outcome, pr.After); !ok {
			t.Errorf("%s: %s", s.ID, why)
		}
	}
}

// A waypoint for services and workloads keeps the inspector on even where
// every Service declares TCP; the cause says so, and the waypoint for
// services only is the fix.
func TestAmbientWaypointForAll(t *testing.T) {
	r := analyzeMesh(t, "ambient-all", Options{})
	if len(r.Findings) != 1 {
		t.Fatalf("findings %d, want 1: %+v", len(r.Findings), r.Findings)
	}
	f := r.Findings[0]
	if !slices.ContainsFunc(f.Causes, func(c Cause) bool { return strings.Contains(c.Text, "serves workloads too") }) {
		t.Errorf("causes do not say the waypoint serves workloads: %+v", f.Causes)
	}
	if v := verdicts(f); v["waypoint-for-service"] != Fixes || v["use-waypoint-none"] != Fixes {
		t.Errorf("remediations %v: want waypoint-for-service and use-waypoint-none to fix", v)
	}
}

// A mesh as a cluster lists it carries the waypoint's own Service and
// Deployment: analyze uses them as they are and finds the same collision.
func TestAmbientMeshAsListed(t *testing.T) {
	r := analyzeMesh(t, "ambient-live", Options{SkipRemediations: true})
	if len(r.Findings) != 1 || r.Findings[0].Class != WaypointHold || r.Findings[0].Causes[0].Object != "Service/db/admin-ui" {
		t.Fatalf("findings %+v, want one waypoint-hold caused by Service/db/admin-ui", r.Findings)
	}
}
