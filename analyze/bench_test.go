package analyze

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/firstbyte/firstbyte/analyze/meshgen"
)

// BenchmarkAnalyzeGeneratedMesh analyses meshgen's meshes: the issue's
// 2k mesh (2,000 Services with their Deployments, 200 ServiceEntries, 50
// namespaces) and the 10k goal mesh (10,000 Services, 1,000
// ServiceEntries, 200 namespaces): reading the YAML, Istio's injection
// and generator, the outbound and inbound walks, and the remediation
// checks of each finding. make bench runs each once; the figures (and
// peak RSS of the CLI, from /usr/bin/time) are in docs/benchmarks.md.
func BenchmarkAnalyzeGeneratedMesh(b *testing.B) {
	for _, size := range []struct {
		name string
		opt  meshgen.Options
	}{
		{"2k", meshgen.Options{Namespaces: 50, Services: 2000, ServiceEntries: 200, Seed: 1}},
		{"10k", meshgen.Options{Namespaces: 200, Services: 10000, ServiceEntries: 1000, Seed: 1}},
	} {
		b.Run(size.name, func(b *testing.B) { benchmarkAnalyze(b, size.opt) })
	}
}

func benchmarkAnalyze(b *testing.B, o meshgen.Options) {
	var yaml bytes.Buffer
	if err := meshgen.Write(&yaml, o); err != nil {
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
		r, err := Analyze(m, Options{ServerFirst: []string{meshgen.ExternalMySQL}})
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
