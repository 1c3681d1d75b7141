package pins

import (
	"path/filepath"
	"strings"
	"testing"
)

func repoPins(t *testing.T, env map[string]string) *Pins {
	t.Helper()
	p, err := Load(filepath.Join("..", "..", "..", File), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The repository's pins parse, and every pinned image is pinned by digest.
func TestRepositoryPins(t *testing.T) {
	p := repoPins(t, nil)
	if len(p.IstioVersions()) < 3 {
		t.Errorf("ISTIO_VERSIONS = %v: the CI matrix wants at least three Istio minors", p.IstioVersions())
	}
	minors := map[string]bool{}
	for _, v := range p.IstioVersions() {
		m, _ := Minor(v)
		minors[m] = true
		img := p.NodeImage(v, nil)
		if !strings.Contains(img, "@sha256:") || len(img[strings.Index(img, "@sha256:")+8:]) != 64 {
			t.Errorf("node image for Istio %s = %q: want kindest/node:<tag>@sha256:<64 hex>", v, img)
		}
	}
	if len(minors) != len(p.IstioVersions()) {
		t.Errorf("ISTIO_VERSIONS = %v: want distinct minors", p.IstioVersions())
	}
	if !strings.Contains(p.Get("KIND_NODE_IMAGE"), "@sha256:") {
		t.Errorf("KIND_NODE_IMAGE %q is not pinned by digest", p.Get("KIND_NODE_IMAGE"))
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	p := repoPins(t, map[string]string{"ISTIO_VERSION": "1.30.5", "KIND_NODE_IMAGE": "kindest/node:v9@sha256:x"})
	if p.IstioVersion() != "1.30.5" {
		t.Errorf("ISTIO_VERSION = %s, want the environment's 1.30.5", p.IstioVersion())
	}
	if got := p.NodeImage("1.30.5", func(k string) (string, bool) {
		return map[string]string{"KIND_NODE_IMAGE": "kindest/node:v9@sha256:x"}[k], k == "KIND_NODE_IMAGE"
	}); got != "kindest/node:v9@sha256:x" {
		t.Errorf("NodeImage with KIND_NODE_IMAGE set = %s", got)
	}
	if got := repoPins(t, nil).NodeImage("1.99.0", nil); got != repoPins(t, nil).Get("KIND_NODE_IMAGE") {
		t.Errorf("a minor without a pin should use KIND_NODE_IMAGE, got %s", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nonsense\n", "is not KEY=VALUE"},
		{"A=$B\n", "expansions, escapes and inner quotes are not allowed"},
		{"A='x'\n", "inner quotes"},
		{"A=1\nA=2\n", "set twice"},
		{"KIND_NODE_IMAGE=x\nISTIO_VERSIONS=1.2.3\nISTIO_HUB=h\nFIRSTBYTE_IMAGE=i\n", "ISTIO_VERSION is missing"},
		{"KIND_NODE_IMAGE=x\nISTIO_VERSION=latest\nISTIO_VERSIONS=1.2.3\nISTIO_HUB=h\nFIRSTBYTE_IMAGE=i\n", `Istio version "latest"`},
	} {
		_, err := Parse("v.env", []byte(tc.in), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}
