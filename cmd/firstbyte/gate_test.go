package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// firstbyte gate on two report.json files (no line to build): exit 1 and
// the regression listed when a row stops connecting, exit 0 the other way
// round; gate.md and gate.json land under --artifacts/gate.
func TestGateOnReports(t *testing.T) {
	art := t.TempDir()
	t.Setenv("GITHUB_STEP_SUMMARY", filepath.Join(art, "summary.md"))
	r130, r131 := "../../gate/testdata/release-1.30.json", "../../gate/testdata/release-1.31.json"
	var out, errs bytes.Buffer
	if code := run([]string{"gate", "--from", r130, "--to", r131, "--artifacts", art}, &out, &errs); code != 1 {
		t.Errorf("1.30 → 1.31: exit %d, want 1\n%s%s", code, out.String(), errs.String())
	}
	if !strings.Contains(out.String(), "| **mysql-3306-se-dynamic-dns** (regression) | connects | fails reset after 15s |") {
		t.Errorf("the regression is not listed:\n%s", out.String())
	}
	for _, f := range []string{"gate/gate.md", "gate/gate.json", "summary.md"} {
		if data, err := os.ReadFile(filepath.Join(art, f)); err != nil || !bytes.Contains(data, []byte("mysql-3306-se-dynamic-dns")) {
			t.Errorf("%s: %v, or it lacks the changed row", f, err)
		}
	}
	out.Reset()
	if code := run([]string{"gate", "--from", r131, "--to", r130, "--artifacts", art, "-o", "json"}, &out, &errs); code != 0 {
		t.Errorf("1.31 → 1.30: exit %d, want 0\n%s%s", code, out.String(), errs.String())
	}
	var res struct{ Changes []struct{ ID string } }
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res.Changes) != 3 {
		t.Errorf("-o json: %v, %d changes, want 3:\n%s", err, len(res.Changes), out.String())
	}
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"gate", "--from", r130}, "want --from and --to"},
		{[]string{"gate", "--from", r130, "--to", r131, "-o", "yaml"}, "want markdown or json"},
		{[]string{"gate", "--from", "missing.json", "--to", r131}, "missing.json"},
	} {
		errs.Reset()
		if code := run(c.args, &out, &errs); code != 2 || !strings.Contains(errs.String(), c.says) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, errs.String(), c.says)
		}
	}
}
