package generator

import (
	"fmt"
	istiolog "istio.io/istio/pkg/log"
	"sync"

	kubelib "istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/krt"
	"istio.io/istio/pkg/kube/mcs"
	"istio.io/istio/pkg/test"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
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

// PrepareIstio sets the process-wide state every generator run needs; each
// run calls it first, and it runs once. Three settings:
//
// It turns Istio's logging off: the generator logs every informer start
// and stop, which would bury the table; its failures come back as errors
// instead.
//
// It turns off krt's process-wide debug registry
// (krt.GlobalDebugHandler, which istiod serves at /debug/krt): pilot's
// FakeDiscoveryServer registers every collection it builds there, and the
// registry keeps each one, with its informers' buffers and the objects it
// read, for the life of the process. A generator run's memory therefore
// never came back: 330 MB stayed live after the catalogue's 141 runs, and
// every later collection cycle scanned it. firstbyte serves no debug
// endpoint; a nil handler is krt's "no debugger" (debug.go,
// maybeRegisterCollectionForDebugging).
//
// And it gives Istio's fake clients the lean scheme (fakeAPIScheme).
var PrepareIstio = sync.OnceFunc(func() {
	for _, s := range istiolog.Scopes() {
		s.SetOutputLevel(istiolog.NoneLevel)
	}
	krt.GlobalDebugHandler = nil
	kubelib.FakeIstioScheme = fakeAPIScheme()
})

// fakeAPIScheme is the scheme Istio's kube.NewFakeClient hands its fake
// dynamic and metadata clients, cut down to the kinds those two serve in
// a generator run. client-go's dynamicfake.NewSimpleDynamicClient copies
// every kind of the scheme it gets into a new one (reflection per kind);
// over Istio's whole scheme (Kubernetes, Istio, Gateway API) that was a
// fifth of predict's CPU, twice per generator run (one client in our
// FakeKubeBuilder, one in core.NewConfigGenTest's multicluster
// controller).
//
// Nothing in a generator run reads Services, Pods or Istio config through
// those two clients: the typed clients (FakeKubeBuilder's seeds) carry
// them. The dynamic client serves only the multi-cluster ServiceExport
// and ServiceImport informers (pilot's serviceexportcache.go and
// serviceimportcache.go, kubetypes.DynamicInformer), and the metadata
// client only the CRD watcher (kclient/crdwatcher.go), whose fake lists
// under the placeholder List kind that Istio's FakeIstioScheme adds for
// kubernetes/kubernetes#107823. A kind missing here is no silent gap: the
// fake dynamic client panics on a List of a resource whose List kind it
// was not given, and TestFakeAPISchemeServesIstiosReaders lists each.
func fakeAPIScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(mcs.AddToScheme(s))
	s.AddKnownTypeWithName(schema.GroupVersionKind{Group: "fake-metadata-client-group", Version: "v1", Kind: "List"}, &metav1.List{})
	return s
}
