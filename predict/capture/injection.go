package capture

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"

	"istio.io/istio/pkg/kube/inject"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Injection is what Istio's sidecar injection makes of a pod: whether the
// API server sends it to the injector (the webhook's namespace and object
// selectors), and the labels the injector gives it. Istio's registry reads
// those labels: security.istio.io/tlsMode=istio on a pod is what makes its
// endpoints carry tlsMode istio in EDS, and auto mTLS keys on that.
type Injection struct {
	Injected bool
	// Webhook names the webhook whose selectors matched, when injected.
	Webhook string
	// Labels are the pod's labels after admission.
	Labels map[string]string
	// Why says in words why the pod is or is not injected.
	Why string
	// ProxyEnv is the istio-proxy container's environment (plain values
	// only), as the injector writes it: the agent reads its node metadata
	// (ISTIO_META_*) from there.
	ProxyEnv map[string]string `json:"proxyEnv,omitempty"`
}

// InjectPod runs a pod through Istio's injection as a cluster would: the
// istio-sidecar-injector webhooks' selectors against the namespace's and
// the pod's labels, then, for a pod they select, Istio's injector with
// the installation's templates. The result is memoised per pod.
func InjectPod(namespaceLabels map[string]string, pod *corev1.Pod) (Injection, error) {
	key, err := json.Marshal(struct {
		NS   map[string]string
		Name string
		Meta map[string]map[string]string
	}{namespaceLabels, pod.Namespace + "/" + pod.Name, map[string]map[string]string{"labels": pod.Labels, "annotations": pod.Annotations}})
	if err != nil {
		return Injection{}, err
	}
	injections.Lock()
	e, ok := injections.m[string(key)]
	if !ok {
		e = &injectionEntry{}
		injections.m[string(key)] = e
	}
	injections.Unlock()
	e.once.Do(func() { e.inj, e.err = injectPod(namespaceLabels, pod) })
	return e.inj, e.err
}

type injectionEntry struct {
	once sync.Once
	inj  Injection
	err  error
}

var injections = struct {
	sync.Mutex
	m map[string]*injectionEntry
}{m: map[string]*injectionEntry{}}

func injectPod(namespaceLabels map[string]string, pod *corev1.Pod) (Injection, error) {
	si, err := installedInjector()
	if err != nil {
		return Injection{}, err
	}
	out := Injection{Labels: maps.Clone(pod.Labels)}
	who := fmt.Sprintf("pod %s/%s (labels %v, namespace labels %v)", pod.Namespace, pod.Name, sortedKV(pod.Labels), sortedKV(namespaceLabels))
	for _, wh := range si.webhooks {
		ok, err := selects(wh.NamespaceSelector, namespaceLabels)
		if err != nil {
			return out, fmt.Errorf("webhook %s: namespaceSelector: %w", wh.Name, err)
		}
		if !ok {
			continue
		}
		if ok, err = selects(wh.ObjectSelector, pod.Labels); err != nil {
			return out, fmt.Errorf("webhook %s: objectSelector: %w", wh.Name, err)
		}
		if ok {
			out.Webhook = wh.Name
			break
		}
	}
	if out.Webhook == "" {
		out.Why = fmt.Sprintf("%s: no istio-sidecar-injector webhook selects it, so it runs without a sidecar", who)
		return out, nil
	}
	var warnings []string
	res, err := inject.IntoObject(nil, si.config.Templates, si.values, "", si.mesh, pod, func(w string) { warnings = append(warnings, w) })
	if err != nil {
		return out, fmt.Errorf("Istio's sidecar injector rejected %s: %w", who, err)
	}
	injected, ok := res.(*corev1.Pod)
	if !ok {
		return out, fmt.Errorf("Istio's sidecar injector returned %T for %s, want a Pod", res, who)
	}
	if !slices.ContainsFunc(append(injected.Spec.InitContainers, injected.Spec.Containers...), func(c corev1.Container) bool { return c.Name == "istio-proxy" }) {
		out.Why = fmt.Sprintf("%s: webhook %s selects it but Istio's injector adds no istio-proxy (%v)", who, out.Webhook, warnings)
		out.Webhook = ""
		return out, nil
	}
	out.Injected, out.Labels = true, injected.Labels
	out.ProxyEnv = containerEnv(injected.Spec.Containers, "istio-proxy")
	out.Why = fmt.Sprintf("%s: webhook %s selects it and Istio's injector adds istio-proxy with labels %v", who, out.Webhook, sortedKV(addedLabels(pod.Labels, injected.Labels)))
	return out, nil
}

// selects evaluates a webhook selector as the API server does: a nil
// selector selects everything.
func selects(sel *metav1.LabelSelector, l map[string]string) (bool, error) {
	if sel == nil {
		return true, nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, err
	}
	return s.Matches(labels.Set(l)), nil
}

func addedLabels(before, after map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range after {
		if before[k] != v {
			out[k] = v
		}
	}
	return out
}

func sortedKV(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// containerEnv is the plain-valued environment of the named container.
func containerEnv(cs []corev1.Container, name string) map[string]string {
	for _, c := range cs {
		if c.Name != name {
			continue
		}
		env := map[string]string{}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				env[e.Name] = e.Value
			}
		}
		return env
	}
	return nil
}
