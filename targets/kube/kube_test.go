package kube

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/targets"
	"github.com/firstbyte/firstbyte/targets/kube/kindcluster"
	"github.com/firstbyte/firstbyte/targets/kube/meshconfig"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

var _ targets.Target = (*Target)(nil)

var repoRoot = filepath.Join("..", "..")

func config(t *testing.T, name string, env map[string]string) Config {
	t.Helper()
	c, err := ConfigFromEnv(name, repoRoot, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	c.Out = &strings.Builder{}
	return c
}

// Without a Docker engine the kind target stops in its first step with one
// message naming Docker and the alternatives, and tears down nothing.
func TestKindWithoutDocker(t *testing.T) {
	c := config(t, Kind, nil)
	c.DockerProbe = func(context.Context) error { return errors.New("Cannot connect to the Docker daemon") }
	tg, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = tg.Setup(context.Background())
	var nd *kindcluster.NoDockerError
	if !errors.As(err, &nd) || !strings.Contains(err.Error(), "TARGET=local") || !strings.Contains(err.Error(), "DRY_RUN=1") {
		t.Fatalf("Setup without Docker = %v, want the no-Docker error", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("Setup took %s to notice", time.Since(start))
	}
	if err := tg.Teardown(context.Background()); err != nil {
		t.Errorf("Teardown after a failed set-up: %v", err)
	}
}

// Without a kubeconfig, or with one whose cluster does not answer, the
// cluster target says so and names the fix.
func TestClusterWithoutKubeconfig(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")
	tg, err := New(config(t, Cluster, nil))
	if err != nil {
		t.Fatal(err)
	}
	err = tg.Setup(context.Background())
	if err == nil || !strings.Contains(err.Error(), "KUBECONFIG is unset") || !strings.Contains(err.Error(), "TARGET=kind") {
		t.Errorf("Setup without a kubeconfig = %v", err)
	}

	t.Setenv("KUBECONFIG", filepath.Join(home, "missing"))
	tg, _ = New(config(t, Cluster, nil))
	if err := tg.Setup(context.Background()); err == nil || !strings.Contains(err.Error(), "KUBECONFIG=") {
		t.Errorf("Setup with KUBECONFIG naming a missing file = %v", err)
	}

	kc := filepath.Join(home, "kubeconfig")
	os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: gone, context: {cluster: gone, user: u}}]
current-context: gone
`), 0o600)
	t.Setenv("KUBECONFIG", kc)
	tg, _ = New(config(t, Cluster, nil))
	start := time.Now()
	err = tg.Setup(context.Background())
	if err == nil || !strings.Contains(err.Error(), `context "gone"`) || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("Setup with an unreachable cluster = %v", err)
	}
	if time.Since(start) > 15*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
}

func TestClusterNeedsAPushedImage(t *testing.T) {
	tg, _ := New(config(t, Cluster, nil))
	_, err := tg.stepImageCheck().Run(context.Background(), tg.env)
	if err == nil || !strings.Contains(err.Error(), "FIRSTBYTE_IMAGE") {
		t.Errorf("image check without FIRSTBYTE_IMAGE = %v", err)
	}
	tg, _ = New(config(t, Cluster, map[string]string{"FIRSTBYTE_IMAGE": "registry.example/firstbyte-agent:1"}))
	if _, err := tg.stepImageCheck().Run(context.Background(), tg.env); err != nil {
		t.Errorf("image check with FIRSTBYTE_IMAGE = %v", err)
	}
	if got := tg.cfg.topology().ClientNamespace; !strings.HasPrefix(got, "fb-client-") {
		t.Errorf("cluster namespaces are not per run: %s", got)
	}
}

// fakeTarget is a kind target wired to the fake cluster, past set-up.
func fakeTarget(t *testing.T) (*Target, *fakeExec, client.Client) {
	t.Helper()
	c := config(t, Kind, map[string]string{"FIRSTBYTE_RUN_ID": "fb-test"})
	c.Expect = cannedExpect
	tg, ex, cl := connectedFake(t, c)
	tg.kind.Reused = true // a reused cluster: tear-down cleans inside it
	return tg, ex, cl
}

func scenario(t *testing.T, id string) scenarios.Scenario {
	t.Helper()
	s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
	if !ok {
		t.Fatalf("no scenario %s", id)
	}
	return s
}

func renderFor(t *testing.T, tg *Target, id string) *fixtures.Bundle {
	t.Helper()
	topo, err := tg.Topology(context.Background(), scenario(t, id))
	if err != nil {
		t.Fatal(err)
	}
	if topo.ServerIP != "198.51.100.7" {
		t.Fatalf("Topology ServerIP = %q, want the server pod's IP", topo.ServerIP)
	}
	b, err := fixtures.Render(scenario(t, id), topo)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func get(cl client.Client, obj client.Object, ns, name string) error {
	return cl.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj)
}

// The whole scenario life on the fake cluster: deploy, remediate (waits
// for the sidecar to show the ServiceEntry's listener), probe, control,
// collider, revert, evidence, teardown by run label.
func TestScenarioLifecycle(t *testing.T) {
	ctx := context.Background()
	tg, ex, cl := fakeTarget(t)
	b := renderFor(t, tg, "mysql-10000-http-serviceentry-tcp")

	if err := tg.Deploy(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := get(cl, &appsv1.Deployment{}, "fb-server", "control"); err != nil {
		t.Errorf("no control pod: %v", err)
	}
	if err := tg.Remediate(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := get(cl, &networkingv1.ServiceEntry{}, "fb-client", "external-mysql"); err != nil {
		t.Errorf("the remediation's ServiceEntry is missing: %v", err)
	}
	obs, err := tg.Probe(ctx, b, time.Second)
	if err != nil || obs.Outcome != scenarios.Connected || obs.Timings.FirstByte != 3*time.Millisecond {
		t.Errorf("Probe = %+v, %v", obs, err)
	}
	if !ex.ran("fb-client/client-") || !ex.ran("[client]: /firstbyte-agent probe mysql --addr 198.51.100.7:10000 --budget 1s") {
		t.Errorf("the probe did not run in the client pod: %v", ex.commands)
	}
	if _, err := tg.Control(ctx, b, time.Second); err != nil || !ex.ran("fb-server/control-") {
		t.Errorf("Control = %v; commands %v", err, ex.commands)
	}
	if err := tg.ColliderHTTP(ctx, b); err != nil || !ex.ran("get --url http://collider.fb-collider.svc.cluster.local:10000/") {
		t.Errorf("ColliderHTTP = %v", err)
	}
	if err := tg.Revert(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := get(cl, &networkingv1.ServiceEntry{}, "fb-client", "external-mysql"); !apierrors.IsNotFound(err) {
		t.Errorf("Revert left the ServiceEntry: %v", err)
	}

	dir := t.TempDir()
	if err := tg.Evidence(ctx, b, dir); err != nil {
		t.Errorf("Evidence: %v", err)
	}
	for _, f := range []string{"manifests.yaml", "config_dump.json", "sidecar-check.txt", "stats.txt", "pods.yaml", "topology.json", "logs/fb-client_client-"} {
		matches, _ := filepath.Glob(filepath.Join(dir, f+"*"))
		if len(matches) == 0 {
			t.Errorf("evidence lacks %s", f)
		}
	}
	if check, _ := os.ReadFile(filepath.Join(dir, "sidecar-check.txt")); !strings.Contains(string(check), "base state: 0 of") {
		t.Errorf("sidecar-check.txt:\n%s", check)
	}

	if err := tg.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"fb-client", "fb-server", "fb-collider"} {
		if err := get(cl, &corev1.Namespace{}, "", ns); !apierrors.IsNotFound(err) {
			t.Errorf("namespace %s survived teardown: %v", ns, err)
		}
	}
	for _, key := range [][2]string{{"fb-server", "control"}, {"fb-client", "client"}, {"fb-collider", "collider"}} {
		if err := get(cl, &appsv1.Deployment{}, key[0], key[1]); !apierrors.IsNotFound(err) {
			t.Errorf("Deployment %s/%s survived teardown: %v", key[0], key[1], err)
		}
	}
	if err := tg.Teardown(ctx); err != nil {
		t.Errorf("second Teardown: %v", err)
	}
}

// The detection-timeout remediation is a meshConfig change: merged into
// the istio ConfigMap, visible in the sidecar's listener, reverted, and
// the original text restored at teardown.
func TestMeshConfigRemediation(t *testing.T) {
	ctx := context.Background()
	tg, _, cl := fakeTarget(t)
	b := renderFor(t, tg, "mysql-10000-http-protocol-detection-timeout")
	mesh := func() string {
		cm := &corev1.ConfigMap{}
		if err := get(cl, cm, "istio-system", "istio"); err != nil {
			t.Fatal(err)
		}
		return cm.Data[meshconfig.Key]
	}
	if err := tg.Deploy(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := tg.Remediate(ctx, b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mesh(), "protocolDetectionTimeout: 1s") || !strings.Contains(mesh(), "accessLogFile: /dev/stdout") {
		t.Errorf("mesh after Remediate:\n%s", mesh())
	}
	if err := tg.Revert(ctx, b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(mesh(), "protocolDetectionTimeout") {
		t.Errorf("mesh after Revert:\n%s", mesh())
	}
	if err := tg.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	if mesh() != installedMesh {
		t.Errorf("mesh after Teardown:\n%s\nwant the installed text:\n%s", mesh(), installedMesh)
	}
}

// A sidecar that never shows the remediation makes Remediate fail within
// the sync timeout, naming what is missing: no blind sleep, no silent pass.
func TestRemediateWaitsForTheSidecar(t *testing.T) {
	ctx := context.Background()
	tg, ex, _ := fakeTarget(t)
	tg.cfg.SyncTimeout = 300 * time.Millisecond
	b := renderFor(t, tg, "mysql-10000-http-serviceentry-tcp")
	if err := tg.Deploy(ctx, b); err != nil {
		t.Fatal(err)
	}
	ex.stale = true
	start := time.Now()
	err := tg.Remediate(ctx, b)
	if err == nil || !strings.Contains(err.Error(), "listener 198.51.100.7_10000 present") {
		t.Errorf("Remediate with a stale sidecar = %v, want the missing listener named", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Remediate took %s with a 300ms sync timeout", took)
	}
}

// A scenario that follows another prunes what the first one left.
func TestDeployPrunesThePreviousScenario(t *testing.T) {
	ctx := context.Background()
	tg, _, cl := fakeTarget(t)
	first := renderFor(t, tg, "mysql-10000-http-serviceentry-tcp")
	if err := tg.Deploy(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := tg.Remediate(ctx, first); err != nil {
		t.Fatal(err)
	}
	// No revert: an interrupted scenario. The next Deploy still starts clean.
	next := renderFor(t, tg, "mysql-10000-http")
	if err := tg.Deploy(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := get(cl, &networkingv1.ServiceEntry{}, "fb-client", "external-mysql"); !apierrors.IsNotFound(err) {
		t.Errorf("the previous scenario's ServiceEntry survived Deploy: %v", err)
	}
}

// SMTP delivery is confirmed in the server's mailbox from the control pod;
// an unconfirmed delivery is a protocol error, not a connect.
func TestSMTPDeliveryConfirmation(t *testing.T) {
	ctx := context.Background()
	tg, ex, _ := fakeTarget(t)
	b := renderFor(t, tg, "smtp-10000-http")
	if err := tg.Deploy(ctx, b); err != nil {
		t.Fatal(err)
	}
	obs, err := tg.Probe(ctx, b, time.Second)
	if err != nil || obs.Outcome != scenarios.Connected || !ex.ran("--message-id <fb-test-smtp-10000-http-probe-") || !ex.ran("[server]: /firstbyte-agent get --url http://127.0.0.1:15999/messages?message-id=") {
		t.Errorf("Probe = %+v, %v; commands %v", obs, err, ex.commands)
	}
	ex.mailbox = false
	obs, err = tg.Probe(ctx, b, time.Second)
	if err != nil || obs.Outcome != scenarios.ProtocolError || !strings.Contains(obs.Detail, "delivery not confirmed") {
		t.Errorf("Probe without the message in the mailbox = %+v, %v", obs, err)
	}
}

func TestParseObservationRejectsGarbage(t *testing.T) {
	for _, out := range []string{"", "panic: boom", `{"outcome":"maybe"}`} {
		if _, err := parseObservation([]byte(out)); err == nil {
			t.Errorf("parseObservation(%q) succeeded", out)
		}
	}
}

// Inbound: the server has its own sidecar, whose config the target waits
// for too; the control probe runs inside the server pod over loopback.
func TestInboundScenario(t *testing.T) {
	ctx := context.Background()
	tg, ex, _ := fakeTarget(t)
	id := "mysql-inbound-tcp-pa-strict-authz-deny"
	ex.clientDump, ex.serverDump = id+".client", id+".server"
	b := renderFor(t, tg, id)
	if err := tg.Deploy(ctx, b); err != nil {
		t.Fatal(err)
	}
	if !ex.ran("fb-server/server-") || !ex.ran("[istio-proxy]: pilot-agent request GET config_dump") {
		t.Errorf("the server's sidecar was not read: %v", ex.commands)
	}
	if _, err := tg.Control(ctx, b, time.Second); err != nil || !ex.ran("[server]: /firstbyte-agent probe mysql --addr 127.0.0.1:10000") {
		t.Errorf("Control = %v; commands %v", err, ex.commands)
	}

	// The server sidecar still shows the ALLOW policy: Deploy waits, then
	// names what is missing.
	tg2, ex2, _ := fakeTarget(t)
	tg2.cfg.SyncTimeout = 300 * time.Millisecond
	ex2.clientDump, ex2.serverDump = id+".client", "mysql-inbound-tcp-pa-strict-authz-allow.server"
	err := tg2.Deploy(ctx, renderFor(t, tg2, id))
	if err == nil || !strings.Contains(err.Error(), "server sidecar") || !strings.Contains(err.Error(), "rbac [DENY]") {
		t.Errorf("Deploy with a stale server sidecar = %v", err)
	}
}

// A client without a sidecar has nothing to wait for on its side.
func TestClientWithoutSidecar(t *testing.T) {
	ctx := context.Background()
	tg, ex, _ := fakeTarget(t)
	id := "mysql-inbound-tcp-pa-strict-no-client-sidecar"
	ex.serverDump = "mysql-inbound-tcp-pa-strict-dr-disable.server"
	b := renderFor(t, tg, id)
	if err := tg.Deploy(ctx, b); err != nil {
		t.Fatal(err)
	}
	if ex.ran("fb-client/client-") {
		t.Errorf("read a sidecar the client does not have: %v", ex.commands)
	}
}

// The control Deployment, which the target adds next to the rendered
// fixtures, decodes strictly like them and carries the run label.
func TestControlObjectDecodesStrictly(t *testing.T) {
	topo := fixtures.DefaultTopology()
	topo.RunID = "fb-test"
	y, err := yaml.Marshal(controlObject(topo))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := fixtures.DecodeStrict(y)
	if err != nil {
		t.Fatal(err)
	}
	d := obj.(*appsv1.Deployment)
	if d.Labels[fixtures.LabelRun] != "fb-test" || d.Spec.Template.Labels["sidecar.istio.io/inject"] != "false" {
		t.Errorf("control Deployment labels %v, pod labels %v", d.Labels, d.Spec.Template.Labels)
	}
}

// connectedFake builds a target from c, with short waits, and connects it
// to a fake cluster as if set-up had run.
func connectedFake(t *testing.T, c Config) (*Target, *fakeExec, client.Client) {
	t.Helper()
	c.SyncTimeout, c.RolloutTimeout = 2*time.Second, 2*time.Second
	tg, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	cl := newFakeCluster(t)
	ex := &fakeExec{t: t, client: cl, observation: observationJSON("connected", "3ms"), mailbox: true}
	tg.connect(cl, ex)
	tg.setupRan = true
	return tg, ex, cl
}
