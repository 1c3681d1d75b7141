package istioline

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ReadBuild takes the line from VERSION, the branch from the build-tools
// image and date and commit from the pseudo-version, so two commits with
// the same VERSION on master and on a release branch print apart.
func TestReadBuild(t *testing.T) {
	for _, c := range []struct{ version, image, module, want string }{
		{"1.31\n", "  IMAGE_VERSION=master-63fd6eec6f3df5a3ed4e190e60153ef3425f66b4\n", "v0.0.0-20260423205519-b01690e6db7d", "1.31-dev (master 2026-04-23, b01690e6db7d)"},
		{"1.31\n", "  IMAGE_VERSION=release-1.31-24b758cde6f063fbe456b70f537ca5a464e4079a\n", "v0.0.0-20260827124520-eed52ebb66ad", "1.31-dev (release-1.31 2026-08-27, eed52ebb66ad)"},
		{"1.32\n", "", "v0.0.0-20260901000000-0123456789ab", "1.32-dev (branch unknown 2026-09-01, 0123456789ab)"},
		{"1.30\n", "", "v1.30.5", "1.30.5 (istio.io/istio v1.30.5)"},
	} {
		t.Run(c.module, func(t *testing.T) {
			dir := t.TempDir()
			fakeIstio(t, dir, c.version, c.image)
			b, err := ReadBuild(dir, c.module)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, b.Version()); diff != "" {
				t.Errorf("%s with %q: Version() (-want +got):\n%s", c.module, c.image, diff)
			}
		})
	}
	dir := t.TempDir()
	fakeIstio(t, dir, "master\n", "")
	if _, err := ReadBuild(dir, "v0.0.0-20260901000000-0123456789ab"); err == nil {
		t.Error("a VERSION file that names no release line was accepted")
	}
}

// fakeIstio writes the two files of an istio.io/istio module a line's
// identity is read from.
func fakeIstio(t *testing.T, dir, version, image string) {
	t.Helper()
	write(t, filepath.Join(dir, "VERSION"), version)
	if image != "" {
		write(t, filepath.Join(dir, "common", "scripts", "setup_env.sh"), "if x; then\n"+image+"fi\n")
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
