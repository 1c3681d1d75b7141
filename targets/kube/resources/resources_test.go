package resources

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func render(t *testing.T, id string) *fixtures.Bundle {
	t.Helper()
	s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
	if !ok {
		t.Fatalf("no scenario %s", id)
	}
	topo := fixtures.DefaultTopology()
	topo.RunID = "fb-test"
	topo.ServerIP = "10.244.0.7"
	b, err := fixtures.Render(s, topo)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newApplier(objs ...client.Object) *Applier {
	c := fake.NewClientBuilder().WithScheme(fixtures.Scheme).WithObjects(objs...).
		WithStatusSubresource(&appsv1.Deployment{}).Build()
	return &Applier{Client: c, RunID: "fb-test", Poll: time.Millisecond}
}

func keys(objs []fixtures.Object) map[string]bool {
	m := map[string]bool{}
	for _, o := range objs {
		m[o.Key()] = true
	}
	return m
}

func exists(t *testing.T, a *Applier, obj client.Object, ns, name string) bool {
	t.Helper()
	err := a.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj)
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// Apply is create-or-update; Prune removes what the next scenario does not
// have, by run label, and leaves other runs' and foreign objects alone.
func TestApplyAndPrune(t *testing.T) {
	ctx := context.Background()
	foreign := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "fb-collider", Name: "someone-elses", Labels: map[string]string{fixtures.LabelRun: "other-run"}}}
	a := newApplier(foreign)

	se := render(t, "mysql-10000-http-serviceentry-tcp")
	if err := a.Apply(ctx, se.Final); err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(ctx, se.Final); err != nil {
		t.Fatalf("applying twice: %v", err)
	}
	if !exists(t, a, &networkingv1.ServiceEntry{}, "fb-client", "external-mysql") || !exists(t, a, &appsv1.Deployment{}, "fb-collider", "collider") {
		t.Fatal("Apply did not create the ServiceEntry and the collider")
	}

	next := render(t, "mysql-10000-no-collider")
	if err := a.Apply(ctx, next.Base); err != nil {
		t.Fatal(err)
	}
	pruned, err := a.Prune(ctx, []string{"fb-client", "fb-server", "fb-collider"}, keys(next.Base))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Deployment/fb-collider/collider", "Service/fb-collider/collider", "ServiceEntry/fb-client/external-mysql"}
	if !slices.Equal(pruned, want) {
		t.Errorf("pruned %v, want %v", pruned, want)
	}
	if exists(t, a, &networkingv1.ServiceEntry{}, "fb-client", "external-mysql") {
		t.Error("the ServiceEntry survived the prune")
	}
	if !exists(t, a, &corev1.Service{}, "fb-collider", "someone-elses") {
		t.Error("prune deleted another run's Service")
	}
	if !exists(t, a, &appsv1.Deployment{}, "fb-client", "client") {
		t.Error("prune deleted an object the scenario keeps")
	}
}

// Updating a Service keeps the ClusterIP the cluster assigned (the API
// rejects unsetting it), and port-separation moves the port.
func TestServiceUpdateKeepsClusterIP(t *testing.T) {
	ctx := context.Background()
	a := newApplier()
	b := render(t, "mysql-10000-http-port-separation")
	if err := a.Apply(ctx, b.Base); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{}
	exists(t, a, svc, "fb-collider", "collider")
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "10.96.5.5", []string{"10.96.5.5"}
	if err := a.Client.Update(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(ctx, b.Remediation()); err != nil {
		t.Fatal(err)
	}
	got := &corev1.Service{}
	exists(t, a, got, "fb-collider", "collider")
	if got.Spec.ClusterIP != "10.96.5.5" || got.Spec.Ports[0].Port != 18080 {
		t.Errorf("after the remediation: clusterIP %q port %d, want 10.96.5.5 and 18080", got.Spec.ClusterIP, got.Spec.Ports[0].Port)
	}
}

// Teardown deletes everything with the run label — objects and namespaces
// — and nothing else; a second call finds nothing.
func TestDeleteRun(t *testing.T) {
	ctx := context.Background()
	other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	a := newApplier(other)
	if err := a.Apply(ctx, render(t, "mysql-10000-http-sidecar-egress").Final); err != nil {
		t.Fatal(err)
	}
	deleted, err := a.DeleteRun(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Namespace//fb-client", "Namespace//fb-server", "Namespace//fb-collider", "Sidecar/fb-client/default", "Deployment/fb-server/server", "Service/fb-collider/collider"} {
		if !slices.Contains(deleted, k) {
			t.Errorf("DeleteRun did not delete %s (deleted %v)", k, deleted)
		}
	}
	for _, gvk := range PrunedKinds {
		if items, _ := a.list(ctx, gvk, ""); len(items) > 0 {
			t.Errorf("%d %s left with the run label", len(items), gvk.Kind)
		}
	}
	if !exists(t, a, &corev1.Namespace{}, "", "default") {
		t.Error("DeleteRun deleted a namespace without the run label")
	}
	if again, err := a.DeleteRun(ctx); err != nil || len(again) != 0 {
		t.Errorf("second DeleteRun = %v, %v; want nothing to do", again, err)
	}
}

func deployment(status appsv1.DeploymentStatus) *appsv1.Deployment {
	one := int32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "fb-client", Name: "client", Generation: 2},
		Spec:       appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "client"}}},
		Status:     status,
	}
}

func pod(name string, waiting string, ready bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "fb-client", Name: name, Labels: map[string]string{"app": "client"}}}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	if ready {
		p.Status.Conditions[0].Status = corev1.ConditionTrue
	}
	if waiting != "" {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "client", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting, Message: "pull access denied"}}}}
	}
	return p
}

func TestWaitRollout(t *testing.T) {
	key := types.NamespacedName{Namespace: "fb-client", Name: "client"}
	done := deployment(appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1})
	a := newApplier(done, pod("client-1", "", true))
	if err := a.WaitRollout(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	if p, err := a.RunningPod(context.Background(), key); err != nil || p.Name != "client-1" {
		t.Errorf("RunningPod = %v, %v", p, err)
	}

	// An old pod is still there: not done yet.
	rolling := deployment(appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 1, AvailableReplicas: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := newApplier(rolling).WaitRollout(ctx, key); err == nil || !strings.Contains(err.Error(), "did not roll out") || !strings.Contains(err.Error(), "2 total of 1") {
		t.Errorf("WaitRollout with an old pod left = %v", err)
	}

	// An image that cannot be pulled fails at once, naming the fix.
	stuck := deployment(appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1})
	start := time.Now()
	err := newApplier(stuck, pod("client-2", "ImagePullBackOff", false)).WaitRollout(context.Background(), key)
	if err == nil || !strings.Contains(err.Error(), "client-2") || !strings.Contains(err.Error(), "FIRSTBYTE_IMAGE") || time.Since(start) > time.Second {
		t.Errorf("WaitRollout with ImagePullBackOff = %v after %s, want a fast error naming the pod and FIRSTBYTE_IMAGE", err, time.Since(start))
	}
}
