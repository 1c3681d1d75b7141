package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestExitCodes: 0 clean, 1 a hazard meets a server-first destination,
// 2 bad input (invalid object, unknown host, bad flag).
func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int
		says string
	}{
		{[]string{"analyze", "-f", "../../analyze/testdata/clean", "--server-first", "203.0.113.7:10000"}, 0, "no hazard"},
		{[]string{"analyze", "-f", "../../analyze/testdata/seed/mesh.yaml", "--server-first", "203.0.113.7:10000", "-o", "json"}, 1, `"listener": "0.0.0.0_10000"`},
		{[]string{"analyze", "-f", "../../analyze/testdata/bad/mesh.yaml"}, 2, "mesh.yaml:14: spec.ports[0].prot"},
		{[]string{"analyze", "-f", "../../analyze/testdata/seed", "--server-first", "nowhere.example:3306"}, 2, "not an IP address"},
		{[]string{"analyze", "-f", "../../analyze/testdata/seed", "-o", "yaml"}, 2, "want table, markdown or json"},
	} {
		var out, errs bytes.Buffer
		if got := run(c.args, &out, &errs); got != c.want {
			t.Errorf("%v: exit %d, want %d\n%s%s", c.args, got, c.want, out.String(), errs.String())
		}
		if !strings.Contains(out.String()+errs.String(), c.says) {
			t.Errorf("%v: output does not say %q:\n%s%s", c.args, c.says, out.String(), errs.String())
		}
	}
}

// TestPredictAndExplain: firstbyte predict and explain on a scenario file,
// run from a folder outside the checkout; exit 0 when every row is as
// expected, 1 when one differs, 2 for bad input.
func TestPredictAndExplain(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	row := "scenarios:\n  - id: %s\n    why: the seed's collision\n    protocol: mysql\n    placement: external\n    port: 10000\n    collider: http\n    expect: %s\n"
	hangs := write("hangs.yaml", fmt.Sprintf(row, "t-mysql-10000-http", "hangs"))
	wrong := write("wrong.yaml", fmt.Sprintf(row, "t-mysql-10000-http-wrong", "connects"))
	bad := write("bad.yaml", "scenarios:\n  - id: t-bad\n    protocol: mysql\n")
	art := filepath.Join(dir, "artifacts")
	for _, c := range []struct {
		name string
		args []string
		want int
		says string
	}{
		{"predict as expected", []string{"predict", "--artifacts", art, hangs}, 0, "| t-mysql-10000-http | hangs | hung |"},
		{"predict differs", []string{"predict", "--artifacts", art, wrong}, 1, "mismatches: 1"},
		{"predict bad file", []string{"predict", bad}, 2, "bad.yaml:"},
		{"predict two files", []string{"predict", hangs, wrong}, 2, "at most one scenario file"},
		{"explain", []string{"explain", "t-mysql-10000-http", "-f", hangs}, 0, "http_inspector"},
		{"explain differs", []string{"explain", "t-mysql-10000-http-wrong", "-f", wrong}, 1, "differs from the expectation"},
		{"explain unknown id", []string{"explain", "nope"}, 2, `no scenario "nope"`},
		{"unknown subcommand", []string{"predcit"}, 2, "want one of analyze, explain, gate, predict"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			got := run(c.args, &out, &errs)
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("exit code (-want +got):\n%s\n%s%s", diff, out.String(), errs.String())
			}
			if !strings.Contains(out.String()+errs.String(), c.says) {
				t.Errorf("output does not say %q:\n%s%s", c.says, out.String(), errs.String())
			}
		})
	}
	if _, err := os.Stat(filepath.Join(art, "predict", "evidence", "t-mysql-10000-http-wrong", "explain.txt")); err != nil {
		t.Errorf("the differing row left no evidence: %v", err)
	}
}
