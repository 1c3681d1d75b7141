package e2e

import (
	"github.com/firstbyte/firstbyte/runner"

	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeDocker puts a docker command on PATH that fails like a client
// without an engine, so these tests behave the same on machines with
// Docker (they must never create a cluster).
func fakeDocker(t *testing.T, script string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir + string(os.PathListSeparator) + os.Getenv("PATH")
}

const noEngine = `echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1`

func runCommand(t *testing.T, limit time.Duration, env []string, name string, args ...string) (string, error, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	root, _ := runner.RepoRoot()
	cmd.Dir = root
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not stop within %s:\n%s", name, args, limit, out.String())
	}
	return out.String(), err, time.Since(start)
}

// inheritedSelection are the variables of the parent run a child command
// must not see.
var inheritedSelection = map[string]bool{
	"DRY_RUN": true, "FIRSTBYTE_TARGET": true, "KUBECONFIG": true,
	"SCENARIOS": true, "LABELS": true, "ARTIFACTS": true, "FIRSTBYTE_BUDGET": true,
}

func environ(overrides ...string) []string {
	drop := map[string]bool{}
	for _, kv := range overrides {
		k, _, _ := strings.Cut(kv, "=")
		drop[k] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		// Never let a child find a real cluster: no kubeconfig, no
		// in-cluster service account address. Nor the parent run's
		// scenario selection: these tests run inside make e2e's own
		// suite, and a child must not load (or fail on) its file.
		if !drop[k] && !inheritedSelection[k] && !strings.HasPrefix(k, "KUBERNETES_SERVICE_") {
			env = append(env, kv)
		}
	}
	return append(env, overrides...)
}

func wantMessage(t *testing.T, out string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(out, p) {
			t.Errorf("output lacks %q:\n%s", p, out)
		}
	}
}

// make e2e (hack/e2e-kube.sh kind) without a Docker engine stops in
// seconds, before compiling anything, with one message naming Docker and
// the alternatives.
func TestMakeE2EKindWithoutDocker(t *testing.T) {
	out, err, took := runCommand(t, 30*time.Second, environ("PATH="+fakeDocker(t, noEngine)), "bash", "hack/e2e-kube.sh", "kind")
	if err == nil {
		t.Fatalf("hack/e2e-kube.sh kind succeeded without Docker:\n%s", out)
	}
	wantMessage(t, out, "Docker", "Cannot connect to the Docker daemon", "TARGET=local", "TARGET=predict", "DRY_RUN=1")
	if took > 10*time.Second {
		t.Errorf("took %s", took)
	}
}

// A Docker client whose engine never answers is cut off by the preflight's
// time limit.
func TestMakeE2EKindWithHangingDocker(t *testing.T) {
	out, err, took := runCommand(t, 30*time.Second, environ("PATH="+fakeDocker(t, "sleep 60"), "DOCKER_PREFLIGHT_TIMEOUT=1"), "bash", "hack/e2e-kube.sh", "kind")
	if err == nil || took > 10*time.Second {
		t.Fatalf("err %v after %s:\n%s", err, took, out)
	}
	wantMessage(t, out, "did not answer within 1s", "TARGET=local")
}

func TestMakeE2EClusterWithoutKubeconfig(t *testing.T) {
	out, err, _ := runCommand(t, 30*time.Second, environ("HOME="+t.TempDir()), "bash", "hack/e2e-kube.sh", "cluster")
	if err == nil {
		t.Fatalf("hack/e2e-kube.sh cluster succeeded without a kubeconfig:\n%s", out)
	}
	wantMessage(t, out, "KUBECONFIG is unset", "~/.kube/config", "TARGET=local", "TARGET=predict")
}

// The suite itself (not only the script) fails fast with the target's
// message when it cannot run: it re-runs this test binary's TestE2E with a
// target named and nothing to run it on.
func TestSuiteFailsFastWithoutDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	out, err, took := runCommand(t, 2*time.Minute, environ("PATH="+fakeDocker(t, noEngine), "FIRSTBYTE_TARGET=kind", "ARTIFACTS="+t.TempDir()),
		os.Args[0], "-test.run=^TestE2E$", "-test.v", "-ginkgo.no-color")
	if err == nil {
		t.Fatalf("the suite passed without Docker:\n%s", out)
	}
	wantMessage(t, out, "the kind target needs a running Docker engine", "TARGET=local", "TARGET=predict", "DRY_RUN=1")
	if took > time.Minute {
		t.Errorf("took %s", took)
	}
}

func TestSuiteFailsFastWithoutKubeconfig(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	out, err, _ := runCommand(t, 2*time.Minute, environ("HOME="+t.TempDir(), "FIRSTBYTE_TARGET=cluster", "FIRSTBYTE_DISPOSABLE_MESH=1", "ARTIFACTS="+t.TempDir()),
		os.Args[0], "-test.run=^TestE2E$", "-test.v", "-ginkgo.no-color")
	if err == nil {
		t.Fatalf("the suite passed without a kubeconfig:\n%s", out)
	}
	wantMessage(t, out, "the cluster target needs a cluster", "KUBECONFIG is unset", "TARGET=kind")
}

// The preflight tests run inside make e2e's own suite: a child command
// must not inherit the run's scenario file or label filter, or it fails
// on (or runs) the parent's selection instead of what it tests.
func TestChildrenDoNotInheritTheRunSelection(t *testing.T) {
	t.Setenv("SCENARIOS", "/nonexistent/bad.yaml")
	t.Setenv("LABELS", "protocol:nothing")
	for _, kv := range environ() {
		if strings.HasPrefix(kv, "SCENARIOS=") || strings.HasPrefix(kv, "LABELS=") {
			t.Errorf("a child command inherits %s", kv)
		}
	}
}

// A bad scenario file stops every target once, before Ginkgo or go test
// start: each problem printed once, exit status 2.
func TestBadScenarioFileFailsOnceOnEveryTarget(t *testing.T) {
	if opts.Target != "" {
		t.Skip("runs in go test ./e2e: inside a suite run (-target set) every parallel process would build the checker again")
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	body := "scenarios:\n  - id: Bad_ID\n    why: x\n    protocol: postgres\n    placement: external\n    port: 10000\n    expect: hangs\n"
	if err := os.WriteFile(bad, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, script := range [][]string{{"hack/e2e-local.sh"}, {"hack/e2e-kube.sh", "kind"}, {"hack/e2e-kube.sh", "cluster"}, {"hack/check-scenarios.sh"}} {
		out, err, _ := runCommand(t, 5*time.Minute, environ("SCENARIOS="+bad, "PATH="+fakeDocker(t, noEngine)), "bash", script...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit status 2:\n%s", script, err, out)
		}
		if n := strings.Count(out, "postgres"); n != 1 {
			t.Errorf("%v: the protocol error is printed %d times, want once:\n%s", script, n, out)
		}
		wantMessage(t, out, bad+`:4: protocol: unknown protocol "postgres"`, bad+`:2: id: "Bad_ID"`)
	}
}

// Without FIRSTBYTE_DISPOSABLE_MESH=1 the cluster run lists its mesh-wide
// changes and stops before set-up: it never even looks for a cluster.
func TestSuiteRefusesMeshWideChangesWithoutOptIn(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	out, err, _ := runCommand(t, 2*time.Minute, environ("HOME="+t.TempDir(), "FIRSTBYTE_TARGET=cluster", "FIRSTBYTE_DISPOSABLE_MESH=", "ARTIFACTS="+t.TempDir()),
		os.Args[0], "-test.run=^TestE2E$", "-test.v", "-ginkgo.no-color")
	if err == nil {
		t.Fatalf("the cluster run passed without FIRSTBYTE_DISPOSABLE_MESH:\n%s", out)
	}
	wantMessage(t, out, "mesh-wide change(s)", "FIRSTBYTE_DISPOSABLE_MESH is not 1", `port 3306 name "http"`, "REGISTRY_ONLY")
	if strings.Contains(out, "KUBECONFIG is unset") {
		t.Errorf("the refused run went on to set-up:\n%s", out)
	}
}
