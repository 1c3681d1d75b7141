package istioline

import (
	"path/filepath"
	"strings"
	"testing"
)

// fakeRepo is a checkout with three lines whose istio.io/istio modules sit
// in a fake module cache: the main go.mod on a release-1.31 commit,
// hack/istio/release-1.30 and hack/istio/master (VERSION 1.31, as master
// carries the number of the release it prepares).
func fakeRepo(t *testing.T) string {
	t.Helper()
	root, cache := t.TempDir(), t.TempDir()
	t.Setenv("GOMODCACHE", cache)
	for _, m := range []struct{ modFile, version, line, branch string }{
		{"go.mod", "v0.0.0-20260827124520-eed52ebb66ad", "1.31", "release-1.31"},
		{"hack/istio/release-1.30/go.mod", "v0.0.0-20260826214018-9739e10eb9d7", "1.30", "release-1.30"},
		{"hack/istio/master/go.mod", "v0.0.0-20260423205519-b01690e6db7d", "1.31", "master"},
	} {
		write(t, filepath.Join(root, m.modFile), "module github.com/firstbyte/firstbyte\n\ngo 1.26.0\n\nrequire istio.io/istio "+m.version+"\n")
		fakeIstio(t, ModuleDir(cache, IstioModule, m.version), m.line+"\n", "IMAGE_VERSION="+m.branch+"-0123\n")
	}
	return root
}

// Each line is named by what its module states; the main go.mod comes
// first; a user's bare number picks the release line over master, and a
// name that fits no line lists the choices.
func TestResolve(t *testing.T) {
	root := fakeRepo(t)
	lines, err := All(root)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(lines), "release-1.31, release-1.30, master"; got != want {
		t.Errorf("lines %q, want %q", got, want)
	}
	for name, want := range map[string]string{
		"1.30": "release-1.30", "1.31": "release-1.31", "master": "master",
		"main": "release-1.31", "release-1.30": "release-1.30", " 1.30 ": "release-1.30",
	} {
		l, err := Resolve(root, name)
		if err != nil || l.Name != want {
			t.Errorf("Resolve(%q) = %q, %v; want %s", name, l.Name, err, want)
		}
	}
	if l, _ := Resolve(root, "1.30"); l.ModFile != "hack/istio/release-1.30/go.mod" || strings.Join(l.BuildFlags(), " ") != "-modfile=hack/istio/release-1.30/go.mod" || l.BinaryPath() != filepath.Join("bin", "firstbyte-release-1.30") {
		t.Errorf("release-1.30: go.mod %s, flags %v, binary %s", l.ModFile, l.BuildFlags(), l.BinaryPath())
	}
	_, err = Resolve(root, "1.29")
	if err == nil || !strings.Contains(err.Error(), "release-1.31 (1.31, main), release-1.30 (1.30), master") {
		t.Errorf("Resolve(1.29): %v; want an error that lists the choices", err)
	}
}

// Two release lines of one VERSION make a bare number ambiguous.
func TestResolveAmbiguous(t *testing.T) {
	lines := []Line{
		{Name: "release-1.30", Build: Build{Line: "1.30", Branch: "release-1.30"}, ModFile: "go.mod"},
		{Name: "release-1.30-patched", Build: Build{Line: "1.30", Branch: "release-1.30"}, ModFile: "hack/istio/x/go.mod"},
	}
	_, err := resolve(lines, "1.30")
	if err == nil || !strings.Contains(err.Error(), "ambiguous") || !strings.Contains(err.Error(), "release-1.30, release-1.30-patched") {
		t.Errorf("resolve(1.30) over two release-1.30 lines: %v; want ambiguous, naming both", err)
	}
}

// A folder under hack/istio is named after the line its module states, so
// a folder name cannot claim another line; a go.mod without Istio is no
// line.
func TestAllChecksTheModule(t *testing.T) {
	root := fakeRepo(t)
	write(t, filepath.Join(root, "hack/istio/1.29/go.mod"), "module github.com/firstbyte/firstbyte\n\nrequire istio.io/istio v0.0.0-20260826214018-9739e10eb9d7\n")
	write(t, filepath.Join(root, "hack/istio/1.29/go.sum"), "")
	if _, err := All(root); err == nil || !strings.Contains(err.Error(), "rename the folder to hack/istio/release-1.30") {
		t.Errorf("a folder named 1.29 holding release-1.30: %v; want an error asking to rename it", err)
	}
	root = fakeRepo(t)
	write(t, filepath.Join(root, "hack/istio/none/go.mod"), "module github.com/firstbyte/firstbyte\n")
	if _, err := All(root); err == nil || !strings.Contains(err.Error(), "requires no istio.io/istio") {
		t.Errorf("a go.mod without Istio: %v", err)
	}
}

func TestFindRoot(t *testing.T) {
	root := fakeRepo(t)
	got, err := FindRoot(filepath.Join(root, "hack", "istio"))
	if err != nil || got != root {
		t.Errorf("FindRoot(hack/istio) = %q, %v; want %s", got, err, root)
	}
	if _, err := FindRoot(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not inside a firstbyte checkout") {
		t.Errorf("FindRoot outside a checkout: %v", err)
	}
}
