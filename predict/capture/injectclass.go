package capture

import (
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Istio's injector costs about 7 ms a pod (template rendering and a
// strategic merge of YAML), 13 s for a mesh of 2,000 Deployments. Pods
// that differ only in their name and in the values of ordinary labels
// (app=svc-17 vs app=svc-18) go through the same template branches, so
// InjectPods runs the injector once per such class on a placeholder pod
// and writes each member's names and label values back into the result.
//
// That shortcut is checked, not assumed: the first verifiedPerClass
// members of every class also go through the injector itself, and if the
// written-back result differs from Istio's in any way, the whole class is
// injected pod by pod. Labels whose key names Istio (…istio.io/…) keep
// their values in the class key, since the injection policy reads them
// (sidecar.istio.io/inject, istio.io/rev). Classes of up to
// verifiedPerClass pods (every scenario) are therefore injected exactly.
const verifiedPerClass = 2

// InjectPods runs pods (of one namespace's labels each) through Istio's
// injection, in order.
func InjectPods(nsLabels map[string]map[string]string, pods []*corev1.Pod) ([]Injection, error) {
	type class struct {
		members []int
		shape   *corev1.Pod
		tokens  map[string]string // placeholder -> member value, per member
	}
	out := make([]Injection, len(pods))
	classes := map[string]*class{}
	var order []string
	for i, p := range pods {
		shape, key := injectionShape(nsLabels[p.Namespace], p)
		c, ok := classes[key]
		if !ok {
			c = &class{shape: shape}
			classes[key] = c
			order = append(order, key)
		}
		c.members = append(c.members, i)
	}
	for _, key := range order {
		c := classes[key]
		ns := nsLabels[c.shape.Namespace]
		if len(c.members) <= verifiedPerClass {
			for _, i := range c.members {
				inj, err := InjectPod(ns, pods[i])
				if err != nil {
					return nil, err
				}
				out[i] = inj
			}
			continue
		}
		shaped, err := InjectPod(ns, c.shape)
		if err != nil {
			return nil, err
		}
		exact := true
		for n, i := range c.members {
			guess := writeBack(shaped, placeholders(c.shape, pods[i]))
			if n < verifiedPerClass {
				real, err := InjectPod(ns, pods[i])
				if err != nil {
					return nil, err
				}
				if !sameInjection(real, guess) {
					exact = false
					break
				}
			}
			out[i] = guess
		}
		if exact {
			continue
		}
		for _, i := range c.members {
			inj, err := InjectPod(ns, pods[i])
			if err != nil {
				return nil, err
			}
			out[i] = inj
		}
	}
	return out, nil
}

// injectionShape is the pod with its name and ordinary label values
// replaced by placeholders, and the key of its class.
func injectionShape(nsLabels map[string]string, p *corev1.Pod) (*corev1.Pod, string) {
	s := p.DeepCopy()
	s.Name = "fbshape-name"
	// Admission happens before the pod has an address; the injector never
	// sees status.
	s.Status = corev1.PodStatus{}
	s.Labels = map[string]string{}
	keys := make([]string, 0, len(p.Labels))
	for k := range p.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for n, k := range keys {
		if policyLabel(k) {
			s.Labels[k] = p.Labels[k]
		} else {
			s.Labels[k] = fmt.Sprintf("fbshape-value%d", n)
		}
	}
	key, _ := json.Marshal(struct {
		NS   map[string]string
		Pod  *corev1.Pod
		Name string
	}{nsLabels, s, p.Namespace})
	return s, string(key)
}

// policyLabel reports whether Istio's injection may read the label's
// value to decide (its own label keys).
func policyLabel(k string) bool {
	return strings.Contains(k, "istio.io")
}

// placeholders maps each placeholder of the shape to the member's value.
func placeholders(shape, member *corev1.Pod) map[string]string {
	m := map[string]string{"fbshape-name": member.Name}
	for k, v := range shape.Labels {
		if strings.HasPrefix(v, "fbshape-value") {
			m[v] = member.Labels[k]
		}
	}
	return m
}

// writeBack substitutes a member's values for the placeholders in the
// shape's injection.
func writeBack(shaped Injection, values map[string]string) Injection {
	// Longest placeholder first, so fbshape-value1 never eats into
	// fbshape-value12.
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	pairs := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		pairs = append(pairs, k, values[k])
	}
	r := strings.NewReplacer(pairs...)
	out := shaped
	out.Labels = make(map[string]string, len(shaped.Labels))
	for k, v := range shaped.Labels {
		out.Labels[k] = r.Replace(v)
	}
	out.Why = r.Replace(shaped.Why)
	return out
}

func sameInjection(a, b Injection) bool {
	return a.Injected == b.Injected && a.Webhook == b.Webhook && a.Why == b.Why && maps.Equal(a.Labels, b.Labels)
}
