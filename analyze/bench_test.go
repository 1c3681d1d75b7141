package analyze

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/firstbyte/firstbyte/analyze/meshgen"
)

// BenchmarkAnalyzeGeneratedMesh analyses the goal mesh (2,000
// Services with their Deployments, 200 ServiceEntries, 50 namespaces,
// from meshgen): reading the YAML, Istio's injection and generator, the
// outbound and inbound walks, and the remediation checks of each
// finding. make bench runs it once; the figures (and peak RSS of the
// CLI, from /usr/bin/time) are in docs/benchmarks.md.
func BenchmarkAnalyzeGeneratedMesh(b *testing.B) {
	var yaml bytes.Buffer
	if err := meshgen.Write(&yaml, meshgen.Options{Namespaces: 50, Services: 2000, ServiceEntries: 200, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	data := yaml.Bytes()
	for b.Loop() {
		m := newMesh()
		if err := m.AddYAML("meshgen.yaml", data); err != nil {
			b.Fatal(err)
		}
		if err := m.Finish(); err != nil {
			b.Fatal(err)
		}
		r, err := Analyze(m, Options{ServerFirst: []string{"203.0.113.7:10000"}})
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Findings) == 0 {
			b.Fatal("the generated mesh plants a collider on 10000: want a finding")
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heap-MiB")
}
