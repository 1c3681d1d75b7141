package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// TestGateAction runs the action's script (hack/gate-action.sh) in a git
// repository whose pull request changes its mesh folder, base against
// head, as action.yml does: a change that adds a hazard fails (exit 1)
// with the hazard under "New hazards" in the step summary; a change that
// only fixes passes with it under "Fixed".
func TestGateAction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds firstbyte")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "firstbyte")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		head, want string
		code       int
	}{
		{"adds-hazard", "## New hazards", 1},
		{"fixes", "## Fixed", 0},
	} {
		t.Run(tc.head, func(t *testing.T) {
			repo := t.TempDir()
			git := func(args ...string) string {
				t.Helper()
				cmd := exec.Command("git", args...)
				cmd.Dir = repo
				cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("git %v: %v\n%s", args, err, out)
				}
				return strings.TrimSpace(string(out))
			}
			put := func(dir string) {
				t.Helper()
				data, err := os.ReadFile(filepath.Join(root, "analyze", "testdata", "change", dir, "mesh.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Join(repo, "mesh"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(repo, "mesh", "mesh.yaml"), data, 0o644); err != nil {
					t.Fatal(err)
				}
				git("add", "-A")
				git("commit", "-qm", dir)
			}
			git("init", "-q")
			put("base")
			base := git("rev-parse", "HEAD")
			put(tc.head)
			summary := filepath.Join(t.TempDir(), "summary.md")
			cmd := exec.Command(filepath.Join(root, "hack", "gate-action.sh"))
			cmd.Dir = repo
			cmd.Env = append(os.Environ(), "FB_PATH=mesh", "FB_BASE_REF="+base, "FB_FIRSTBYTE="+bin,
				"FB_ARGS=--server-first 203.0.113.7:10000 --server-first 203.0.113.8:10001 --check-remediations=false",
				"GITHUB_STEP_SUMMARY="+summary)
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, out)
			}
			s, err := os.ReadFile(summary)
			if err != nil {
				t.Fatalf("no step summary: %v\n%s", err, out)
			}
			if !strings.Contains(string(s), tc.want) {
				t.Errorf("step summary lacks %q:\n%s", tc.want, s)
			}
		})
	}
}

// TestGateActionLints: the example workflow users copy is clean under
// actionlint, and so is the same workflow calling this repository's
// action.yml locally (actionlint then checks its inputs against the
// action's metadata).
func TestGateActionLints(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join(root, "docs", "examples", "firstbyte-gate.yml"))
	if err != nil {
		t.Fatal(err)
	}
	local := strings.Replace(string(example), "uses: firstbyte/firstbyte@main", "uses: ./", 1)
	if local == string(example) {
		t.Fatal("the example workflow does not call firstbyte/firstbyte@main")
	}
	opts := &actionlint.LinterOptions{WorkingDir: root}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = sc
	}
	// The project makes actionlint read local actions (uses: ./).
	project, err := actionlint.NewProject(root)
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string][]byte{"docs/examples/firstbyte-gate.yml": example, ".github/workflows/local-gate.yml": []byte(local)} {
		var out strings.Builder
		l, err := actionlint.NewLinter(&out, opts)
		if err != nil {
			t.Fatal(err)
		}
		errs, err := l.Lint(filepath.Join(root, name), src, project)
		if err != nil {
			t.Fatal(err)
		}
		if len(errs) > 0 {
			t.Errorf("%s: actionlint found %d problem(s):\n%s", name, len(errs), out.String())
		}
	}
}

// TestLineArgs: each line's binary gets the user's analyze flags without
// --istio-line and -o, and writes JSON.
func TestLineArgs(t *testing.T) {
	got := lineArgs([]string{"-f", "mesh", "--istio-line", "1.30", "--istio-line=1.31", "-o", "markdown", "--server-first", "203.0.113.9:3306", "-ojson"})
	want := []string{"-f", "mesh", "--server-first", "203.0.113.9:3306", "-o", "json"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("lineArgs = %v, want %v", got, want)
	}
}
