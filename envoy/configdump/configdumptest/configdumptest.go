// Package configdumptest serves the canned Envoy config dumps in
// ../testdata to the tests of the packages that read and wait on sidecars.
package configdumptest

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// Sample returns a canned config_dump from configdump's testdata
// (testdata/<name>.json.gz, see testdata/README.md): the client or server
// sidecar of a catalogue scenario as Istio's generator builds it. Tests of
// the packages that wait on and read sidecars use it.
func Sample(name string) ([]byte, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return nil, fmt.Errorf("locating configdump testdata")
	}
	f, err := os.Open(filepath.Join(filepath.Dir(file), "..", "testdata", name+".json.gz"))
	if err != nil {
		return nil, fmt.Errorf("sample config dump: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("sample config dump %s: %w", name, err)
	}
	return io.ReadAll(zr)
}
