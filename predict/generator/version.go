package generator

import (
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/firstbyte/firstbyte/istioline"
	"istio.io/istio/pilot/test/xds"
)

// istioModule is the module whose generator predict runs.
const istioModule = istioline.IstioModule

// IstioBuild names the Istio predict generates with, read from the
// istio.io/istio module this binary was built against (istioline.Build
// says how), never typed in. Version() prints e.g. "1.31-dev
// (release-1.31 2026-08-27, eed52ebb66ad)".
type IstioBuild = istioline.Build

// Istio returns the Istio build predict runs, read once.
func Istio() (IstioBuild, error) { return istioBuild() }

var istioBuild = sync.OnceValues(func() (IstioBuild, error) {
	dir, version, err := istioModuleDir()
	if err != nil {
		return IstioBuild{}, err
	}
	return istioline.ReadBuild(dir, version)
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
	cache, err := istioline.ModuleCache()
	if err != nil {
		return "", "", err
	}
	return istioline.ModuleDir(cache, istioModule, version), version, nil
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
	cache, err := istioline.ModuleCache()
	if err != nil {
		return "", "", err
	}
	return istioline.ModuleDir(cache, path, version), version, nil
}
