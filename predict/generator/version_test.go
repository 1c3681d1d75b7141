package generator

import (
	"regexp"
	"testing"
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
