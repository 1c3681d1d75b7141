package generator

import (
	"fmt"
	istiolog "istio.io/istio/pkg/log"
	"sync"

	kubelib "istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/krt"
	"istio.io/istio/pkg/test"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// FakeKubeBuilder returns the FakeOptions.KubeClientBuilder every
// generator run uses. Istio's own builder seeds the fake client with the
// field-managed tracker's Create, and client-go rebuilds a REST mapper
// over the whole scheme on every Create (client-go testing/fixture.go,
// managedFieldObjectTracker.mapper): about 4 ms an object, 17 s of a
// 4,000-object mesh. The core kinds the registry reads (Namespaces,
// Services, Pods, EndpointSlices) have resource names the tracker's Add
// guesses right, and Add skips managed fields, which the registry never
// reads; every other kind still goes through Istio's builder, because Add
// guesses some resources wrong (Istio's setupFakeClient says so for
// Gateways).
func FakeKubeBuilder(t test.Failer) func(objects ...runtime.Object) kubelib.Client {
	return func(objects ...runtime.Object) kubelib.Client {
		var core, other []runtime.Object
		for _, o := range objects {
			switch o.(type) {
			case *corev1.Namespace, *corev1.Service, *corev1.Pod, *discoveryv1.EndpointSlice:
				core = append(core, o)
			default:
				other = append(other, o)
			}
		}
		c := kubelib.NewFakeClient(other...)
		cs, ok := c.Kube().(*fake.Clientset)
		if !ok {
			t.Fatalf("Istio's fake client wraps %T, not client-go's fake Clientset: seed it with Istio's builder", c.Kube())
			return c
		}
		for _, o := range core {
			if err := cs.Tracker().Add(o.DeepCopyObject()); err != nil {
				t.Fatalf("seeding the fake Kubernetes API with %s: %v", objectName(o), err)
			}
		}
		return c
	}
}

func objectName(o runtime.Object) string {
	if m, ok := o.(interface {
		GetNamespace() string
		GetName() string
	}); ok {
		return fmt.Sprintf("%T %s/%s", o, m.GetNamespace(), m.GetName())
	}
	return fmt.Sprintf("%T", o)
}

// QuietIstio turns Istio's logging off: the generator logs every informer
// start and stop, which would bury the table; its failures come back as
// errors instead.
//
// It also turns off krt's process-wide debug registry
// (krt.GlobalDebugHandler, which istiod serves at /debug/krt): pilot's
// FakeDiscoveryServer registers every collection it builds there, and the
// registry keeps each one, with its informers' buffers and the objects it
// read, for the life of the process. A generator run's memory therefore
// never came back: 330 MB stayed live after the catalogue's 141 runs, and
// every later collection cycle scanned it. firstbyte serves no debug
// endpoint; a nil handler is krt's "no debugger" (debug.go,
// maybeRegisterCollectionForDebugging).
var QuietIstio = sync.OnceFunc(func() {
	for _, s := range istiolog.Scopes() {
		s.SetOutputLevel(istiolog.NoneLevel)
	}
	krt.GlobalDebugHandler = nil
})
