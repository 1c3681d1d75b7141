package scenarios

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/loader.golden.json from the loader's current output")

// loaded is what the loader makes of one input: the scenarios, or the
// error text.
type loaded struct {
	Scenarios []Scenario `json:"scenarios,omitempty"`
	Error     string     `json:"error,omitempty"`
}

func load(name string, data []byte) loaded {
	list, err := Parse(name, data)
	if err != nil {
		return loaded{Error: err.Error()}
	}
	return loaded{Scenarios: list}
}

// goldenInputs are the files whose loading must not change: every
// catalogue family file, every example and every fuzz corpus entry.
func goldenInputs(t *testing.T) map[string][]byte {
	t.Helper()
	in := map[string][]byte{}
	names, err := catalogueFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		data, err := catalogueFS.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		in[path.Join("scenarios", n)] = data
	}
	examples, _ := filepath.Glob("examples/*.yaml")
	corpus, _ := filepath.Glob("testdata/fuzz/FuzzLoad/*")
	for _, f := range append(examples, corpus...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(f, "testdata/") {
			data = corpusEntry(t, f, data)
		}
		in[f] = data
	}
	if len(names) < 4 || len(examples) < 3 || len(corpus) < 10 {
		t.Fatalf("found %d catalogue files, %d examples, %d corpus entries", len(names), len(examples), len(corpus))
	}
	return in
}

// corpusEntry reads a "go test fuzz v1" file of one []byte value.
func corpusEntry(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	header, body, _ := bytes.Cut(data, []byte("\n"))
	lit, ok := strings.CutPrefix(strings.TrimSpace(string(body)), "[]byte(")
	lit, ok2 := strings.CutSuffix(lit, ")")
	if string(header) != "go test fuzz v1" || !ok || !ok2 {
		t.Fatalf("%s: not a go test fuzz v1 []byte entry", name)
	}
	s, err := strconv.Unquote(lit)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return []byte(s)
}

// TestLoaderGolden pins what the loader makes of the catalogue, the
// examples and the fuzz corpus: the scenarios, field for field, or the
// error text. go test ./scenarios -run TestLoaderGolden -update-golden
// rewrites it after an intended change.
func TestLoaderGolden(t *testing.T) {
	const file = "testdata/loader.golden.json"
	got := map[string]loaded{}
	for name, data := range goldenInputs(t) {
		got[name] = load(name, data)
	}
	if *updateGolden {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]loaded
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for name := range got {
		t.Run(name, func(t *testing.T) {
			if d := cmp.Diff(want[name], got[name]); d != "" {
				t.Errorf("loading %s changed (-golden +now):\n%s", name, d)
			}
		})
	}
	if len(want) != len(got) {
		t.Errorf("golden has %d inputs, now %d: rerun with -update-golden", len(want), len(got))
	}
}
