// Package resources applies a scenario's rendered objects to a cluster and
// removes them by the run label: create-or-update in render order, prune of
// run-labelled objects a scenario no longer has, rollout waits that fail
// fast on image and crash errors, and the tear-down of everything labelled
// with the run.
package resources

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Applier applies and removes one run's objects.
type Applier struct {
	Client client.Client
	// RunID is the value of the fixtures.LabelRun label the run's objects
	// carry.
	RunID string
	// Poll is the interval of rollout and deletion waits (default 500ms).
	Poll time.Duration
	// Progress, when set, receives a line on long waits.
	Progress func(string)
}

// PrunedKinds are the namespaced kinds a scenario may render, in delete
// order: what Prune and DeleteRun look for.
var PrunedKinds = []schema.GroupVersionKind{
	networkingv1.SchemeGroupVersion.WithKind("Sidecar"),
	networkingv1.SchemeGroupVersion.WithKind("ServiceEntry"),
	networkingv1.SchemeGroupVersion.WithKind("DestinationRule"),
	securityv1.SchemeGroupVersion.WithKind("PeerAuthentication"),
	securityv1.SchemeGroupVersion.WithKind("AuthorizationPolicy"),
	appsv1.SchemeGroupVersion.WithKind("Deployment"),
	corev1.SchemeGroupVersion.WithKind("Service"),
	corev1.SchemeGroupVersion.WithKind("ConfigMap"),
	// Waypoints (ambient profile); a cluster without the Gateway API
	// CRDs lists none.
	gatewayv1.SchemeGroupVersion.WithKind("Gateway"),
}

func (a *Applier) poll() time.Duration {
	if a.Poll > 0 {
		return a.Poll
	}
	return 500 * time.Millisecond
}

func (a *Applier) progress(format string, args ...any) {
	if a.Progress != nil {
		a.Progress(fmt.Sprintf(format, args...))
	}
}

// Key identifies an object as fixtures.Object.Key does.
func Key(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

// Apply creates or updates each object, in order. The bundle's decoded
// objects are copied, never changed.
func (a *Applier) Apply(ctx context.Context, objs []fixtures.Object) error {
	for _, o := range objs {
		obj, ok := o.Decoded.DeepCopyObject().(client.Object)
		if !ok {
			return fmt.Errorf("applying %s: %T is not a Kubernetes object", o.Key(), o.Decoded)
		}
		if err := a.ApplyObject(ctx, obj); err != nil {
			return fmt.Errorf("applying %s (template %s): %w", o.Key(), o.Template, err)
		}
	}
	return nil
}

// ApplyObject creates obj or replaces the existing object's content with
// it, keeping what the cluster owns (resourceVersion, a Service's assigned
// ClusterIPs).
func (a *Applier) ApplyObject(ctx context.Context, obj client.Object) error {
	gvk, err := apiutil.GVKForObject(obj, a.Client.Scheme())
	if err != nil {
		return err
	}
	existing := &unstructured.Unstructured{}
	existing.SetGroupVersionKind(gvk)
	err = a.Client.Get(ctx, client.ObjectKeyFromObject(obj), existing)
	switch {
	case apierrors.IsNotFound(err):
		if err := a.Client.Create(ctx, obj); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		return nil
	case meta.IsNoMatchError(err):
		return fmt.Errorf("the cluster does not know %s: is Istio installed (its CRDs)? %w", gvk.Kind, err)
	case err != nil:
		return fmt.Errorf("get: %w", err)
	}
	obj.SetResourceVersion(existing.GetResourceVersion())
	if svc, ok := obj.(*corev1.Service); ok && svc.Spec.ClusterIP == "" {
		ip, _, _ := unstructured.NestedString(existing.Object, "spec", "clusterIP")
		ips, _, _ := unstructured.NestedStringSlice(existing.Object, "spec", "clusterIPs")
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip, ips
	}
	if err := a.Client.Update(ctx, obj); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	return nil
}

// Delete deletes the objects, ignoring ones already gone.
func (a *Applier) Delete(ctx context.Context, objs []fixtures.Object) error {
	var errs []error
	for i := len(objs) - 1; i >= 0; i-- {
		o := objs[i]
		obj, ok := o.Decoded.DeepCopyObject().(client.Object)
		if !ok {
			continue
		}
		if err := a.Client.Delete(ctx, obj, client.PropagationPolicy("Background")); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting %s: %w", o.Key(), err))
		}
	}
	return errors.Join(errs...)
}

func (a *Applier) runSelector() client.MatchingLabels {
	return client.MatchingLabels{fixtures.LabelRun: a.RunID}
}

// list returns the run-labelled objects of a kind, in all namespaces when
// namespace is empty. A kind the cluster does not serve has none.
func (a *Applier) list(ctx context.Context, gvk schema.GroupVersionKind, namespace string) ([]unstructured.Unstructured, error) {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	opts := []client.ListOption{a.runSelector()}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := a.Client.List(ctx, l, opts...); err != nil {
		if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing %s with %s=%s: %w", gvk.Kind, fixtures.LabelRun, a.RunID, err)
	}
	return l.Items, nil
}

// Prune deletes the run's objects in the namespaces whose key is not in
// keep, and returns the keys it deleted.
func (a *Applier) Prune(ctx context.Context, namespaces []string, keep map[string]bool) ([]string, error) {
	var pruned []string
	for _, gvk := range PrunedKinds {
		for _, ns := range namespaces {
			items, err := a.list(ctx, gvk, ns)
			if err != nil {
				return pruned, err
			}
			for i := range items {
				u := &items[i]
				k := Key(gvk.Kind, u.GetNamespace(), u.GetName())
				if keep[k] {
					continue
				}
				if err := a.Client.Delete(ctx, u, client.PropagationPolicy("Background")); client.IgnoreNotFound(err) != nil {
					return pruned, fmt.Errorf("pruning %s: %w", k, err)
				}
				pruned = append(pruned, k)
			}
		}
	}
	sort.Strings(pruned)
	return pruned, nil
}

// DeleteRun deletes everything labelled with the run: the namespaced
// objects of PrunedKinds in any namespace, then the run's namespaces, and
// waits until the namespaces are gone or ctx ends. It returns the keys of
// what it deleted; calling it again deletes nothing.
func (a *Applier) DeleteRun(ctx context.Context) ([]string, error) {
	var deleted []string
	var errs []error
	for _, gvk := range PrunedKinds {
		items, err := a.list(ctx, gvk, "")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for i := range items {
			u := &items[i]
			if err := a.Client.Delete(ctx, u, client.PropagationPolicy("Background")); client.IgnoreNotFound(err) != nil {
				errs = append(errs, fmt.Errorf("deleting %s %s/%s: %w", gvk.Kind, u.GetNamespace(), u.GetName(), err))
				continue
			}
			deleted = append(deleted, Key(gvk.Kind, u.GetNamespace(), u.GetName()))
		}
	}
	nsList := &corev1.NamespaceList{}
	if err := a.Client.List(ctx, nsList, a.runSelector()); err != nil {
		errs = append(errs, fmt.Errorf("listing namespaces with %s=%s: %w", fixtures.LabelRun, a.RunID, err))
	}
	var names []string
	for i := range nsList.Items {
		ns := &nsList.Items[i]
		names = append(names, ns.Name)
		if ns.DeletionTimestamp != nil {
			continue
		}
		if err := a.Client.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting namespace %s: %w", ns.Name, err))
			continue
		}
		deleted = append(deleted, Key("Namespace", "", ns.Name))
	}
	if len(names) > 0 {
		a.progress("waiting for namespaces %s to be deleted", strings.Join(names, ", "))
		err := wait.PollUntilContextCancel(ctx, a.poll(), true, func(ctx context.Context) (bool, error) {
			for _, n := range names {
				err := a.Client.Get(ctx, types.NamespacedName{Name: n}, &corev1.Namespace{})
				if err == nil {
					return false, nil
				}
				if !apierrors.IsNotFound(err) {
					return false, err
				}
			}
			return true, nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("namespaces %s still terminating: %w (delete them with kubectl delete ns -l %s=%s)", strings.Join(names, ", "), err, fixtures.LabelRun, a.RunID))
		}
	}
	sort.Strings(deleted)
	return deleted, errors.Join(errs...)
}

// fatalWaitingReasons are container states that no amount of waiting fixes.
var fatalWaitingReasons = map[string]string{
	"ErrImagePull":               "the image cannot be pulled",
	"ImagePullBackOff":           "the image cannot be pulled",
	"InvalidImageName":           "the image name is invalid",
	"CrashLoopBackOff":           "the container keeps crashing",
	"CreateContainerConfigError": "the container spec is invalid",
	"CreateContainerError":       "the container cannot be created",
}

// WaitRollout waits until the Deployment has rolled out completely: the
// controller saw the latest spec, every replica is updated and available,
// and no old pod is left. It fails at once when a pod of the Deployment
// cannot pull its image or crash-loops, naming the pod and the reason.
func (a *Applier) WaitRollout(ctx context.Context, key types.NamespacedName) error {
	start := time.Now()
	lastReport := start
	var last string
	err := wait.PollUntilContextCancel(ctx, a.poll(), true, func(ctx context.Context) (bool, error) {
		d := &appsv1.Deployment{}
		if err := a.Client.Get(ctx, key, d); err != nil {
			return false, fmt.Errorf("reading Deployment %s: %w", key, err)
		}
		if err := a.podFailure(ctx, d); err != nil {
			return false, err
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		s := d.Status
		last = fmt.Sprintf("generation %d/%d, %d updated, %d available, %d total of %d", s.ObservedGeneration, d.Generation, s.UpdatedReplicas, s.AvailableReplicas, s.Replicas, want)
		done := s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.AvailableReplicas == want && s.Replicas == want
		if !done && time.Since(lastReport) >= 15*time.Second {
			lastReport = time.Now()
			a.progress("waiting for Deployment %s to roll out (%s): %s", key, time.Since(start).Round(time.Second), last)
		}
		return done, nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("Deployment %s did not roll out in %s (%s): %w", key, time.Since(start).Round(time.Second), last, err)
	}
	return err
}

func (a *Applier) podFailure(ctx context.Context, d *appsv1.Deployment) error {
	if d.Spec.Selector == nil {
		return nil
	}
	sel, err := metav1LabelSelector(d)
	if err != nil {
		return err
	}
	pods := &corev1.PodList{}
	if err := a.Client.List(ctx, pods, client.InNamespace(d.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return fmt.Errorf("listing pods of Deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	for _, p := range pods.Items {
		statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
		for _, cs := range statuses {
			if cs.State.Waiting == nil {
				continue
			}
			if why, fatal := fatalWaitingReasons[cs.State.Waiting.Reason]; fatal {
				fix := "see kubectl describe pod"
				if strings.Contains(why, "image") {
					fix = "make the image available to the cluster (kind: the suite loads it; cluster: push it to a registry the nodes can pull from and set FIRSTBYTE_IMAGE)"
				}
				return fmt.Errorf("pod %s/%s container %s: %s (%s: %s): %s", p.Namespace, p.Name, cs.Name, why, cs.State.Waiting.Reason, cs.State.Waiting.Message, fix)
			}
		}
	}
	return nil
}

func metav1LabelSelector(d *appsv1.Deployment) (labels.Selector, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("Deployment %s/%s selector: %w", d.Namespace, d.Name, err)
	}
	return sel, nil
}

// RunningPod returns the Deployment's one ready pod that is not being
// deleted (after WaitRollout: the pod of the current ReplicaSet).
func (a *Applier) RunningPod(ctx context.Context, key types.NamespacedName) (*corev1.Pod, error) {
	d := &appsv1.Deployment{}
	if err := a.Client.Get(ctx, key, d); err != nil {
		return nil, fmt.Errorf("reading Deployment %s: %w", key, err)
	}
	sel, err := metav1LabelSelector(d)
	if err != nil {
		return nil, err
	}
	pods := &corev1.PodList{}
	if err := a.Client.List(ctx, pods, client.InNamespace(key.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("listing pods of Deployment %s: %w", key, err)
	}
	var ready []*corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podReady(p) {
			ready = append(ready, p)
		}
	}
	switch len(ready) {
	case 1:
		return ready[0], nil
	case 0:
		return nil, fmt.Errorf("Deployment %s has no ready pod (wait for its rollout first)", key)
	default:
		sort.Slice(ready, func(i, j int) bool { return ready[i].CreationTimestamp.After(ready[j].CreationTimestamp.Time) })
		return ready[0], nil
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
