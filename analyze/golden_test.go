package analyze

import (
	"bytes"
	"flag"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/firstbyte/firstbyte/analyze/meshgen"
	"github.com/firstbyte/firstbyte/internal/golden"
)

var updateGolden = flag.Bool("update", false, "rewrite analyze/testdata/meshgen/*.json.gz from this build")

// TestGeneratedMeshReports compares analyze's JSON report on meshgen's
// meshes, with and without a server-first destination (so with and
// without remediation checks), byte for byte with the reports the code
// before the scale work wrote (1757aa8: main with the gate's and ambient's
// findings, just before the scale branch merged; the scale branch itself
// was checked against f56d4be): the pipeline may get faster, never
// different.
// The meshes carry a default scope, a Sidecar scope and a capture
// annotation scope each. (The 2k and 10k meshes' reports were compared
// the same way, by hand: docs/benchmarks.md.)
func TestGeneratedMeshReports(t *testing.T) {
	for _, c := range []meshgen.Options{
		{Services: 120, ServiceEntries: 12, Namespaces: 12, Seed: 1},
		{Services: 300, ServiceEntries: 30, Namespaces: 30, Seed: 1},
	} {
		name := fmt.Sprintf("meshgen-%d", c.Services)
		var yaml bytes.Buffer
		if err := meshgen.Write(&yaml, c); err != nil {
			t.Fatal(err)
		}
		for _, v := range []struct {
			suffix string
			opt    Options
		}{{"", Options{}}, {"-serverfirst", Options{ServerFirst: []string{meshgen.ExternalMySQL}}}} {
			t.Run(name+v.suffix, func(t *testing.T) {
				m := newMesh()
				if err := m.AddYAML(name+".yaml", yaml.Bytes()); err != nil {
					t.Fatal(err)
				}
				if err := m.Finish(); err != nil {
					t.Fatal(err)
				}
				r, err := Analyze(m, v.opt)
				if err != nil {
					t.Fatal(err)
				}
				var got bytes.Buffer
				if err := r.WriteJSON(&got); err != nil {
					t.Fatal(err)
				}
				golden.Compare(t, filepath.Join("testdata", "meshgen", name+v.suffix+".json.gz"), got.Bytes(), *updateGolden,
					"go test ./analyze -run GeneratedMeshReports -update", nil)
			})
		}
	}
}
