package predict

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/scenarios"
	"istio.io/istio/pkg/wellknown"
)

func TestIstioVersion(t *testing.T) {
	b, err := Istio()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^1\.\d+`).MatchString(b.Line) || b.Module == "" {
		t.Errorf("Istio build %+v: want a 1.x line and a module version", b)
	}
	if b.ProxyVersion() != b.Line+".0" {
		t.Errorf("proxy version %s for line %s", b.ProxyVersion(), b.Line)
	}
	// go.mod pins a master or release-branch commit by pseudo-version: the
	// label must name the branch, date and commit the module says.
	if !regexp.MustCompile(`^1\.\d+-dev \((master|release-1\.\d+) \d{4}-\d\d-\d\d, [0-9a-f]{12}\)$`).MatchString(b.Version()) {
		t.Errorf("Istio build prints %q: want <line>-dev (<branch> <date>, <commit>)", b.Version())
	}
}

// readIstioBuild takes the line from VERSION, the branch from the
// build-tools image and date and commit from the pseudo-version, so two
// commits with the same VERSION on master and on a release branch print
// apart.
func TestReadIstioBuild(t *testing.T) {
	for _, c := range []struct{ version, image, module, want string }{
		{"1.31\n", "  IMAGE_VERSION=master-63fd6eec6f3df5a3ed4e190e60153ef3425f66b4\n", "v0.0.0-20260423205519-b01690e6db7d", "1.31-dev (master 2026-04-23, b01690e6db7d)"},
		{"1.31\n", "  IMAGE_VERSION=release-1.31-24b758cde6f063fbe456b70f537ca5a464e4079a\n", "v0.0.0-20260827124520-eed52ebb66ad", "1.31-dev (release-1.31 2026-08-27, eed52ebb66ad)"},
		{"1.32\n", "", "v0.0.0-20260901000000-0123456789ab", "1.32-dev (branch unknown 2026-09-01, 0123456789ab)"},
		{"1.30\n", "", "v1.30.5", "1.30.5 (istio.io/istio v1.30.5)"},
	} {
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, "VERSION"), []byte(c.version), 0o644))
		if c.image != "" {
			must(t, os.MkdirAll(filepath.Join(dir, "common", "scripts"), 0o755))
			must(t, os.WriteFile(filepath.Join(dir, "common", "scripts", "setup_env.sh"), []byte("if x; then\n"+c.image+"fi\n"), 0o644))
		}
		b, err := readIstioBuild(dir, c.module)
		if err != nil {
			t.Fatal(err)
		}
		if b.Version() != c.want {
			t.Errorf("%s with %q: prints %q, want %q", c.module, c.image, b.Version(), c.want)
		}
	}
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "VERSION"), []byte("master\n"), 0o644))
	if _, err := readIstioBuild(dir, "v0.0.0-20260901000000-0123456789ab"); err == nil {
		t.Error("a VERSION file that names no release line was accepted")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Scenarios that give Istio the same objects share one generation; a
// different collider does not.
func TestGeneratorInputKey(t *testing.T) {
	key := func(id string) string {
		s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
		if !ok {
			t.Fatalf("no scenario %s", id)
		}
		b, err := shared.Render(s)
		if err != nil {
			t.Fatal(err)
		}
		in, err := inputFor(b)
		if err != nil {
			t.Fatal(err)
		}
		return in.key
	}
	if key("mysql-10000-http") != key("smtp-10000-http") {
		t.Error("mysql and smtp behind the same collider should share a generation")
	}
	if key("mysql-mesh-10000-db") != key("smtp-mesh-10000-db") {
		t.Error("in-mesh mysql and smtp servers on the same Service port should share a generation")
	}
	if key("mysql-10000-http") == key("mysql-10000-tcp") {
		t.Error("an http and a tcp collider must not share a generation")
	}
}

// The listener evidence behind DESIGN.md §1, straight from Istio's
// generator: what the evaluator's verdicts rest on.
func TestGeneratedListenerEvidence(t *testing.T) {
	sidecar := func(id string) *envoy.Config { return sidecarFor(t, shared, id) }
	hang := sidecar("mysql-10000-http").Listener("0.0.0.0_10000")
	if hang == nil {
		t.Fatal("an http collider on 10000 made no 0.0.0.0_10000 listener")
	}
	in, err := envoy.Inspect(hang, 10000)
	if err != nil || len(in.Waiting) != 1 || in.Waiting[0] != wellknown.HTTPInspector || in.Timeout != 0 {
		t.Errorf("0.0.0.0_10000: inspectors %v timeout %s (%v), want http_inspector with 0s", in.Waiting, in.Timeout, err)
	}
	if sidecar("mysql-10000-tcp").Listener("0.0.0.0_10000") != nil {
		t.Error("a tcp collider made a wildcard listener for its port")
	}
	se := sidecar("mysql-10000-http-serviceentry-tcp").Listener("198.51.100.7_10000")
	if se == nil || len(se.GetListenerFilters()) != 0 {
		t.Errorf("TCP ServiceEntry with addresses: want 198.51.100.7_10000 without listener filters, got %v", se)
	}
	if sidecar("mysql-10000-http-serviceentry-tcp-without-addresses").Listener("198.51.100.7_10000") != nil {
		t.Error("a ServiceEntry without addresses made an IP listener")
	}
	late := sidecar("mysql-10000-http-protocol-detection-timeout").Listener("0.0.0.0_10000")
	if late.GetListenerFiltersTimeout().AsDuration().String() != "1s" || !late.GetContinueOnListenerFiltersTimeout() {
		t.Errorf("protocolDetectionTimeout 1s: listener timeout %v continue %v", late.GetListenerFiltersTimeout(), late.GetContinueOnListenerFiltersTimeout())
	}
}

// sidecarFor renders a catalogue scenario with p and returns the client
// sidecar configuration Istio's generator builds for it.
func sidecarFor(t *testing.T, p *Predictor, id string) *envoy.Config {
	t.Helper()
	return podSidecarFor(t, p, id, ClientPod)
}

// serverSidecarFor is sidecarFor for the server pod's sidecar.
func serverSidecarFor(t *testing.T, p *Predictor, id string) *envoy.Config {
	t.Helper()
	return podSidecarFor(t, p, id, ServerPod)
}

func podSidecarFor(t *testing.T, p *Predictor, id, pod string) *envoy.Config {
	t.Helper()
	s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
	if !ok {
		t.Fatalf("no catalogue scenario %s", id)
	}
	b, err := p.Render(s)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := p.SidecarOf(b, pod)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
