package e2e

import (
	"github.com/firstbyte/firstbyte/runner"

	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/targets/kube/pins"
	"github.com/rhysd/actionlint"
	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// The workflows pass actionlint (the version pinned as a Go tool in go.mod;
// hack/actionlint.sh runs the same as `go tool actionlint`). shellcheck
// checks their run: scripts when it is installed.
func TestWorkflowsPassActionlint(t *testing.T) {
	root, err := runner.RepoRoot()
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
	root, _ := runner.RepoRoot()
	p, data := e2eWorkflow(t)
	var wf workflowJobs
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

	// The default is the newest line of the matrix, and every line runs on
	// its own pinned node image (kind node images by digest).
	if last := p.IstioVersions()[len(p.IstioVersions())-1]; p.IstioVersion() != last {
		t.Errorf("ISTIO_VERSION=%s, want the newest matrix line %s", p.IstioVersion(), last)
	}
	for _, v := range p.IstioVersions() {
		m, _ := pins.Minor(v)
		key := "KIND_NODE_IMAGE_ISTIO_" + strings.ReplaceAll(m, ".", "_")
		if img := p.Get(key); !strings.HasPrefix(img, "kindest/node:v") || !strings.Contains(img, "@sha256:") {
			t.Errorf("Istio %s: %s=%q, want a kindest/node image pinned by digest", v, key, img)
		}
	}

	// The pins job runs first: it resolves every pin, and the matrix needs it.
	pinsJob, ok := wf.Jobs["pins"]
	if !ok {
		t.Fatal("e2e.yml has no pins job")
	}
	var runsPins bool
	for _, s := range pinsJob.Steps {
		runsPins = runsPins || strings.Contains(s.Run, "make pins")
	}
	if !runsPins {
		t.Error("the pins job does not run make pins")
	}
	if needs := fmt.Sprint(kind.Needs); !strings.Contains(needs, "pins") {
		t.Errorf("the kind job needs %q, want pins", needs)
	}

	// Ginkgo's timeout ends the suite with time left in the job to build
	// first and to write and upload the reports after.
	script, err := os.ReadFile(filepath.Join(root, "hack", "e2e-kube.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`GINKGO_TIMEOUT_MINUTES:-(\d+)`).FindSubmatch(script)
	if m == nil {
		t.Fatal("hack/e2e-kube.sh sets no default GINKGO_TIMEOUT_MINUTES")
	}
	ginkgoMinutes, _ := strconv.Atoi(string(m[1]))
	if kind.TimeoutMinutes == 0 || kind.TimeoutMinutes-ginkgoMinutes < 45 {
		t.Errorf("the kind job's timeout (%d min) leaves %d min beyond Ginkgo's (%d min): want at least 45 for the build (before) and the reports (after)", kind.TimeoutMinutes, kind.TimeoutMinutes-ginkgoMinutes, ginkgoMinutes)
	}

	// The docs name the same lines.
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range p.IstioVersions() {
		if !strings.Contains(string(readme), v) {
			t.Errorf("README.md does not name the matrix line %s", v)
		}
	}
	for _, old := range regexp.MustCompile(`\b1\.\d+\.\d+\b`).FindAllString(string(readme), -1) {
		m, _ := pins.Minor(old)
		known := false
		for _, v := range p.IstioVersions() {
			if mv, _ := pins.Minor(v); mv == m {
				known = true
			}
		}
		if !known && strings.HasPrefix(old, "1.2") {
			t.Errorf("README.md names Istio %s, which is not a supported line of hack/versions.env", old)
		}
	}
}

// e2e.yml's pull_request path filter names the directory of every package
// the suite builds (go list -deps -test ./e2e/...), so no change to what
// the kind run executes skips it.
func TestE2EWorkflowPathFilterIsComplete(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: go list over the e2e graph")
	}
	root, _ := runner.RepoRoot()
	data, err := os.ReadFile(filepath.Join(root, ".github", "workflows", "e2e.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// YAML 1.2 (yaml/v3): under sigs.k8s.io/yaml's YAML 1.1 the key "on"
	// is the boolean true, the struct below stayed empty and this test
	// returned before checking anything.
	var wf struct {
		On struct {
			PullRequest *struct {
				Paths []string `yaml:"paths"`
			} `yaml:"pull_request"`
		} `yaml:"on"`
	}
	if err := yamlv3.Unmarshal(data, &wf); err != nil {
		t.Fatal(err)
	}
	if wf.On.PullRequest == nil {
		t.Fatal("e2e.yml has no pull_request trigger (or this test no longer reads its \"on\" key)")
	}
	paths := wf.On.PullRequest.Paths
	if len(paths) == 0 {
		return // no filter: every change runs it
	}
	for _, f := range []string{"go.mod", "go.sum", "Makefile", ".github/workflows/e2e.yml"} {
		if !slices.Contains(paths, f) {
			t.Errorf("e2e.yml path filter lacks %s", f)
		}
	}
	cmd := exec.Command("go", "list", "-deps", "-test", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./e2e/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	covered := func(rel string) bool {
		for _, p := range paths {
			if dir, ok := strings.CutSuffix(p, "/**"); ok && (rel == dir || strings.HasPrefix(rel, dir+"/")) {
				return true
			}
		}
		return false
	}
	missing := map[string]bool{}
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
			continue // a module dependency: go.mod and go.sum cover it
		}
		if !covered(filepath.ToSlash(rel)) {
			missing[rel] = true
		}
	}
	for _, f := range []string{"hack/e2e-kube.sh", "hack/versions.env", "hack/istioctl.sh", "hack/pins.sh", "servers/Dockerfile"} {
		if !covered(f) {
			missing[f] = true
		}
	}
	for m := range missing {
		t.Errorf("e2e.yml path filter does not cover %s, which the kind run uses", m)
	}
}

// The ambient profile has a job of its own per Istio line (the kind
// matrix), in its own cluster: PROFILE=ambient, only mode:ambient rows.
func TestE2EWorkflowAmbientJob(t *testing.T) {
	p, data := e2eWorkflow(t)
	var wf workflowJobs
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatal(err)
	}
	job, ok := wf.Jobs["kind-ambient"]
	if !ok {
		t.Fatal("e2e.yml has no kind-ambient job")
	}
	if !slices.Equal(job.Strategy.Matrix.Istio, p.IstioVersions()) {
		t.Errorf("kind-ambient matrix %v differs from ISTIO_VERSIONS %v", job.Strategy.Matrix.Istio, p.IstioVersions())
	}
	if job.Needs != "pins" {
		t.Errorf("kind-ambient needs %v, want pins", job.Needs)
	}
	var profile bool
	for _, s := range job.Steps {
		if strings.Contains(s.Run, "make e2e") {
			profile = s.Env["PROFILE"] == "ambient" && s.Env["LABELS"] == "mode:ambient"
		}
	}
	if !profile {
		t.Error("kind-ambient's make e2e step must set PROFILE=ambient and LABELS=mode:ambient")
	}
	if !strings.Contains(fmt.Sprint(wf.Jobs["table"].Needs), "kind-ambient") {
		t.Errorf("the table job needs %v, want it to wait for kind-ambient too", wf.Jobs["table"].Needs)
	}
}

// e2eWorkflow loads the pins and the e2e workflow's text.
func e2eWorkflow(t *testing.T) (*pins.Pins, []byte) {
	t.Helper()
	root, _ := runner.RepoRoot()
	p, err := pins.Load(filepath.Join(root, pins.File), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, ".github", "workflows", "e2e.yml"))
	if err != nil {
		t.Fatal(err)
	}
	return p, data
}

// workflowJobs is the part of a workflow file the tests read.
type workflowJobs struct {
	Jobs map[string]struct {
		Needs          any `json:"needs"`
		TimeoutMinutes int `json:"timeout-minutes"`
		Strategy       struct {
			Matrix struct {
				Istio []string `json:"istio"`
			} `json:"matrix"`
		} `json:"strategy"`
		Steps []struct {
			Uses string            `json:"uses"`
			Run  string            `json:"run"`
			Env  map[string]string `json:"env"`
		} `json:"steps"`
	} `json:"jobs"`
}
