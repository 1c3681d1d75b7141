package predict

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/firstbyte/firstbyte/scenarios"
)

var updateExplain = flag.Bool("update-explain", false, "rewrite testdata/catalogue-explain.txt.gz from this build")

// TestCatalogueExplainUnchanged compares every catalogue row's explain
// trace (Prediction.String, what firstbyte explain prints) with the
// traces the code before the scale work (f56d4be) printed: making the
// generator runs cheaper must not change a single decision or step.
func TestCatalogueExplainUnchanged(t *testing.T) {
	var got bytes.Buffer
	for _, r := range NewPredictor().predictAll(scenarios.Catalogue()) {
		fmt.Fprintf(&got, "=== %s\n", r.Scenario.ID)
		switch {
		case r.Needs != "":
			fmt.Fprintf(&got, "needs: %s\n", r.Needs)
		case r.Err != nil:
			fmt.Fprintf(&got, "error: %v\n", r.Err)
		default:
			got.WriteString(r.Prediction.String())
		}
	}
	golden := filepath.Join("testdata", "catalogue-explain.txt.gz")
	if *updateExplain {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		zw.Write(got.Bytes())
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(golden)
	if err != nil {
		t.Fatalf("reading the golden traces: %v (write them with -update-explain)", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", golden, err)
	}
	want, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", golden, err)
	}
	if g, w := protojsonSpacing(got.Bytes()), protojsonSpacing(want); !bytes.Equal(g, w) {
		gl, wl := bytes.Split(g, []byte("\n")), bytes.Split(w, []byte("\n"))
		for i := range min(len(gl), len(wl)) {
			if !bytes.Equal(gl[i], wl[i]) {
				t.Fatalf("explain traces differ from %s at line %d:\ngot  %s\nwant %s\n(an intended change: go test ./predict -run CatalogueExplainUnchanged -update-explain)", golden, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("explain traces differ from %s: %d lines, want %d", golden, len(gl), len(wl))
	}
}

// protojsonSpacing drops the space protojson puts, at random per build,
// after a JSON comma or colon (its output is deliberately unstable, see
// google.golang.org/protobuf/internal/detrand), so traces that quote a
// filter_chain_match compare across builds.
func protojsonSpacing(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte(`, "`), []byte(`,"`))
	return bytes.ReplaceAll(b, []byte(`": `), []byte(`":`))
}
