package istioline

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/mod/module"
)

// IstioModule is the module whose config generator firstbyte runs.
const IstioModule = "istio.io/istio"

// Build names an Istio build, read from an istio.io/istio module directory
// and its version, never typed in:
//
//   - Line is the module's VERSION file. Istio labels every build that is
//     not a release "<VERSION>-dev" (Makefile.core.mk: VERSION :=
//     $(VERSION_FROM_FILE)-dev), and a Go pseudo-version is never a release,
//     so it prints "<VERSION>-dev".
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
type Build struct {
	// Line is the VERSION file's content, such as "1.31".
	Line string `json:"line"`
	// Branch is "master" or "release-1.31"; empty when the module does not
	// say.
	Branch string `json:"branch,omitempty"`
	// Date and Commit are the pseudo-version's commit time (UTC, as a
	// date) and short hash; empty for a tagged module version.
	Date   string `json:"date,omitempty"`
	Commit string `json:"commit,omitempty"`
	// Module is the istio.io/istio module version.
	Module string `json:"module"`
}

func (b Build) String() string { return "Istio " + b.Version() }

// Label is the line as Istio's build would label it: "1.31-dev" for a
// commit between releases, the tag for a tagged module version.
func (b Build) Label() string {
	if b.Commit == "" {
		return strings.TrimPrefix(b.Module, "v")
	}
	return b.Line + "-dev"
}

// Version is the build without the word Istio, as report headers and the
// matrix columns want it: "1.31-dev (release-1.31 2026-08-27,
// eed52ebb66ad)".
func (b Build) Version() string {
	if b.Commit == "" {
		return fmt.Sprintf("%s (%s %s)", b.Label(), IstioModule, b.Module)
	}
	branch := b.Branch
	if branch == "" {
		branch = "branch unknown"
	}
	return fmt.Sprintf("%s (%s %s, %s)", b.Label(), branch, b.Date, b.Commit)
}

// ProxyVersion is the version a simulated sidecar reports to istiod. A
// real sidecar runs the same release as its control plane; Istio's test
// harness would otherwise pretend to be an old proxy and gate features.
func (b Build) ProxyVersion() string {
	if strings.Count(b.Line, ".") == 1 {
		return b.Line + ".0"
	}
	return b.Line
}

// imageVersion is the build-tools image line of Istio's
// common/scripts/setup_env.sh; its tag starts with the branch.
var imageVersion = regexp.MustCompile(`(?m)^\s*IMAGE_VERSION=(master|release-[0-9]+\.[0-9]+)-`)

var releaseLine = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?$`)

// ReadBuild reads the build facts from an istio.io/istio module directory
// at a module version.
func ReadBuild(dir, version string) (Build, error) {
	data, err := os.ReadFile(filepath.Join(dir, "VERSION"))
	if err != nil {
		return Build{}, fmt.Errorf("reading the Istio version from the %s module's VERSION file: %w (is the module cache intact? try go mod download %s@%s)", IstioModule, err, IstioModule, version)
	}
	b := Build{Line: strings.TrimSpace(string(data)), Module: version}
	if !releaseLine.MatchString(b.Line) {
		return Build{}, fmt.Errorf("the %s@%s module's VERSION file says %q, not a release line such as 1.31 (a replaced module? point it at an Istio checkout)", IstioModule, version, b.Line)
	}
	if module.IsPseudoVersion(version) {
		t, err := module.PseudoVersionTime(version)
		if err != nil {
			return Build{}, fmt.Errorf("reading the commit date of %s@%s: %w", IstioModule, version, err)
		}
		rev, err := module.PseudoVersionRev(version)
		if err != nil {
			return Build{}, fmt.Errorf("reading the commit of %s@%s: %w", IstioModule, version, err)
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

// ModuleCache is go env GOMODCACHE without running go when the
// environment already says it.
func ModuleCache() (string, error) {
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

// ModuleDir is a module version's folder in the module cache (path
// case-encoded as the cache stores it: an upper-case letter becomes '!'
// and its lower-case form).
func ModuleDir(cache, path, version string) string {
	var b strings.Builder
	for _, r := range path {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return filepath.Join(cache, b.String()+"@"+version)
}
