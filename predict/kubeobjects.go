package predict

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/firstbyte/firstbyte/fixtures"
	"google.golang.org/protobuf/proto"
	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pkg/config/mesh"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// generatorInput is what Istio's config generator reads for one scenario:
// the Kubernetes objects its kube registry watches, the Istio configs its
// config store holds, the mesh config, and the client pod.
type generatorInput struct {
	kube   []runtime.Object
	istio  []string // one YAML document per Istio config
	mesh   *meshconfig.MeshConfig
	client clientPod
	// key identifies the input: scenarios whose objects differ only in
	// their scenario label (mysql and smtp on the same port, say) share
	// one generation.
	key string
}

// clientPod is the pod whose sidecar predict simulates.
type clientPod struct {
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
	IP        netip.Addr        `json:"ip"`
}

// inputFor turns a bundle's Final objects into generator input. Kinds the
// generator reads are passed on; Deployments become what a cluster would
// run from them (a ready pod and, for each Service selecting it, an
// EndpointSlice), because Istio builds endpoints from those, not from
// Deployments.
func inputFor(b *fixtures.Bundle) (generatorInput, error) {
	ips := podIPs(b.Topology)
	in := generatorInput{client: clientPod{Namespace: b.Topology.ClientNamespace, IP: ips["client"]}}
	var services []*corev1.Service
	var deployments []*appsv1.Deployment
	for _, o := range b.Final {
		obj := o.Decoded.DeepCopyObject()
		stripScenarioLabel(obj)
		switch v := obj.(type) {
		case *corev1.Namespace:
			in.kube = append(in.kube, v)
		case *corev1.Service:
			services = append(services, v)
			in.kube = append(in.kube, v)
		case *appsv1.Deployment:
			deployments = append(deployments, v)
			if v.Namespace == b.Topology.ClientNamespace && v.Name == "client" {
				in.client.Labels = v.Spec.Template.Labels
			}
		default:
			if !strings.HasSuffix(obj.GetObjectKind().GroupVersionKind().Group, "istio.io") {
				return in, fmt.Errorf("feeding %s to Istio's generator: predict does not know kind %s: teach predict/kubeobjects.go where it goes", o.Key(), o.Kind)
			}
			doc, err := yaml.Marshal(obj)
			if err != nil {
				return in, fmt.Errorf("feeding %s to Istio's generator: %w", o.Key(), err)
			}
			in.istio = append(in.istio, string(doc))
		}
	}
	if in.client.Labels == nil {
		return in, fmt.Errorf("rendering %s: no client Deployment in namespace %s: the fixtures must render the pod whose sidecar is under test", b.Scenario.ID, b.Topology.ClientNamespace)
	}
	in.kube = append(in.kube, runningPods(ips, services, deployments)...)

	m, err := mesh.ApplyMeshConfigDefaults(string(b.MeshConfig))
	if err != nil {
		return in, fmt.Errorf("merging scenario %s's meshConfig into Istio's defaults: %w\n%s", b.Scenario.ID, err, b.MeshConfig)
	}
	in.mesh = m
	in.key, err = in.hash()
	return in, err
}

func stripScenarioLabel(obj runtime.Object) {
	if m, ok := obj.(metav1.Object); ok {
		l := m.GetLabels()
		delete(l, fixtures.LabelScenario)
		m.SetLabels(l)
	}
}

// runningPods stands up what the cluster would run for Deployments that
// a Service selects: one ready pod each, and one EndpointSlice per
// Service, as Kubernetes' EndpointSlice controller would write it.
func runningPods(podIPs map[string]netip.Addr, services []*corev1.Service, deployments []*appsv1.Deployment) []runtime.Object {
	var out []runtime.Object
	pods := map[string]*corev1.Pod{}
	spare := sparePodIPs.Addr().Next()
	podFor := func(d *appsv1.Deployment) *corev1.Pod {
		key := d.Namespace + "/" + d.Name
		if p, ok := pods[key]; ok {
			return p
		}
		ip, ok := podIPs[d.Name]
		if !ok {
			ip, spare = spare, spare.Next()
		}
		// The pod as the registry reads it: labels, IP, readiness and
		// container ports. Images and arguments say nothing to Istio and
		// would only split the cache (mysql and smtp servers differ there).
		var containers []corev1.Container
		for _, c := range d.Spec.Template.Spec.Containers {
			containers = append(containers, corev1.Container{Name: c.Name, Ports: c.Ports})
		}
		p := &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-0", Namespace: d.Namespace, Labels: d.Spec.Template.Labels},
			Spec:       corev1.PodSpec{Containers: containers, ServiceAccountName: serviceAccount(d)},
			Status: corev1.PodStatus{
				Phase:      corev1.PodRunning,
				PodIP:      ip.String(),
				PodIPs:     []corev1.PodIP{{IP: ip.String()}},
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			},
		}
		pods[key] = p
		out = append(out, p)
		return p
	}
	for _, svc := range services {
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		var eps []discoveryv1.Endpoint
		for _, d := range deployments {
			if d.Namespace != svc.Namespace || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				continue
			}
			p := podFor(d)
			ready := true
			eps = append(eps, discoveryv1.Endpoint{
				Addresses:  []string{p.Status.PodIP},
				Conditions: discoveryv1.EndpointConditions{Ready: &ready},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name},
			})
		}
		var ports []discoveryv1.EndpointPort
		for _, sp := range svc.Spec.Ports {
			port := sp.TargetPort.IntVal
			if port == 0 {
				port = sp.Port
			}
			ports = append(ports, discoveryv1.EndpointPort{
				Name: &sp.Name, Port: &port, Protocol: &sp.Protocol, AppProtocol: sp.AppProtocol,
			})
		}
		out = append(out, &discoveryv1.EndpointSlice{
			TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
			ObjectMeta: metav1.ObjectMeta{
				Name: svc.Name + "-predict", Namespace: svc.Namespace,
				Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name},
			},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   eps,
			Ports:       ports,
		})
	}
	return out
}

// serviceAccount is the pod's service account as admission sets it:
// Istio names the upstream's identity (SAN) after it.
func serviceAccount(d *appsv1.Deployment) string {
	if sa := d.Spec.Template.Spec.ServiceAccountName; sa != "" {
		return sa
	}
	return "default"
}

// hash is the cache key: every byte the generator reads, serialised
// deterministically.
func (in generatorInput) hash() (string, error) {
	h := sha256.New()
	docs := make([]string, 0, len(in.kube))
	for _, o := range in.kube {
		j, err := json.Marshal(o)
		if err != nil {
			return "", fmt.Errorf("hashing generator input: %w", err)
		}
		docs = append(docs, string(j))
	}
	sort.Strings(docs)
	istio := append([]string(nil), in.istio...)
	sort.Strings(istio)
	for _, d := range append(docs, istio...) {
		fmt.Fprintf(h, "%d:%s\n", len(d), d)
	}
	m, err := proto.MarshalOptions{Deterministic: true}.Marshal(in.mesh)
	if err != nil {
		return "", fmt.Errorf("hashing meshConfig: %w", err)
	}
	h.Write(m)
	c, _ := json.Marshal(in.client)
	h.Write(c)
	return hex.EncodeToString(h.Sum(nil)), nil
}
