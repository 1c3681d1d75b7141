package main

import (
	"bytes"
	"strings"
	"testing"
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
