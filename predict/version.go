package predict

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"unicode"

	"istio.io/istio/pilot/test/xds"
)

// istioModule is the module whose generator predict runs.
const istioModule = "istio.io/istio"

// IstioBuild names the Istio line predict generates with: the VERSION file
// of the istio.io/istio module this binary was built against (Istio's
// master pseudo-versions say nothing about the release line) and the
// module version itself.
type IstioBuild struct {
	// Line is the VERSION file's content, such as "1.31".
	Line string `json:"line"`
	// Module is the istio.io/istio module version from the build info.
	Module string `json:"module"`
}

func (b IstioBuild) String() string { return "Istio " + b.Version() }

// Version is the build without the word Istio, as report headers want it:
// "1.31 (istio.io/istio v0.0.0-…)".
func (b IstioBuild) Version() string {
	return fmt.Sprintf("%s (%s %s)", b.Line, istioModule, b.Module)
}

// ProxyVersion is the version the simulated sidecar reports to istiod. A
// real sidecar runs the same release as its control plane; Istio's test
// harness would otherwise pretend to be an old proxy and gate features.
func (b IstioBuild) ProxyVersion() string {
	if strings.Count(b.Line, ".") == 1 {
		return b.Line + ".0"
	}
	return b.Line
}

// Istio returns the Istio build predict runs, read once.
func Istio() (IstioBuild, error) { return istioBuild() }

var istioBuild = sync.OnceValues(func() (IstioBuild, error) {
	dir, version, err := istioModuleDir()
	if err != nil {
		return IstioBuild{}, err
	}
	data, err := os.ReadFile(filepath.Join(dir, "VERSION"))
	if err != nil {
		return IstioBuild{}, fmt.Errorf("reading the Istio version from the %s module's VERSION file: %w (is the module cache intact? try go mod download %s)", istioModule, err, istioModule)
	}
	return IstioBuild{Line: strings.TrimSpace(string(data)), Module: version}, nil
})

// istioModuleDir finds the istio.io/istio module's directory and version.
// A binary's build info names the version, but test binaries (where
// predict runs) carry no dependency list; the source path the compiler
// recorded for one of Istio's functions names both, in every build.
func istioModuleDir() (dir, version string, err error) {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == istioModule {
				return moduleDir(m)
			}
		}
	}
	file, _ := runtime.FuncForPC(reflect.ValueOf(xds.NewFakeDiscoveryServer).Pointer()).FileLine(0)
	file = filepath.ToSlash(file)
	marker := istioModule + "@"
	i := strings.Index(file, marker)
	if i < 0 {
		return "", "", fmt.Errorf("reading the Istio version: %s's source path %q names no module version (a replaced or vendored istio.io/istio?)", istioModule, file)
	}
	version, _, _ = strings.Cut(file[i+len(marker):], "/")
	if filepath.IsAbs(file) {
		return filepath.FromSlash(file[:i+len(marker)+len(version)]), version, nil
	}
	// -trimpath keeps only module@version/...: look in the module cache.
	cache, err := moduleCache()
	if err != nil {
		return "", "", err
	}
	return filepath.Join(cache, escapeModulePath(istioModule)+"@"+version), version, nil
}

// moduleDir finds a dependency's source directory: a local replacement,
// or its folder in the module cache.
func moduleDir(m *debug.Module) (dir, version string, err error) {
	path, version := m.Path, m.Version
	if r := m.Replace; r != nil {
		if r.Version == "" { // replaced by a local directory
			return r.Path, m.Version, nil
		}
		path, version = r.Path, r.Version
	}
	cache, err := moduleCache()
	if err != nil {
		return "", "", err
	}
	return filepath.Join(cache, escapeModulePath(path)+"@"+version), version, nil
}

// moduleCache is go env GOMODCACHE without running go when the
// environment already says it.
func moduleCache() (string, error) {
	if c := os.Getenv("GOMODCACHE"); c != "" {
		return c, nil
	}
	if p := os.Getenv("GOPATH"); p != "" {
		return filepath.Join(filepath.SplitList(p)[0], "pkg", "mod"), nil
	}
	if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
		if c := strings.TrimSpace(string(out)); c != "" {
			return c, nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("locating the Go module cache: set GOMODCACHE: %w", err)
	}
	return filepath.Join(home, "go", "pkg", "mod"), nil
}

// escapeModulePath applies the module cache's case encoding: an upper-case
// letter becomes '!' and its lower-case form.
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
