package analyze

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var changeDests = []string{"203.0.113.7:10000", "203.0.113.8:10001"}

func loadFinished(t *testing.T, dir string) *Mesh {
	t.Helper()
	m, err := Load([]string{filepath.Join("testdata", dir)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Finish(); err != nil {
		t.Fatal(err)
	}
	return m
}

func keys(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Key)
	}
	slices.Sort(out)
	return out
}

// TestChangeGate: against a baseline that already has a hazard, a change
// that adds one fails with only that one new, and a change that only
// fixes passes with it fixed. The fast path (the baseline analysed on
// the touched ports) classifies as the whole baseline does.
func TestChangeGate(t *testing.T) {
	opt := Options{ServerFirst: changeDests}
	for _, tc := range []struct {
		head      string
		fails     bool
		new       string
		fixed     string
		unchanged int
	}{
		{"change/adds-hazard", true, "inspector-hold|10001|shop|Service/shop/reports-api|203.0.113.8:10001", "", 1},
		{"change/fixes", false, "", "inspector-hold|10000|shop|Service/shop/catalog-api|203.0.113.7:10000", 0},
	} {
		t.Run(tc.head, func(t *testing.T) {
			base, head := loadFinished(t, "change/base"), loadFinished(t, tc.head)
			c, err := Gate(base, head, opt)
			if err != nil {
				t.Fatal(err)
			}
			if c.Fails() != tc.fails || c.Unchanged != tc.unchanged {
				t.Errorf("fails %v, unchanged %d; want %v, %d (new %v, fixed %v)", c.Fails(), c.Unchanged, tc.fails, tc.unchanged, keys(c.New), keys(c.Fixed))
			}
			if !strings.Contains(c.Method, "port(s) the change touches") {
				t.Errorf("a change to Services only should take the touched-ports path, took %q", c.Method)
			}
			if tc.new != "" && !slices.Contains(keys(c.New), tc.new) {
				t.Errorf("new %v lacks %s", keys(c.New), tc.new)
			}
			if tc.fixed != "" && !slices.Contains(keys(c.Fixed), tc.fixed) {
				t.Errorf("fixed %v lacks %s", keys(c.Fixed), tc.fixed)
			}
			for _, f := range c.newFindings() {
				if len(f.Remediations) == 0 {
					t.Errorf("new finding %s: remediations not checked", f.ID)
				}
			}
			// The whole baseline, analysed, gives the same classification.
			whole, err := Analyze(loadFinished(t, "change/base"), Options{ServerFirst: changeDests, SkipRemediations: true})
			if err != nil {
				t.Fatal(err)
			}
			w := Compare(whole, c.Head, nil)
			if !slices.Equal(keys(w.New), keys(c.New)) || !slices.Equal(keys(w.Fixed), keys(c.Fixed)) || w.Unchanged != c.Unchanged {
				t.Errorf("touched ports: new %v fixed %v; whole baseline: new %v fixed %v", keys(c.New), keys(c.Fixed), keys(w.New), keys(w.Fixed))
			}
			// An earlier run's JSON report as the baseline keys the same.
			var js bytes.Buffer
			if err := whole.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "base.json")
			if err := os.WriteFile(path, js.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			r, ok, err := ReadReport(path)
			if err != nil || !ok {
				t.Fatalf("ReadReport: ok %v, %v", ok, err)
			}
			j, err := GateReport(r, loadFinished(t, tc.head), Options{ServerFirst: changeDests, SkipRemediations: true})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(keys(j.New), keys(c.New)) || !slices.Equal(keys(j.Fixed), keys(c.Fixed)) {
				t.Errorf("JSON baseline: new %v fixed %v; want new %v fixed %v", keys(j.New), keys(j.Fixed), keys(c.New), keys(c.Fixed))
			}
			var md bytes.Buffer
			if err := c.WriteMarkdown(&md); err != nil {
				t.Fatal(err)
			}
			want := "## Fixed"
			if tc.fails {
				want = "## New hazards"
			}
			if !strings.Contains(md.String(), want) {
				t.Errorf("markdown lacks %q:\n%s", want, md.String())
			}
		})
	}
}

// TestChangedPorts: a change to a Sidecar (not a Service or
// ServiceEntry) may change every port, so the baseline is analysed whole.
func TestChangedPorts(t *testing.T) {
	base, head := loadFinished(t, "change/base"), loadFinished(t, "change/adds-hazard")
	if p, ok := changedPorts(base, head); !ok || len(p) != 1 || !p[10001] {
		t.Errorf("changed ports %v, %v: want 10001 only", p, ok)
	}
	head.MeshConfigYAML = "protocolDetectionTimeout: 1s"
	if _, ok := changedPorts(base, head); ok {
		t.Errorf("a meshConfig change must analyse the whole baseline")
	}
}

// TestChangeGateWholeMesh: a meshConfig change (ALLOW_ANY_DYNAMIC_DNS)
// analyses the whole baseline and finds virtualOutbound's hazard new for
// both destinations, the catalog-api one unchanged.
func TestChangeGateWholeMesh(t *testing.T) {
	base := loadFinished(t, "change/base")
	head, err := Load([]string{filepath.Join("testdata", "change", "base")})
	if err != nil {
		t.Fatal(err)
	}
	head.MeshConfigYAML = "outboundTrafficPolicy:\n  mode: ALLOW_ANY_DYNAMIC_DNS"
	if err := head.Finish(); err != nil {
		t.Fatal(err)
	}
	c, err := Gate(base, head, Options{ServerFirst: changeDests, SkipRemediations: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Method, "as a whole") {
		t.Errorf("a meshConfig change must analyse the whole baseline, took %q", c.Method)
	}
	var onVirtualOutbound []string
	for _, e := range c.New {
		if e.Port == 0 {
			onVirtualOutbound = append(onVirtualOutbound, e.Destination)
		}
	}
	if !c.Fails() || !slices.Contains(onVirtualOutbound, "203.0.113.8:10001") {
		t.Errorf("new %v: want virtualOutbound's hazard new for 203.0.113.8:10001", keys(c.New))
	}
}
