package analyze

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/firstbyte/firstbyte/analyze/meshgen"
)

var updateGolden = flag.Bool("update", false, "rewrite analyze/testdata/meshgen/*.json.gz from this build")

// TestGeneratedMeshReports compares analyze's JSON report on meshgen's
// meshes, with and without a server-first destination (so with and
// without remediation checks), byte for byte with the reports the code
// before the scale work (f56d4be) wrote with `firstbyte analyze -f
// meshgen-N.yaml -o json`: the pipeline may get faster, never different.
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
				golden := filepath.Join("testdata", "meshgen", name+v.suffix+".json.gz")
				if *updateGolden {
					writeGzip(t, golden, got.Bytes())
				}
				want := readGzip(t, golden)
				if !bytes.Equal(got.Bytes(), want) {
					i := 0
					for i < min(got.Len(), len(want)) && got.Bytes()[i] == want[i] {
						i++
					}
					t.Fatalf("the report differs from %s (%d bytes, want %d) from byte %d:\ngot  %.300q\nwant %.300q\n(an intended change of the findings: go test ./analyze -run GeneratedMeshReports -update)",
						golden, got.Len(), len(want), i, got.Bytes()[max(0, i-100):], want[max(0, i-100):])
				}
			})
		}
	}
}

func readGzip(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("reading the golden report: %v (write it with -update)", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

func writeGzip(t *testing.T, path string, data []byte) {
	t.Helper()
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
