package analyze

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/scenarios"
)

func analyzeMesh(t *testing.T, dir string, opt Options) *Report {
	t.Helper()
	m, err := Load([]string{filepath.Join("testdata", dir)})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Invalid) > 0 {
		t.Fatalf("invalid objects: %v", m.Invalid)
	}
	if err := m.Finish(); err != nil {
		t.Fatal(err)
	}
	r, err := Analyze(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_ = r.WriteTable(&b)
	t.Logf("%s", b.String())
	return r
}

// verdicts maps remediation kind to verdict.
func verdicts(f *Finding) map[string]string {
	out := map[string]string{}
	for _, r := range f.Remediations {
		out[r.Kind] = r.Verdict
	}
	return out
}

// reproduce emits the report's scenarios, loads the file as a user
// would, and predicts every scenario: each must match its expectation.
func reproduce(t *testing.T, r *Report) []scenarios.Scenario {
	t.Helper()
	path := filepath.Join(t.TempDir(), "found.yaml")
	em, err := EmitScenarios(r, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range em.Skipped {
		t.Logf("not emitted: %s", s)
	}
	list, err := scenarios.LoadFile(path)
	if err != nil {
		t.Fatalf("the emitted scenario file does not load: %v", err)
	}
	if len(list) != em.Written {
		t.Fatalf("wrote %d scenarios, the file holds %d", em.Written, len(list))
	}
	p := predict.NewPredictor()
	for _, s := range list {
		pr, err := p.Predict(s)
		if err != nil {
			t.Fatalf("%s: %v", s.ID, err)
		}
		if ok, why := s.Expect.Match(pr.Outcome, pr.After); !ok {
			t.Errorf("%s: predict does not reproduce the finding: %s\n%s", s.ID, why, pr)
		}
	}
	return list
}

func TestSeedMesh(t *testing.T) {
	r := analyzeMesh(t, "seed", Options{ServerFirst: []string{"203.0.113.7:10000"}})
	if !r.HitsServerFirst() || len(r.Findings) != 1 {
		t.Fatalf("want one finding, got %d", len(r.Findings))
	}
	f := r.Findings[0]
	if f.Class != InspectorHold || f.Port != 10000 || !f.Any || f.Listener != "0.0.0.0_10000" || f.outcome != scenarios.Hung {
		t.Errorf("finding = %s %d %s any=%v %s", f.Class, f.Port, f.Listener, f.Any, f.outcome)
	}
	if len(f.Causes) == 0 || f.Causes[0].Object != "Service/shop/catalog-api" || f.Causes[0].PortName != "http" || f.Causes[0].Origin.Line == 0 {
		t.Errorf("cause = %+v, want Service/shop/catalog-api port http with its line", f.Causes)
	}
	if len(f.Hits) == 0 || f.Hits[0].Destination.Addr.String() != "203.0.113.7:10000" {
		t.Errorf("hits = %+v", f.Hits)
	}
	v := verdicts(f)
	for _, k := range []string{"serviceentry-tcp", "port-separation", "exclude-ip-ranges", "collider-port-tcp", "exclude-ports", "sidecar-egress"} {
		if v[k] != Fixes {
			t.Errorf("%s: %q, want %q", k, v[k], Fixes)
		}
	}
	if v["protocol-detection-timeout"] != FixesLate {
		t.Errorf("protocol-detection-timeout: %q, want %q", v["protocol-detection-timeout"], FixesLate)
	}
	list := reproduce(t, r)
	var kinds []string
	for _, s := range list {
		kinds = append(kinds, string(s.Remediation.Kind))
	}
	for _, k := range []string{"none", "serviceentry-tcp", "port-separation", "exclude-ip-ranges"} {
		if !slices.Contains(kinds, k) {
			t.Errorf("no emitted scenario for %s (have %v)", k, kinds)
		}
	}
}

func TestCleanMesh(t *testing.T) {
	r := analyzeMesh(t, "clean", Options{ServerFirst: []string{"203.0.113.7:10000"}})
	if len(r.Findings) != 0 {
		t.Fatalf("clean mesh: want no finding, got %+v", r.Findings[0])
	}
}

func TestRenameOnlyMesh(t *testing.T) {
	r := analyzeMesh(t, "rename-only", Options{ServerFirst: []string{"orders-db.data:5000"}})
	if len(r.Findings) != 1 {
		t.Fatalf("want one finding, got %d", len(r.Findings))
	}
	f := r.Findings[0]
	if f.Any || f.Listener != "10.96.20.5_5000" || f.vipOwner != "Service/data/orders-db" {
		t.Errorf("finding = %s any=%v owner %s", f.Listener, f.Any, f.vipOwner)
	}
	var fixes []string
	for _, rr := range f.Remediations {
		if rr.Verdict == Fixes {
			fixes = append(fixes, rr.Kind)
		}
	}
	if !slices.Equal(fixes, []string{"server-port-tcp"}) {
		t.Errorf("prompt fixes = %v, want only the port rename (server-port-tcp)", fixes)
	}
	reproduce(t, r)
}

func TestRegistryOnlyMesh(t *testing.T) {
	r := analyzeMesh(t, "registry-only", Options{ServerFirst: []string{"203.0.113.7:10000"}})
	if len(r.Findings) != 1 {
		t.Fatalf("want one finding, got %d", len(r.Findings))
	}
	f := r.Findings[0]
	if f.outcome != scenarios.Hung {
		t.Errorf("outcome %s, want hung: the inspector holds before the policy's BlackHoleCluster is reached", f.outcome)
	}
	v := verdicts(f)
	if v["serviceentry-tcp"] != Fixes || v["exclude-ip-ranges"] != Fixes {
		t.Errorf("registering or excluding the server must fix it: %v", v)
	}
	if v["port-separation"] != NoFix || v["collider-port-tcp"] != NoFix {
		t.Errorf("under REGISTRY_ONLY moving or renaming the collider leaves the server unregistered (BlackHoleCluster): %v", v)
	}
	reproduce(t, r)
}

func TestPortCapture(t *testing.T) {
	r := analyzeMesh(t, "port-capture", Options{ServerFirst: []string{"203.0.113.9:3306"}})
	if len(r.Findings) != 1 || r.Findings[0].Class != PortCapture {
		t.Fatalf("want one port-capture finding, got %+v", r.Findings)
	}
	f := r.Findings[0]
	if f.Causes[0].Object != "ServiceEntry/shop/legacy-db" || !strings.Contains(f.Meets, "legacy-db.example.com") {
		t.Errorf("cause %+v, meets %q", f.Causes, f.Meets)
	}
	// The well-known MySQL port makes every address on 3306 a
	// destination: excluding the one named IP fixes that hit only, and
	// says so.
	if v := verdicts(f); v["serviceentry-addresses"] != Fixes || v["exclude-ports"] != Fixes || v["exclude-ip-ranges"] != FixesSome {
		t.Errorf("remediations %v", v)
	}
	for _, rr := range f.Remediations {
		if rr.Kind == "exclude-ip-ranges" && !slices.Equal(rr.Fixed, []string{"203.0.113.9:3306"}) {
			t.Errorf("exclude-ip-ranges fixes %v, want the named 203.0.113.9:3306 only", rr.Fixed)
		}
	}
}

func TestBadInput(t *testing.T) {
	m, err := Load([]string{"testdata/bad/mesh.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Invalid) != 1 {
		t.Fatalf("want one invalid object, got %v", m.Invalid)
	}
	e := m.Invalid[0]
	if e.Origin.Line != 14 || !strings.Contains(e.Field, "prot") {
		t.Errorf("invalid object reported as %v, want line 14, field prot", e)
	}
	skipped := 0
	for _, s := range m.Skipped {
		skipped += s.Count
	}
	if skipped != 2 {
		t.Errorf("skipped %v, want 2 (a non-Kubernetes document and a Secret)", m.Skipped)
	}
}

// TestInboundMesh: servers with their own sidecars, walked at
// virtualInbound for a plaintext client. The declared TCP port hangs on
// PERMISSIVE's tls_inspector (Istio's serverFirstTestCases, a known
// failure); the unnamed port adds http_inspector, so only declaring it
// TCP and disabling mTLS together fix it. Every verdict is checked by
// the generator, and the emitted inbound scenarios reproduce.
func TestInboundMesh(t *testing.T) {
	r := analyzeMesh(t, "inbound", Options{ServerFirst: []string{"mail.db:2525"}})
	byPort := map[int]*Finding{}
	for _, f := range r.Findings {
		if f.Class == InboundHold {
			byPort[f.Port] = f
		}
	}
	db, mail := byPort[3306], byPort[25]
	if db == nil || mail == nil {
		t.Fatalf("want inbound findings on pod ports 3306 and 25, got %v", byPort)
	}
	if db.outcome != scenarios.Hung || !strings.Contains(db.Meets, "tls_inspector") {
		t.Errorf("3306: %s / %s, want hung on tls_inspector", db.outcome, db.Meets)
	}
	if db.Causes[0].Object != "Service/db/orders-db" || db.Causes[0].Origin.Line == 0 {
		t.Errorf("3306 cause = %+v", db.Causes[0])
	}
	v := verdicts(db)
	for k, want := range map[string]string{"peerauthentication-disable": Fixes, "exclude-inbound-ports": Fixes, "protocol-detection-timeout": FixesLate} {
		if v[k] != want {
			t.Errorf("3306 %s: %q, want %q", k, v[k], want)
		}
	}
	if _, ok := v["server-port-tcp"]; ok {
		t.Errorf("3306 is declared TCP already: no rename to offer")
	}
	v = verdicts(mail)
	for k, want := range map[string]string{"server-port-tcp": NoFix, "peerauthentication-disable": NoFix, "server-port-tcp+peerauthentication-disable": Fixes, "exclude-inbound-ports": Fixes} {
		if v[k] != want {
			t.Errorf("25 %s: %q, want %q", k, v[k], want)
		}
	}
	list := reproduce(t, r)
	var inbound int
	for _, s := range list {
		if s.Security.ServerSidecar && s.Security.NoClientSidecar {
			inbound++
		}
	}
	if inbound < 2 {
		t.Errorf("%d inbound scenarios emitted, want the finding and its PeerAuthentication fix", inbound)
	}
}
