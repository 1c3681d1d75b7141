package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/firstbyte/firstbyte/predict"
	"google.golang.org/protobuf/proto"
	meshconfig "istio.io/api/mesh/v1alpha1"
	apinetworking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/istio/pkg/config/kube"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/protocol"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

// Mesh is the mesh as analyze reads it: the objects Istio's generator
// needs, where each came from, and what was skipped or invalid.
type Mesh struct {
	Namespaces     map[string]*corev1.Namespace
	Services       []*corev1.Service
	Workloads      []*appsv1.Deployment
	ServiceEntries []*networkingv1.ServiceEntry
	Sidecars       []*networkingv1.Sidecar
	// Waypoints are the Gateways of class istio-waypoint (ambient.go).
	Waypoints []*gatewayv1.Gateway
	// OtherIstio are Istio configs analyze passes to the generator as they
	// are (DestinationRules, policies, VirtualServices, ...).
	OtherIstio []runtime.Object
	// MeshConfigYAML is the istio ConfigMap's mesh key; MeshConfig is it
	// with Istio's defaults applied (after Finish).
	MeshConfigYAML string
	MeshOrigin     Origin
	MeshConfig     *meshconfig.MeshConfig
	// Objects counts the objects read; Skipped counts documents not used,
	// by reason; Invalid lists objects that could not be read.
	Objects int
	Skipped map[string]Skip
	Invalid []*InputError
	// AllocatedIPs names the Services given a cluster IP here because the
	// input had none (as the API server would).
	AllocatedIPs []string

	origins map[string]Origin
	// servicePorts indexes Services by port once Finish has run.
	servicePorts *servicePortIndex
	// admission is the workloads' admission through Istio's injection,
	// once scopes has run it.
	admission *predict.Admission
}

// Skip counts skipped documents of one reason, with the first one's place.
type Skip struct {
	Count int    `json:"count"`
	First Origin `json:"first"`
}

func newMesh() *Mesh {
	return &Mesh{Namespaces: map[string]*corev1.Namespace{}, Skipped: map[string]Skip{}, origins: map[string]Origin{}}
}

func objectKey(obj runtime.Object) string {
	a, err := meta.Accessor(obj)
	if err != nil {
		return ""
	}
	return obj.GetObjectKind().GroupVersionKind().Kind + "/" + a.GetNamespace() + "/" + a.GetName()
}

// OriginOf is where the object of kind, namespace and name came from.
func (m *Mesh) OriginOf(kind, namespace, name string) Origin {
	return m.origins[kind+"/"+namespace+"/"+name]
}

// Finish completes the mesh after loading: namespaces every object names,
// cluster IPs for Services that have none, the mesh config with Istio's
// defaults. Its error is bad input.
func (m *Mesh) Finish() error {
	cfg, err := mesh.ApplyMeshConfigDefaults(m.MeshConfigYAML)
	if err != nil {
		return &InputError{Origin: m.MeshOrigin, Field: "data.mesh", Problem: fmt.Sprintf("Istio rejects the meshConfig: %v", err)}
	}
	m.MeshConfig = cfg
	need := func(ns string) {
		if _, ok := m.Namespaces[ns]; !ok && ns != "" {
			m.Namespaces[ns] = &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: ns}}
		}
	}
	for _, s := range m.Services {
		need(s.Namespace)
	}
	for _, w := range m.Workloads {
		if w.Namespace == "" {
			w.Namespace = "default"
		}
		need(w.Namespace)
	}
	m.allocateClusterIPs()
	m.servicePorts = indexServicePorts(m.Services)
	return nil
}

// servicePortIndex lists the Services that declare each port, in
// m.Services order: analyze names the causes of every hazardous listener
// in every scope, and a scan of all Services for each made that walk
// quadratic in the mesh.
type servicePortIndex struct {
	// of is the slice indexed, to tell a stale index.
	of     []*corev1.Service
	byPort map[int][]*corev1.Service
	// byAddrPort is keyed by cluster IP and port ("10.96.0.1|80").
	byAddrPort map[string][]*corev1.Service
	// byHost gives, for each port, the positions in byPort[port] of the
	// Services with each fully qualified name.
	byHost map[int]map[string][]int
}

func indexServicePorts(svcs []*corev1.Service) *servicePortIndex {
	ix := &servicePortIndex{of: svcs, byPort: map[int][]*corev1.Service{}, byAddrPort: map[string][]*corev1.Service{}, byHost: map[int]map[string][]int{}}
	for _, s := range svcs {
		seen := map[int]bool{}
		for _, p := range s.Spec.Ports {
			port := int(p.Port)
			if seen[port] {
				continue
			}
			seen[port] = true
			if ix.byHost[port] == nil {
				ix.byHost[port] = map[string][]int{}
			}
			ix.byHost[port][fqdn(s)] = append(ix.byHost[port][fqdn(s)], len(ix.byPort[port]))
			ix.byPort[port] = append(ix.byPort[port], s)
			k := s.Spec.ClusterIP + "|" + fmt.Sprint(port)
			ix.byAddrPort[k] = append(ix.byAddrPort[k], s)
		}
	}
	return ix
}

// servicesOnPort lists, in m.Services order, the Services that declare
// port and, when clusterIP is not empty, have that cluster IP; every
// Service they leave out declares neither. Without a current index (a
// mesh Finish has not completed, or one whose Services were replaced) it
// is every Service.
func (m *Mesh) servicesOnPort(port int, clusterIP string) []*corev1.Service {
	ix := m.currentServicePorts()
	if ix == nil {
		return m.Services
	}
	if clusterIP != "" {
		return ix.byAddrPort[clusterIP+"|"+fmt.Sprint(port)]
	}
	return ix.byPort[port]
}

// currentServicePorts is the Service port index, or nil when there is
// none or it indexes another slice than m.Services (a mesh Finish has not
// completed, or one whose Services were replaced).
func (m *Mesh) currentServicePorts() *servicePortIndex {
	ix := m.servicePorts
	if ix == nil || len(ix.of) != len(m.Services) || (len(ix.of) > 0 && &ix.of[0] != &m.Services[0]) {
		return nil
	}
	return ix
}

// servicesRouted lists, in m.Services order, the Services that declare
// port and whose name (or name:port) is one of a route's domains. It is
// servicesOnPort(port, "") filtered by the domains, looked up by name: a
// scope governed by a Sidecar routes to a few Services, and filtering
// every Service on the port for each of its listeners made the walk grow
// as scopes × Services. ok is false without a current index.
func (m *Mesh) servicesRouted(port int, domains map[string]bool) (out []*corev1.Service, ok bool) {
	ix := m.currentServicePorts()
	if ix == nil {
		return nil, false
	}
	suffix := ":" + fmt.Sprint(port)
	var at []int
	for d := range domains {
		at = append(at, ix.byHost[port][d]...)
		if host, cut := strings.CutSuffix(d, suffix); cut {
			at = append(at, ix.byHost[port][host]...)
		}
	}
	slices.Sort(at)
	at = slices.Compact(at)
	for _, i := range at {
		out = append(out, ix.byPort[port][i])
	}
	return out, true
}

// serviceIPs is where allocateClusterIPs takes addresses from: the upper
// half of kind's default Service range, 10.96.0.0/12.
var serviceIPs = netip.MustParsePrefix("10.100.0.0/14")

// allocateClusterIPs gives each Service without a cluster IP one, as the
// API server would: a mesh written by hand often leaves it out, and Istio
// builds a wildcard listener for a Service without one, which a cluster
// never shows.
func (m *Mesh) allocateClusterIPs() {
	used := map[netip.Addr]bool{}
	for _, s := range m.Services {
		if a, err := netip.ParseAddr(s.Spec.ClusterIP); err == nil {
			used[a] = true
		}
	}
	next := serviceIPs.Addr().Next()
	for _, s := range m.Services {
		if s.Spec.ClusterIP != "" || s.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		for used[next] {
			next = next.Next()
		}
		s.Spec.ClusterIP, s.Spec.ClusterIPs = next.String(), []string{next.String()}
		used[next] = true
		m.AllocatedIPs = append(m.AllocatedIPs, s.Namespace+"/"+s.Name+"="+next.String())
	}
}

// clone copies the mesh deeply enough for a remediation to change
// Services, ServiceEntries, Sidecars and the mesh config.
func (m *Mesh) clone() *Mesh {
	c := *m
	c.Services = make([]*corev1.Service, len(m.Services))
	for i, s := range m.Services {
		c.Services[i] = s.DeepCopy()
	}
	c.ServiceEntries = make([]*networkingv1.ServiceEntry, len(m.ServiceEntries))
	for i, s := range m.ServiceEntries {
		c.ServiceEntries[i] = s.DeepCopy()
	}
	c.servicePorts = nil
	c.Sidecars = slices.Clone(m.Sidecars)
	c.MeshConfig = proto.Clone(m.MeshConfig).(*meshconfig.MeshConfig)
	return &c
}

// generatorInput is the mesh as Istio's generator input. With port > 0
// it keeps only what builds that port's outbound listeners: Services and
// ServiceEntries with the port (only that port), and the pods behind
// them; Sidecars, policies and namespaces stay.
func (m *Mesh) generatorInput(port int) (predict.MeshObjects, error) {
	out := predict.MeshObjects{Mesh: m.MeshConfig, Admission: m.admission}
	nss := make([]string, 0, len(m.Namespaces))
	for n := range m.Namespaces {
		nss = append(nss, n)
	}
	sort.Strings(nss)
	for _, n := range nss {
		out.Kube = append(out.Kube, m.Namespaces[n])
	}
	var kept []*corev1.Service
	for _, s := range m.Services {
		if port > 0 {
			var ports []corev1.ServicePort
			for _, p := range s.Spec.Ports {
				if int(p.Port) == port {
					ports = append(ports, p)
				}
			}
			if len(ports) == 0 {
				continue
			}
			s = s.DeepCopy()
			s.Spec.Ports = ports
		}
		kept = append(kept, s)
		out.Kube = append(out.Kube, s)
	}
	for _, w := range m.Workloads {
		if port <= 0 || selectedByAny(w, kept) {
			out.Deployments = append(out.Deployments, w)
		}
	}
	for _, se := range m.ServiceEntries {
		if port > 0 {
			var ports []*apinetworking.ServicePort
			for _, p := range se.Spec.Ports {
				if int(p.Number) == port {
					ports = append(ports, p)
				}
			}
			if len(ports) == 0 {
				continue
			}
			se = se.DeepCopy()
			se.Spec.Ports = ports
		}
		if err := appendIstio(&out, se); err != nil {
			return out, err
		}
	}
	for _, s := range m.Sidecars {
		if err := appendIstio(&out, s); err != nil {
			return out, err
		}
	}
	for _, o := range m.OtherIstio {
		if err := appendIstio(&out, o); err != nil {
			return out, err
		}
	}
	return out, nil
}

func appendIstio(out *predict.MeshObjects, obj runtime.Object) error {
	doc, err := yaml.Marshal(obj)
	if err != nil {
		return fmt.Errorf("feeding %s to Istio's generator: %w", objectKey(obj), err)
	}
	out.Istio = append(out.Istio, string(doc))
	return nil
}

func selectedByAny(w *appsv1.Deployment, svcs []*corev1.Service) bool {
	for _, s := range svcs {
		if s.Namespace == w.Namespace && selects(s.Spec.Selector, w.Spec.Template.Labels) {
			return true
		}
	}
	return false
}

func selects(sel, l map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if l[k] != v {
			return false
		}
	}
	return true
}

// ports lists every port number a Service or ServiceEntry declares.
func (m *Mesh) ports() map[int]bool {
	return m.portsWhere(func(protocol.Instance) bool { return true })
}

// portsWhere lists the port numbers of the Service and ServiceEntry
// ports whose protocol, as Istio reads it (ConvertProtocol, Parse),
// keep accepts.
func (m *Mesh) portsWhere(keep func(protocol.Instance) bool) map[int]bool {
	out := map[int]bool{}
	for _, s := range m.Services {
		for _, p := range s.Spec.Ports {
			if keep(kube.ConvertProtocol(p.Port, p.Name, p.Protocol, p.AppProtocol)) {
				out[int(p.Port)] = true
			}
		}
	}
	for _, se := range m.ServiceEntries {
		for _, p := range se.Spec.Ports {
			if keep(protocol.Parse(p.Protocol)) {
				out[int(p.Number)] = true
			}
		}
	}
	return out
}

// meshed reports whether a namespace's pods get sidecars by its labels.
func meshed(ns *corev1.Namespace) bool {
	l := ns.Labels
	return l["istio-injection"] == "enabled" || (l["istio.io/rev"] != "" && l["istio-injection"] != "disabled")
}

func fqdn(s *corev1.Service) string { return s.Name + "." + s.Namespace + ".svc.cluster.local" }

func servicePortText(s *corev1.Service, p corev1.ServicePort) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Service %s/%s port %d", s.Namespace, s.Name, p.Port)
	switch {
	case p.Name != "" && p.AppProtocol != nil:
		fmt.Fprintf(&b, " (name %q, appProtocol %q)", p.Name, *p.AppProtocol)
	case p.AppProtocol != nil:
		fmt.Fprintf(&b, " (unnamed, appProtocol %q)", *p.AppProtocol)
	case p.Name != "":
		fmt.Fprintf(&b, " (name %q)", p.Name)
	default:
		b.WriteString(" (unnamed)")
	}
	return b.String()
}
