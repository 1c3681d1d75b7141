package predict

import (
	"context"
	"fmt"
	"testing"

	pr "github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/runner"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/probe"
)

// BenchmarkCatalogueTable decides the catalogue as firstbyte predict does
// (make e2e TARGET=predict): the runner's table on the predict target, 4
// rows per core, every phase, with a fresh process-wide generator cache
// per iteration where the target allows one.
func BenchmarkCatalogueTable(b *testing.B) {
	for _, workers := range []int{8, 16, 32} {
		b.Run(fmt.Sprint(workers), func(b *testing.B) { benchmarkTable(b, workers) })
	}
}

func benchmarkTable(b *testing.B, workers int) {
	list := scenarios.Catalogue()
	for b.Loop() {
		r := &runner.Runner{Target: withPredictor(pr.NewPredictor()), Options: runner.Options{Target: Name, Budget: probe.DefaultBudget}}
		rep, err := r.Table(context.Background(), list, workers)
		if err != nil {
			b.Fatal(err)
		}
		if _, fail, _ := rep.Counts(); fail > 0 {
			b.Fatalf("%d rows failed", fail)
		}
	}
}
