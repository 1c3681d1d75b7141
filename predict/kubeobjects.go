package predict

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"sort"
	"strings"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict/capture"
	"google.golang.org/protobuf/proto"
	"istio.io/api/annotation"
	meshconfig "istio.io/api/mesh/v1alpha1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/istio/pkg/config/mesh"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

// generatorInput is what Istio's config generator reads for one scenario:
// the Kubernetes objects its kube registry watches, the Istio configs its
// config store holds, the mesh config, and the pods whose sidecars predict
// simulates.
type generatorInput struct {
	kube  []runtime.Object
	istio []string // one YAML document per Istio config
	mesh  *meshconfig.MeshConfig
	// sidecars are the pods that run a sidecar and whose configuration
	// predict generates, by Deployment name: "client" (unless the client
	// runs without one) and "server" (when the server has one).
	sidecars map[string]sidecarPod
	// injection is what Istio's injection made of the client and server
	// pods, by Deployment name, for traces. It derives from kube, so the
	// key leaves it out.
	injection map[string]capture.Injection
	// ambient is set for an ambient-mode scenario: the generator runs with
	// istiod's ambient features (ambient.go), the Istio configs are also
	// fed as Kubernetes objects (the ambient index reads ServiceEntries and
	// Gateways from there, as Istio's waypoint tests do), and waypoints are
	// the waypoint pods whose configuration predict generates, if any.
	ambient   bool
	waypoints []sidecarPod
	// waypointBinds is what ztunnel's view must show bound to the waypoint
	// before the waypoint is generated (ambientConfigs): the server's
	// Service or ServiceEntry for a waypoint for services (or all), the
	// server's pod for one for workloads (or all) when the server is in the
	// mesh (an external server has no workload to bind). The objects carry
	// it (the Gateway's istio.io/waypoint-for), so the key has it already.
	waypointBinds waypointBinds
	// key identifies the input: scenarios whose objects differ only in
	// their scenario label (mysql and smtp on the same port, say) share
	// one generation.
	key string
}

// sidecarPod is a pod whose sidecar predict simulates, as istiod sees the
// proxy: namespace, labels after injection, IP.
type sidecarPod struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
	IP        netip.Addr        `json:"ip"`
	// ServiceAccount names the pod's identity: Istio issues its sidecar
	// the certificate spiffe://<trust domain>/ns/<namespace>/sa/<account>.
	ServiceAccount string `json:"serviceAccount"`
	// Annotations are the pod template's, which shape its iptables rules.
	Annotations map[string]string `json:"annotations,omitempty"`
	// DNSCapture and DNSAutoAllocate are the node metadata the sidecar's
	// agent sends istiod (ISTIO_META_DNS_CAPTURE, _DNS_AUTO_ALLOCATE):
	// they decide whether istiod gives it listeners on auto-allocated
	// ServiceEntry addresses.
	DNSCapture      bool `json:"dnsCapture,omitempty"`
	DNSAutoAllocate bool `json:"dnsAutoAllocate,omitempty"`
}

// Deployment names of the pods predict simulates sidecars for.
const (
	ClientPod = "client"
	ServerPod = "server"
)

// inputFor turns a bundle's Final objects into generator input. Kinds the
// generator reads are passed on; Deployments become what a cluster would
// run from them (a ready pod, labelled as Istio's injection leaves it, and,
// for each Service selecting it, an EndpointSlice), because Istio builds
// endpoints from those, not from Deployments.
func inputFor(b *fixtures.Bundle) (generatorInput, error) {
	ips := podIPs(b.Topology)
	in := generatorInput{sidecars: map[string]sidecarPod{}, injection: map[string]capture.Injection{}}
	var services []*corev1.Service
	var deployments []*appsv1.Deployment
	var serviceEntries []*networkingv1.ServiceEntry
	var gateways []*gatewayv1.Gateway
	nsLabels := map[string]map[string]string{}
	for _, o := range b.Final {
		obj := o.Decoded.DeepCopyObject()
		stripScenarioLabel(obj)
		switch v := obj.(type) {
		case *corev1.Namespace:
			nsLabels[v.Name] = v.Labels
			in.kube = append(in.kube, v)
		case *corev1.Service:
			services = append(services, v)
			in.kube = append(in.kube, v)
		case *appsv1.Deployment:
			deployments = append(deployments, v)
		case *networkingv1.ServiceEntry:
			// After the loop: Istio's IP allocator gives it its status
			// first.
			serviceEntries = append(serviceEntries, v)
		case *gatewayv1.Gateway:
			gateways = append(gateways, v)
			doc, svc, d, err := runningGateway(v, waypointVIP(v.Name))
			if err != nil {
				return in, fmt.Errorf("feeding %s to Istio's generator: %w", o.Key(), err)
			}
			in.istio = append(in.istio, doc)
			if svc != nil {
				services, deployments = append(services, svc), append(deployments, d)
				in.kube = append(in.kube, svc)
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
	allocated, err := allocatedServiceEntries(serviceEntries)
	if err != nil {
		return in, fmt.Errorf("rendering %s: %w", b.Scenario.ID, err)
	}
	for _, se := range allocated {
		doc, err := yaml.Marshal(se)
		if err != nil {
			return in, fmt.Errorf("feeding ServiceEntry %s/%s to Istio's generator: %w", se.Namespace, se.Name, err)
		}
		in.istio = append(in.istio, string(doc))
	}
	pods, err := admitPods(ips, nsLabels, deployments)
	if err != nil {
		return in, fmt.Errorf("rendering %s: %w", b.Scenario.ID, err)
	}
	for name, ns := range map[string]string{ClientPod: b.Topology.ClientNamespace, ServerPod: b.Topology.ServerNamespace} {
		p, ok := pods[ns+"/"+name]
		if !ok {
			if name == ClientPod {
				return in, fmt.Errorf("rendering %s: no client Deployment in namespace %s: the fixtures must render the pod whose sidecar is under test", b.Scenario.ID, ns)
			}
			continue
		}
		in.injection[name] = p.injection
		if p.injection.Injected {
			meta, err := proxyNodeMetadata(p.injection.ProxyEnv)
			if err != nil {
				return in, fmt.Errorf("rendering %s: pod %s/%s: %w", b.Scenario.ID, ns, name, err)
			}
			in.sidecars[name] = sidecarPod{
				Name: name, Namespace: ns, Labels: p.pod.Labels, IP: ips[name],
				ServiceAccount: p.pod.Spec.ServiceAccountName, Annotations: p.annotations,
				DNSCapture: bool(meta.DNSCapture), DNSAutoAllocate: bool(meta.DNSAutoAllocate),
			}
		}
	}
	if err := checkSidecars(b, in.injection); err != nil {
		return in, err
	}
	if b.Scenario.Ambient != nil {
		in.ambient = true
		// The running waypoints' own Service and Deployment, added above,
		// are never bound (IsWaypointObject).
		s, w := BindingObjects{Namespaces: nsLabels, Services: services, ServiceEntries: serviceEntries, Workloads: deployments, Waypoints: gateways}.WaypointBinds()
		in.waypointBinds = waypointBinds{services: s, workloads: w}
		if in.waypoints, err = scenarioWaypoints(b, pods); err != nil {
			return in, err
		}
	}
	in.kube = append(in.kube, runningPods(pods, services, deployments)...)

	m, err := mesh.ApplyMeshConfigDefaults(string(b.MeshConfig))
	if err != nil {
		return in, fmt.Errorf("merging scenario %s's meshConfig into Istio's defaults: %w\n%s", b.Scenario.ID, err, b.MeshConfig)
	}
	in.mesh = m
	in.key, err = in.hash()
	return in, err
}

// checkSidecars compares Istio's injection decision with the scenario's
// Security: a disagreement is a fixtures bug, not a prediction.
func checkSidecars(b *fixtures.Bundle, inj map[string]capture.Injection) error {
	sec := b.Scenario.Security
	if got, want := inj[ClientPod].Injected, !sec.NoClientSidecar; got != want {
		return fmt.Errorf("rendering %s: the scenario wants a client sidecar: %v, but Istio's injection says %v: %s: fix fixtures/templates (client or namespaces)", b.Scenario.ID, want, got, inj[ClientPod].Why)
	}
	if s, ok := inj[ServerPod]; ok && s.Injected != sec.ServerSidecar {
		return fmt.Errorf("rendering %s: the scenario wants a server sidecar: %v, but Istio's injection says %v: %s: fix fixtures/templates (server or namespaces)", b.Scenario.ID, sec.ServerSidecar, s.Injected, s.Why)
	}
	return nil
}

func stripScenarioLabel(obj runtime.Object) {
	if m, ok := obj.(metav1.Object); ok {
		l := m.GetLabels()
		delete(l, fixtures.LabelScenario)
		m.SetLabels(l)
	}
}

// admittedPod is a Deployment's pod as admission leaves it.
type admittedPod struct {
	pod       *corev1.Pod
	injection capture.Injection
	// annotations are the pod template's (the registry's pod has none).
	annotations map[string]string
}

// admitPods stands up one pod per Deployment, as the API server admits it:
// its IP, readiness, container ports and service account, and the labels
// Istio's sidecar injection gives it. Images and arguments say nothing to
// Istio and would only split the cache (mysql and smtp servers differ
// there). Pods are keyed namespace/Deployment name.
func admitPods(podIPs map[string]netip.Addr, nsLabels map[string]map[string]string, deployments []*appsv1.Deployment) (map[string]admittedPod, error) {
	out := map[string]admittedPod{}
	spare := sparePodIPs.Addr().Next()
	pods := make([]*corev1.Pod, len(deployments))
	for i, d := range deployments {
		ip, ok := podIPs[d.Name]
		if !ok {
			ip, spare = spare, spare.Next()
		}
		var containers []corev1.Container
		for _, c := range d.Spec.Template.Spec.Containers {
			containers = append(containers, corev1.Container{Name: c.Name, Ports: c.Ports})
		}
		pods[i] = &corev1.Pod{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{
				Name: d.Name + "-0", Namespace: d.Namespace,
				Labels: maps.Clone(d.Spec.Template.Labels), Annotations: maps.Clone(d.Spec.Template.Annotations),
			},
			Spec: corev1.PodSpec{Containers: containers, ServiceAccountName: serviceAccount(d)},
			Status: corev1.PodStatus{
				Phase:      corev1.PodRunning,
				PodIP:      ip.String(),
				PodIPs:     []corev1.PodIP{{IP: ip.String()}},
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			},
		}
	}
	injs, err := capture.InjectPods(nsLabels, pods)
	if err != nil {
		return nil, err
	}
	for i, d := range deployments {
		p, inj := pods[i], injs[i]
		p.Labels = maps.Clone(inj.Labels)
		// The registry needs only what it reads; annotations would split
		// the cache for nothing.
		p.Annotations = nil
		if !inj.Injected && nsLabels[d.Namespace][fixtures.LabelDataplaneMode] == "ambient" && p.Labels[fixtures.LabelDataplaneMode] != "none" {
			// istio-cni marks the pods whose traffic it redirected to
			// ztunnel; istiod reads the mark (HBONE to the pod).
			p.Annotations = map[string]string{annotation.AmbientRedirection.Name: "enabled"}
		}
		out[d.Namespace+"/"+d.Name] = admittedPod{pod: p, injection: inj, annotations: d.Spec.Template.Annotations}
	}
	return out, nil
}

// runningPods is what the cluster would run for Deployments that a
// Service selects: their admitted pods, and one EndpointSlice per Service,
// as Kubernetes' EndpointSlice controller would write it.
func runningPods(pods map[string]admittedPod, services []*corev1.Service, deployments []*appsv1.Deployment) []runtime.Object {
	var out []runtime.Object
	emitted := map[string]bool{}
	// A Service selects only its own namespace's pods: grouping them
	// keeps a large mesh from matching every Service against every pod.
	inNamespace := map[string][]*appsv1.Deployment{}
	for _, d := range deployments {
		inNamespace[d.Namespace] = append(inNamespace[d.Namespace], d)
	}
	for _, svc := range services {
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		var eps []discoveryv1.Endpoint
		for _, d := range inNamespace[svc.Namespace] {
			if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				continue
			}
			key := d.Namespace + "/" + d.Name
			p := pods[key].pod
			if !emitted[key] {
				emitted[key] = true
				out = append(out, p)
			}
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
	c, _ := json.Marshal(in.sidecars)
	h.Write(c)
	w, _ := json.Marshal(struct {
		Ambient   bool
		Waypoints []sidecarPod
	}{in.ambient, in.waypoints})
	h.Write(w)
	return hex.EncodeToString(h.Sum(nil)), nil
}
