package generator

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/mod/module"
	"istio.io/istio/pilot/test/xds"
)

// istioModule is the module whose generator predict runs.
const istioModule = "istio.io/istio"

// IstioBuild names the Istio predict generates with, read from the
// istio.io/istio module this binary was built against, never typed in:
//
//   - Line is the module's VERSION file. Istio labels every build that is
//     not a release "<VERSION>-dev" (Makefile.core.mk: VERSION :=
//     $(VERSION_FROM_FILE)-dev), and a Go pseudo-version is never a release,
//     so predict prints "<VERSION>-dev".
//   - Branch is the branch the commit was built on, from the build-tools
//     image the commit pins (common/scripts/setup_env.sh:
//     IMAGE_VERSION=<branch>-<sha>; Istio's common-files sync writes the
//     branch's own image there). Master's pseudo-versions say nothing about
//     the line, and a release branch keeps master's VERSION until it is cut,
//     so the branch is what tells a 1.31 release-branch commit from 1.31
//     development on master.
//   - Date and Commit come from the module's pseudo-version.
//
// Version() prints e.g. "1.31-dev (release-1.31 2026-08-27, eed52ebb66ad)".
type IstioBuild struct {
	// Line is the VERSION file's content, such as "1.31".
	Line string `json:"line"`
	// Branch is "master" or "release-1.31"; empty when the module does not
	// say.
	Branch string `json:"branch,omitempty"`
	// Date and Commit are the pseudo-version's commit time (UTC, as a
	// date) and short hash; empty for a tagged module version.
	Date   string `json:"date,omitempty"`
	Commit string `json:"commit,omitempty"`
	// Module is the istio.io/istio module version from the build info.
	Module string `json:"module"`
}

func (b IstioBuild) String() string { return "Istio " + b.Version() }

// Label is the line as Istio's build would label it: "1.31-dev" for a
// commit between releases, the tag for a tagged module version.
func (b IstioBuild) Label() string {
	if b.Commit == "" {
		return strings.TrimPrefix(b.Module, "v")
	}
	return b.Line + "-dev"
}

// Version is the build without the word Istio, as report headers and the
// matrix columns want it: "1.31-dev (release-1.31 2026-08-27,
// eed52ebb66ad)".
func (b IstioBuild) Version() string {
	if b.Commit == "" {
		return fmt.Sprintf("%s (%s %s)", b.Label(), istioModule, b.Module)
	}
	branch := b.Branch
	if branch == "" {
		branch = "branch unknown"
	}
	return fmt.Sprintf("%s (%s %s, %s)", b.Label(), branch, b.Date, b.Commit)
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
	return readIstioBuild(dir, version)
})

// imageVersion is the build-tools image line of Istio's
// common/scripts/setup_env.sh; its tag starts with the branch.
var imageVersion = regexp.MustCompile(`(?m)^\s*IMAGE_VERSION=(master|release-[0-9]+\.[0-9]+)-`)

// readIstioBuild reads the build facts from an istio.io/istio module
// directory at a module version.
func readIstioBuild(dir, version string) (IstioBuild, error) {
	data, err := os.ReadFile(filepath.Join(dir, "VERSION"))
	if err != nil {
		return IstioBuild{}, fmt.Errorf("reading the Istio version from the %s module's VERSION file: %w (is the module cache intact? try go mod download %s@%s)", istioModule, err, istioModule, version)
	}
	b := IstioBuild{Line: strings.TrimSpace(string(data)), Module: version}
	if !regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?$`).MatchString(b.Line) {
		return IstioBuild{}, fmt.Errorf("the %s@%s module's VERSION file says %q, not a release line such as 1.31 (a replaced module? point it at an Istio checkout)", istioModule, version, b.Line)
	}
	if module.IsPseudoVersion(version) {
		t, err := module.PseudoVersionTime(version)
		if err != nil {
			return IstioBuild{}, fmt.Errorf("reading the commit date of %s@%s: %w", istioModule, version, err)
		}
		rev, err := module.PseudoVersionRev(version)
		if err != nil {
			return IstioBuild{}, fmt.Errorf("reading the commit of %s@%s: %w", istioModule, version, err)
		}
		b.Date, b.Commit = t.UTC().Format("2006-01-02"), rev
	}
	if env, err := os.ReadFile(filepath.Join(dir, "common", "scripts", "setup_env.sh")); err == nil {
		if m := imageVersion.FindSubmatch(env); m != nil {
			b.Branch = string(m[1])
		}
	}
	return b, nil
}

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
