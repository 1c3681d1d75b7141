package istioline

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Binary builds the line's firstbyte once, says so, reuses it while
// nothing it is built from changes, and rebuilds when a source or the
// line's go.mod does. A tiny module stands in for the checkout, so the
// test compiles no Istio.
func TestBinaryBuildsOnceAndRebuildsOnChange(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "go.mod"), "module example.com/tiny\n\ngo 1.26.0\n")
	write(t, filepath.Join(root, "cmd/firstbyte/main.go"), "package main\n\nfunc main() { println(\"one\") }\n")
	l := Line{Name: "tiny", ModFile: MainModFile, Build: Build{Line: "1.30"}}
	ctx := context.Background()

	var progress strings.Builder
	bin, err := l.Binary(ctx, root, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if bin != filepath.Join(root, "bin", "firstbyte-tiny") || !strings.Contains(progress.String(), "building") || !strings.Contains(progress.String(), "built in") {
		t.Errorf("first build: binary %s, progress:\n%s", bin, progress.String())
	}
	if out := run(t, bin); out != "one" {
		t.Errorf("the built binary says %q, want one", out)
	}

	progress.Reset()
	if _, err := l.Binary(ctx, root, &progress); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "up to date") || strings.Contains(progress.String(), "building") {
		t.Errorf("second call with nothing changed rebuilt:\n%s", progress.String())
	}

	write(t, filepath.Join(root, "cmd/firstbyte/main.go"), "package main\n\nfunc main() { println(\"two\") }\n")
	progress.Reset()
	if _, err := l.Binary(ctx, root, &progress); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "built in") || run(t, bin) != "two" {
		t.Errorf("a changed source did not rebuild:\n%s", progress.String())
	}

	write(t, filepath.Join(root, "go.mod"), "module example.com/tiny\n\ngo 1.26.0\n\n// changed\n")
	progress.Reset()
	if _, err := l.Binary(ctx, root, &progress); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "built in") {
		t.Errorf("a changed go.mod did not rebuild:\n%s", progress.String())
	}
}

// A build that fails names the line and carries the compiler's words.
func TestBinaryBuildError(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "go.mod"), "module example.com/tiny\n\ngo 1.26.0\n")
	write(t, filepath.Join(root, "cmd/firstbyte/main.go"), "package main\n\nfunc main() { undefinedThing() }\n")
	l := Line{Name: "broken", ModFile: MainModFile}
	_, err := l.Binary(context.Background(), root, nil)
	if err == nil || !strings.Contains(err.Error(), "building the broken line") || !strings.Contains(err.Error(), "undefinedThing") {
		t.Errorf("a build that cannot compile: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "bin", "firstbyte-broken")); err == nil {
		t.Error("a failed build left a binary")
	}
}

func run(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", bin, err, out)
	}
	return strings.TrimSpace(string(out))
}
