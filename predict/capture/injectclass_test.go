package capture

import (
	"fmt"
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestInjectPodsMatchesTheInjector checks the class shortcut against
// Istio's injector pod by pod: every member of a large class, with label
// values of different lengths and shapes, and classes that must stay
// apart (a policy label, an annotation, a namespace without injection).
func TestInjectPodsMatchesTheInjector(t *testing.T) {
	ns := map[string]map[string]string{
		"shop":  {"istio-injection": "enabled"},
		"plain": {},
	}
	var pods []*corev1.Pod
	add := func(ns, name string, labels, annotations map[string]string) {
		pods = append(pods, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, Annotations: annotations},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}},
		})
	}
	for i := range 6 {
		add("shop", fmt.Sprintf("svc-%d-0", i), map[string]string{"app": fmt.Sprintf("svc-%d", i), "version": fmt.Sprintf("v%d", i*7)}, nil)
	}
	add("shop", "a-0", map[string]string{"app": "a", "version": "fbshape-value1"}, nil)
	add("shop", "long-0", map[string]string{"app": "a-rather-long-application-name-with-dashes", "version": "1.2.3"}, nil)
	add("shop", "off-0", map[string]string{"app": "off", "version": "v1", "sidecar.istio.io/inject": "false"}, nil)
	add("shop", "off-1", map[string]string{"app": "off1", "version": "v1", "sidecar.istio.io/inject": "false"}, nil)
	add("shop", "off-2", map[string]string{"app": "off2", "version": "v1", "sidecar.istio.io/inject": "false"}, nil)
	add("shop", "excl-0", map[string]string{"app": "excl", "version": "v1"}, map[string]string{"traffic.sidecar.istio.io/excludeOutboundPorts": "5432"})
	for i := range 3 {
		add("plain", fmt.Sprintf("bare-%d", i), map[string]string{"app": fmt.Sprintf("bare-%d", i), "version": "v1"}, nil)
	}
	got, err := InjectPods(ns, pods)
	if err != nil {
		t.Fatal(err)
	}
	injected := 0
	for i, p := range pods {
		want, err := injectPod(ns[p.Namespace], p)
		if err != nil {
			t.Fatal(err)
		}
		if !sameInjection(got[i], want) {
			t.Errorf("%s/%s: class shortcut gave\n  %+v\nIstio's injector gives\n  %+v", p.Namespace, p.Name, got[i], want)
		}
		if want.Injected {
			injected++
		}
	}
	// The table must exercise both answers, or it proves little.
	if injected == 0 || injected == len(pods) {
		t.Fatalf("%d of %d pods injected: want a mix", injected, len(pods))
	}
}

// TestWriteBackLongestPlaceholderFirst guards the substitution order:
// fbshape-value1 must not eat into fbshape-value12.
func TestWriteBackLongestPlaceholderFirst(t *testing.T) {
	shaped := Injection{Labels: map[string]string{"a": "fbshape-value1", "b": "fbshape-value12"}}
	got := writeBack(shaped, map[string]string{"fbshape-value1": "one", "fbshape-value12": "twelve"})
	if want := map[string]string{"a": "one", "b": "twelve"}; !maps.Equal(got.Labels, want) {
		t.Fatalf("write-back gave %v, want %v", got.Labels, want)
	}
}
