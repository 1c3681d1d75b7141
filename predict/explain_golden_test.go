package predict

import (
	"bytes"
	"flag"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/firstbyte/firstbyte/internal/golden"
	"github.com/firstbyte/firstbyte/scenarios"
)

var updateExplain = flag.Bool("update-explain", false, "rewrite testdata/catalogue-explain.txt.gz from this build")

// TestCatalogueExplainUnchanged compares every catalogue row's explain
// trace (Prediction.String, what firstbyte explain prints) with the
// traces the code before the scale work (1757aa8, main just before the scale branch merged) printed: making the
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
	golden.Compare(t, filepath.Join("testdata", "catalogue-explain.txt.gz"), got.Bytes(), *updateExplain,
		"go test ./predict -run CatalogueExplainUnchanged -update-explain", protojsonSpacing)
}

// protojsonSpacing drops the space protojson puts, at random per build,
// after a JSON comma or colon (its output is deliberately unstable, see
// google.golang.org/protobuf/internal/detrand), so traces that quote a
// filter_chain_match compare across builds.
func protojsonSpacing(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte(`, "`), []byte(`,"`))
	return bytes.ReplaceAll(b, []byte(`": `), []byte(`":`))
}
