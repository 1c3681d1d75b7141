package analyze

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"

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

// BenchmarkAnalyzeGeneratedMeshChangeGate times the change gate on the
// generated mesh with one Service changed (its first port renamed http,
// so the change adds a sniffing port), against one analyze of the
// changed mesh with remediation checks on: the gate must cost at most
// 1.5 times as much (issue 20). make bench runs it with the benchmark
// above; docs/benchmarks.md has the figures.
func BenchmarkAnalyzeGeneratedMeshChangeGate(b *testing.B) {
	var yaml bytes.Buffer
	if err := meshgen.Write(&yaml, meshgen.Options{Namespaces: 50, Services: 2000, ServiceEntries: 200, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	load := func(change bool) *Mesh {
		m := newMesh()
		if err := m.AddYAML("meshgen.yaml", yaml.Bytes()); err != nil {
			b.Fatal(err)
		}
		if change {
			m.Services[100].Spec.Ports[0].Name = "http-changed"
		}
		if err := m.Finish(); err != nil {
			b.Fatal(err)
		}
		return m
	}
	opt := Options{ServerFirst: []string{"203.0.113.7:10000"}}
	var analyzeTime, gateTime time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := Analyze(load(true), opt); err != nil {
			b.Fatal(err)
		}
		analyzeTime += time.Since(start)
		start = time.Now()
		c, err := Gate(load(false), load(true), opt)
		if err != nil {
			b.Fatal(err)
		}
		gateTime += time.Since(start)
		if !strings.Contains(c.Method, "touches") {
			b.Fatalf("one changed Service should take the touched-ports path: %s", c.Method)
		}
	}
	n := float64(b.N)
	b.ReportMetric(analyzeTime.Seconds()/n, "analyze-s")
	b.ReportMetric(gateTime.Seconds()/n, "gate-s")
	b.ReportMetric(gateTime.Seconds()/analyzeTime.Seconds(), "gate/analyze")
}
