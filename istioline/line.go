package istioline

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
)

// MainModFile is the main line's go.mod, relative to the repository root.
const MainModFile = "go.mod"

// LinesDir holds one folder per further line, each with a go.mod and
// go.sum; the folder is named after the line its module states (All
// checks it).
const LinesDir = "hack/istio"

// Line is one Istio line: a go.mod that pins an istio.io/istio commit.
type Line struct {
	// Name is the line as its module states it: the branch of its
	// build-tools image ("release-1.30", "master"), or the Istio label
	// when the module names no branch (a tagged release: "1.30.5").
	Name string
	// Build is what the module says about itself.
	Build Build
	// ModFile is the line's go.mod relative to the repository root:
	// MainModFile for the main line, hack/istio/<Name>/go.mod otherwise.
	ModFile string
}

// Main says whether this is the line of the repository's own go.mod, the
// one make test compiles and the catalogue's expectations describe.
func (l Line) Main() bool { return l.ModFile == MainModFile }

// String is "release-1.30: Istio 1.30-dev (release-1.30 2026-08-26, 9739e10eb9d7)".
func (l Line) String() string { return l.Name + ": " + l.Build.String() }

// BuildFlags are the go build flags that select the line's module graph.
func (l Line) BuildFlags() []string {
	if l.Main() {
		return nil
	}
	return []string{"-modfile=" + l.ModFile}
}

// nameOf is the line's name as its module states it.
func nameOf(b Build) string {
	if b.Branch != "" {
		return b.Branch
	}
	if b.Commit != "" {
		return b.Line + "-dev-" + b.Commit
	}
	return b.Label()
}

// All lists the lines of the repository at root: the main go.mod first,
// then hack/istio/*/go.mod, newest commit first. It reads each line's identity
// from its istio.io/istio module (downloading the module's source when the
// cache lacks it: no compiling).
func All(root string) ([]Line, error) {
	mods, err := filepath.Glob(filepath.Join(root, LinesDir, "*", "go.mod"))
	if err != nil {
		return nil, fmt.Errorf("listing Istio lines: %w", err)
	}
	sort.Strings(mods)
	files := []string{MainModFile}
	for _, m := range mods {
		rel, err := filepath.Rel(root, m)
		if err != nil {
			return nil, fmt.Errorf("listing Istio lines: %w", err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	var lines []Line
	seen := map[string]string{}
	for _, f := range files {
		l, err := read(root, f)
		if err != nil {
			return nil, err
		}
		if !l.Main() {
			if folder := filepath.Base(filepath.Dir(f)); folder != l.Name {
				return nil, fmt.Errorf("%s pins %s, whose module states the %s line: rename the folder to %s/%s, so that its name says what the module does", f, l.Build.Module, l.Name, LinesDir, l.Name)
			}
		}
		if other, dup := seen[l.Name]; dup {
			return nil, fmt.Errorf("%s and %s both pin the %s line (%s): keep one", other, f, l.Name, l.Build.Version())
		}
		seen[l.Name] = f
		lines = append(lines, l)
	}
	sort.SliceStable(lines[1:], func(i, j int) bool { return lines[1+i].Build.Date > lines[1+j].Build.Date })
	return lines, nil
}

// read reads one line from its go.mod.
func read(root, modFile string) (Line, error) {
	path := filepath.Join(root, modFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return Line{}, fmt.Errorf("reading Istio line %s: %w", modFile, err)
	}
	mf, err := modfile.ParseLax(path, data, nil)
	if err != nil {
		return Line{}, fmt.Errorf("reading Istio line %s: %w", modFile, err)
	}
	version := ""
	for _, r := range mf.Require {
		if r.Mod.Path == IstioModule {
			version = r.Mod.Version
		}
	}
	if version == "" {
		return Line{}, fmt.Errorf("%s requires no %s: an Istio line's go.mod pins the Istio commit whose generator it predicts with", modFile, IstioModule)
	}
	dir := ""
	for _, r := range mf.Replace {
		if r.Old.Path != IstioModule {
			continue
		}
		if r.New.Version == "" { // a local checkout
			dir = r.New.Path
			if !filepath.IsAbs(dir) {
				dir = filepath.Join(filepath.Dir(path), dir)
			}
		} else {
			version = r.New.Version
		}
	}
	if dir == "" {
		if dir, err = moduleSource(root, modFile, version); err != nil {
			return Line{}, err
		}
	}
	b, err := ReadBuild(dir, version)
	if err != nil {
		return Line{}, fmt.Errorf("Istio line %s: %w", modFile, err)
	}
	return Line{Name: nameOf(b), Build: b, ModFile: modFile}, nil
}

// moduleSource is istio.io/istio@version's folder in the module cache,
// downloaded (source only) when missing.
func moduleSource(root, modFile, version string) (string, error) {
	cache, err := ModuleCache()
	if err != nil {
		return "", err
	}
	dir := ModuleDir(cache, IstioModule, version)
	if _, err := os.Stat(filepath.Join(dir, "VERSION")); err == nil {
		return dir, nil
	}
	args := []string{"mod", "download", "-json"}
	if modFile != MainModFile {
		args = append(args, "-modfile="+modFile)
	}
	cmd := exec.Command("go", append(args, IstioModule+"@"+version)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("Istio line %s: downloading %s@%s to read its VERSION: %w: %s", modFile, IstioModule, version, err, strings.TrimSpace(stderr.String()))
	}
	return dir, nil
}

// bareNumber is a user's "1.30": an Istio minor line.
var bareNumber = regexp.MustCompile(`^[0-9]+\.[0-9]+$`)

// Resolve finds the line a user names: the line's name ("release-1.30",
// "master"), "main" for the main go.mod's line, or a bare number ("1.30")
// for the line whose VERSION it is. A release line wins over master for a
// bare number (master carries the number of the release it prepares);
// a name that fits no line, or several, is an error that lists the
// choices.
func Resolve(root, name string) (Line, error) {
	lines, err := All(root)
	if err != nil {
		return Line{}, err
	}
	return resolve(lines, name)
}

func resolve(lines []Line, name string) (Line, error) {
	name = strings.TrimSpace(name)
	switch match := candidates(lines, name); {
	case len(match) == 1:
		return match[0], nil
	case len(match) > 1:
		return Line{}, fmt.Errorf("Istio line %q is ambiguous: %s; name one of them: %s", name, names(match), Choices(lines))
	}
	return Line{}, fmt.Errorf("no Istio line %q: want one of %s (a folder %s/<line> with a go.mod adds one)", name, Choices(lines), LinesDir)
}

// candidates are the lines a name may mean, best first: the line of that
// name; else, for a bare number, the release lines with that VERSION, or
// when there are none the other lines with it.
func candidates(lines []Line, name string) []Line {
	for _, l := range lines {
		if l.Name == name || (name == "main" && l.Main()) {
			return []Line{l}
		}
	}
	if !bareNumber.MatchString(name) {
		return nil
	}
	var release, other []Line
	for _, l := range lines {
		switch {
		case l.Build.Line != name:
		case strings.HasPrefix(l.Build.Branch, "release-"):
			release = append(release, l)
		default:
			other = append(other, l)
		}
	}
	if len(release) > 0 {
		return release
	}
	return other
}

func names(lines []Line) string {
	var out []string
	for _, l := range lines {
		out = append(out, l.Name)
	}
	return strings.Join(out, ", ")
}

// Choices lists the names a user can give for the lines: "release-1.31
// (1.31, main), release-1.30 (1.30), master".
func Choices(lines []Line) string {
	var out []string
	for _, l := range lines {
		var also []string
		if c := candidates(lines, l.Build.Line); len(c) == 1 && c[0].Name == l.Name && l.Name != l.Build.Line {
			also = append(also, l.Build.Line)
		}
		if l.Main() {
			also = append(also, "main")
		}
		if len(also) > 0 {
			out = append(out, fmt.Sprintf("%s (%s)", l.Name, strings.Join(also, ", ")))
		} else {
			out = append(out, l.Name)
		}
	}
	return strings.Join(out, ", ")
}

// FindRoot walks up from dir to the firstbyte checkout (the folder whose
// go.mod declares module github.com/firstbyte/firstbyte): the lines and
// their binaries live there.
func FindRoot(dir string) (string, error) {
	start, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("finding the firstbyte checkout: %w", err)
	}
	for d := start; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, MainModFile)); err == nil && modfile.ModulePath(data) == thisModule {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s is not inside a firstbyte checkout (no go.mod of %s above it): Istio lines are built from their go.mods in a checkout; run from one (git clone, then cd into it)", start, thisModule)
		}
	}
}

const thisModule = "github.com/firstbyte/firstbyte"
