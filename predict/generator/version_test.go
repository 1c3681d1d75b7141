package generator

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
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
		t.Run(c.module, func(t *testing.T) {
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
			if diff := cmp.Diff(c.want, b.Version()); diff != "" {
				t.Errorf("%s with %q: Version() (-want +got):\n%s", c.module, c.image, diff)
			}
		})
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
