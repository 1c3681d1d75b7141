package predict

import (
	"errors"
	"testing"

	"github.com/firstbyte/firstbyte/predict/generator"
	"github.com/firstbyte/firstbyte/scenarios"
)

// shared is the predictor the package's tests share, so each distinct
// set of objects is generated once per test binary.
var shared = NewPredictor()

// BenchmarkCatalogue predicts the whole catalogue per iteration with a
// fresh predictor, so every generation is paid for.
func BenchmarkCatalogue(b *testing.B) {
	list := scenarios.Catalogue()
	if _, err := generator.Istio(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		p := NewPredictor()
		var errs []error
		for _, r := range p.predictAll(list) {
			errs = append(errs, r.Err)
		}
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(list)), "scenarios/op")
}
