package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/target/kube/pins"
	"github.com/rhysd/actionlint"
	"sigs.k8s.io/yaml"
)

// The workflows pass actionlint (the version pinned as a Go tool in go.mod;
// hack/actionlint.sh runs the same as `go tool actionlint`). shellcheck
// checks their run: scripts when it is installed.
func TestWorkflowsPassActionlint(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	if len(files) < 2 {
		t.Fatalf("want ci.yml and e2e.yml, found %v", files)
	}
	opts := &actionlint.LinterOptions{WorkingDir: root}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = sc
	} else {
		t.Log("shellcheck is not installed: run: scripts are not shellchecked")
	}
	var out strings.Builder
	l, err := actionlint.NewLinter(&out, opts)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.LintFiles(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Errorf("actionlint found %d problem(s):\n%s", len(errs), out.String())
	}
}

// The e2e workflow's Istio matrix is the pinned list, covers at least three
// minors, and uploads the reports.
func TestE2EWorkflowMatrixMatchesPins(t *testing.T) {
	root, _ := RepoRoot()
	p, err := pins.Load(filepath.Join(root, pins.File), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, ".github", "workflows", "e2e.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Jobs map[string]struct {
			Strategy struct {
				Matrix struct {
					Istio []string `json:"istio"`
				} `json:"matrix"`
			} `json:"strategy"`
			Steps []struct {
				Uses string `json:"uses"`
				Run  string `json:"run"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatal(err)
	}
	kind := wf.Jobs["kind"]
	if !slices.Equal(kind.Strategy.Matrix.Istio, p.IstioVersions()) {
		t.Errorf("e2e.yml matrix %v differs from ISTIO_VERSIONS %v in hack/versions.env: keep them in step", kind.Strategy.Matrix.Istio, p.IstioVersions())
	}
	minors := map[string]bool{}
	for _, v := range kind.Strategy.Matrix.Istio {
		m, _ := pins.Minor(v)
		minors[m] = true
	}
	if len(minors) < 3 {
		t.Errorf("the matrix covers %d Istio minors, want at least 3", len(minors))
	}
	var runsE2E, uploads bool
	for _, s := range kind.Steps {
		runsE2E = runsE2E || strings.Contains(s.Run, "make e2e")
		uploads = uploads || strings.HasPrefix(s.Uses, "actions/upload-artifact@")
	}
	if !runsE2E || !uploads {
		t.Errorf("the kind job must run make e2e (%v) and upload the reports (%v)", runsE2E, uploads)
	}
}
