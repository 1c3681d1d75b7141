package istioline

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// BinaryPath is where Binary puts the line's firstbyte, relative to the
// repository root.
func (l Line) BinaryPath() string { return filepath.Join("bin", "firstbyte-"+l.Name) }

// progressEvery is how often Binary says a build is still running.
const progressEvery = 20 * time.Second

// Binary returns the path of the line's firstbyte binary under root,
// building it first (go build -modfile=<line's go.mod> ./cmd/firstbyte)
// unless the one there was built from the same sources and go.mod/go.sum.
// While it builds it writes progress to progress: what it builds and why,
// then every progressEvery the time spent and the packages compiled so
// far. A line's first build compiles its whole Istio graph (about 13
// minutes on 2 cores); later builds reuse Go's build cache.
func (l Line) Binary(ctx context.Context, root string, progress io.Writer) (string, error) {
	if progress == nil {
		progress = io.Discard
	}
	out := filepath.Join(root, l.BinaryPath())
	stamp, err := l.sourceStamp(root)
	if err != nil {
		return "", err
	}
	if old, err := os.ReadFile(out + ".stamp"); err == nil && string(old) == stamp {
		if _, err := os.Stat(out); err == nil {
			fmt.Fprintf(progress, "%s: up to date (%s)\n", l.BinaryPath(), l.Build.Version())
			return out, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("building the %s line: %w", l.Name, err)
	}
	// A temporary name, renamed when done: a cancelled build, or another
	// process building the same line, never leaves half a binary.
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	defer os.Remove(tmp)
	args := append([]string{"build", "-v"}, l.BuildFlags()...)
	args = append(args, "-o", tmp, "./cmd/firstbyte")
	fmt.Fprintf(progress, "%s: building for %s: go %s (the first build of a line compiles its Istio graph, about 13 min on 2 cores; later ones relink in under a minute)\n", l.BinaryPath(), l.Build.Version(), strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", fmt.Errorf("building the %s line: %w", l.Name, err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("building the %s line: go build: %w", l.Name, err)
	}
	var compiled atomic.Int64
	var messages []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		// go build -v names each package it compiles on a line of its
		// own; anything else is the compiler speaking.
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if line := sc.Text(); isPackagePath(line) {
				compiled.Add(1)
			} else {
				messages = append(messages, line)
			}
		}
	}()
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-tick.C:
			fmt.Fprintf(progress, "%s: still building, %s, %d packages compiled\n", l.BinaryPath(), time.Since(start).Round(time.Second), compiled.Load())
		}
	}
	if err := cmd.Wait(); err != nil {
		return "", fmt.Errorf("building the %s line (go %s in %s): %w\n%s", l.Name, strings.Join(args, " "), root, err, strings.Join(messages, "\n"))
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("building the %s line: %w", l.Name, err)
	}
	if err := os.WriteFile(out+".stamp", []byte(stamp), 0o644); err != nil {
		return "", fmt.Errorf("building the %s line: recording what it was built from: %w", l.Name, err)
	}
	fmt.Fprintf(progress, "%s: built in %s (%d packages compiled)\n", l.BinaryPath(), time.Since(start).Round(time.Second), compiled.Load())
	return out, nil
}

// isPackagePath tells go build -v's package lines ("istio.io/istio/pilot/pkg/model",
// "net/http") from compiler messages ("# pkg", "file.go:3:1: ...").
func isPackagePath(s string) bool {
	return s != "" && !strings.ContainsAny(s, " :#\t")
}

// sourceStamp fingerprints what a line's binary is built from: the
// toolchain, the line's go.mod and go.sum, and every file of the module
// that go build reads (non-test Go files, and the catalogue YAML and
// templates they embed), by path and content. Hashing them takes
// milliseconds; asking go build whether it is up to date hashes Istio's
// whole graph (seconds) and still relinks.
func (l Line) sourceStamp(root string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s %s\n", runtime.GOOS, runtime.GOARCH, goVersion())
	modFiles := []string{l.ModFile, strings.TrimSuffix(l.ModFile, ".mod") + ".sum"}
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			// hack and docs hold no Go package (the line's go.mod and
			// go.sum are hashed below); a change there rebuilds nothing.
			if path != root && (strings.HasPrefix(name, ".") || name == "bin" || name == "artifacts" || name == "testdata" || name == "hack" || name == "docs") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") ||
			strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".tmpl") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reading the sources of the %s line: %w", l.Name, err)
	}
	sort.Strings(files)
	for _, f := range modFiles {
		files = append(files, filepath.Join(root, f))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if os.IsNotExist(err) && strings.HasSuffix(f, ".sum") {
			continue // a module without dependencies has no go.sum
		}
		if err != nil {
			return "", fmt.Errorf("reading the sources of the %s line: %w", l.Name, err)
		}
		rel, _ := filepath.Rel(root, f)
		sum := sha256.Sum256(data)
		fmt.Fprintf(h, "%s %x\n", filepath.ToSlash(rel), sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// goVersion is the go command's version, so a toolchain change rebuilds.
func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
