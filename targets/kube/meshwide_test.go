package kube

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/targets/kube/istioinstall"
	"github.com/firstbyte/firstbyte/targets/kube/meshconfig"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// fakeClusterTarget is a cluster target wired to the fake cluster, as if
// set-up had connected it; env adds environment variables.
func fakeClusterTarget(t *testing.T, env map[string]string) (*Target, *fakeExec, client.Client) {
	t.Helper()
	all := map[string]string{"FIRSTBYTE_RUN_ID": "fb-test", "FIRSTBYTE_IMAGE": "registry.example/firstbyte-agent:1"}
	for k, v := range env {
		all[k] = v
	}
	return connectedFake(t, config(t, Cluster, all))
}

// Without FIRSTBYTE_DISPOSABLE_MESH=1 the cluster target lists every
// mesh-wide change of the run (collider Services on server-first ports,
// meshConfig edits) and stops before it creates anything; with it, the
// same scenario deploys.
func TestClusterRefusesMeshWideChangesWithoutOptIn(t *testing.T) {
	ctx := context.Background()
	list := []scenarios.Scenario{
		scenario(t, "mysql-3306-http"),
		scenario(t, "mysql-10000-no-collider-registry-only"),
		scenario(t, "mysql-10000-http-protocol-detection-timeout"),
	}
	tg, _, cl := fakeClusterTarget(t, nil)
	err := tg.Admit(list)
	var mw *MeshWideError
	if !errors.As(err, &mw) {
		t.Fatalf("Admit without the opt-in = %v, want a *MeshWideError", err)
	}
	for _, want := range []string{
		DisposableMeshEnv + "=1",
		`port 3306 name "http"`,
		`"mode":"REGISTRY_ONLY"`,
		`"protocolDetectionTimeout":"1s"`,
		"mysql-3306-http",
		"TARGET=local",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, err)
		}
	}
	// The per-scenario guard stops before the first object too.
	if _, err := tg.Topology(ctx, list[0]); !errors.As(err, &mw) {
		t.Errorf("Topology without the opt-in = %v, want the refusal", err)
	}
	for _, obj := range []client.ObjectList{&corev1.ServiceList{}, &appsv1.DeploymentList{}, &corev1.NamespaceList{}} {
		if err := cl.List(ctx, obj, client.HasLabels{"firstbyte.dev/run"}); err != nil {
			t.Fatal(err)
		}
		items, err := meta.ExtractList(obj)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(items); n != 0 {
			t.Errorf("the refused run created %d %T objects", n, obj)
		}
	}
	cm := &corev1.ConfigMap{}
	if err := get(cl, cm, "istio-system", "istio"); err != nil || cm.Data[meshconfig.Key] != installedMesh {
		t.Errorf("the refused run changed the mesh config: %v %q", err, cm.Data[meshconfig.Key])
	}
	if lines := strings.Join(tg.PlanMeshWide(list), "\n"); !strings.Contains(lines, "stops here") || !strings.Contains(lines, DisposableMeshEnv) {
		t.Errorf("the dry run does not show the refusal:\n%s", lines)
	}

	tg, _, cl = fakeClusterTarget(t, map[string]string{DisposableMeshEnv: "1"})
	if err := tg.Admit(list); err != nil {
		t.Fatalf("Admit with %s=1: %v", DisposableMeshEnv, err)
	}
	topo, err := tg.Topology(ctx, list[0])
	if err != nil {
		t.Fatal(err)
	}
	if topo.ServerIP == "" {
		t.Errorf("no server IP with the opt-in")
	}
}

// The kind target's cluster is its own: no opt-in needed.
func TestKindNeedsNoMeshOptIn(t *testing.T) {
	tg, _, _ := fakeTarget(t)
	if err := tg.Admit([]scenarios.Scenario{scenario(t, "mysql-3306-http")}); err != nil {
		t.Errorf("kind Admit = %v", err)
	}
}

// A reused kind cluster whose istiod runs another version than
// ISTIO_VERSION is refused, naming REINSTALL_ISTIO; with REINSTALL_ISTIO=1
// the install goes ahead (here it stops at the missing istioctl binary,
// past the version check); the same version is reused without install.
func TestReusedKindClusterWithOtherIstio(t *testing.T) {
	ctx := context.Background()
	istiod := func(cl client.Client, tag string) {
		t.Helper()
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: istioinstall.Namespace, Name: "istiod", Labels: map[string]string{"app": "istiod"}},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "istiod"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "istiod"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "discovery", Image: "docker.io/istio/pilot:" + tag}}},
				},
			},
		}
		if err := cl.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	tg, _, cl := fakeTarget(t)
	tg.istioctl.Path = filepath.Join(t.TempDir(), "istioctl")
	want := tg.cfg.IstioVersion
	istiod(cl, "1.31.4")
	_, err := tg.stepIstioInstall().Run(ctx, tg.env)
	if err == nil || !strings.Contains(err.Error(), "1.31.4") || !strings.Contains(err.Error(), ReinstallIstioEnv+"=1") || !strings.Contains(err.Error(), "ISTIO_VERSION="+want) {
		t.Fatalf("reused cluster with Istio 1.31.4, ISTIO_VERSION=%s: %v, want the refusal naming %s", want, err, ReinstallIstioEnv)
	}

	tg, _, cl = fakeTarget(t)
	tg.cfg.ReinstallIstio = true
	// No istioctl: the install stops at its check, never reaching a cluster.
	tg.istioctl.Path = filepath.Join(t.TempDir(), "istioctl-"+want)
	istiod(cl, "1.31.4")
	_, err = tg.stepIstioInstall().Run(ctx, tg.env)
	if err == nil || strings.Contains(err.Error(), ReinstallIstioEnv) || !strings.Contains(err.Error(), "hack/istioctl.sh "+want) {
		t.Fatalf("with %s=1 the install must go ahead (and stop at the missing istioctl here): %v", ReinstallIstioEnv, err)
	}
	if out := tg.cfg.Out.(*strings.Builder).String(); !strings.Contains(out, "installing "+want+" over the cluster's 1.31.4") {
		t.Errorf("the reinstall is not announced:\n%s", out)
	}

	tg, _, cl = fakeTarget(t)
	istiod(cl, want)
	if _, err := tg.stepIstioInstall().Run(ctx, tg.env); err != nil {
		t.Fatalf("reused cluster with Istio %s: %v", want, err)
	}
	if tg.detected.Version != want {
		t.Errorf("detected %q", tg.detected.Version)
	}
}
