package analyze

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/predict/capture"
	"github.com/firstbyte/firstbyte/scenarios"
	"google.golang.org/protobuf/types/known/durationpb"
	apisecurity "istio.io/api/security/v1beta1"
	apitype "istio.io/api/type/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	securityv1beta1 "istio.io/client-go/pkg/apis/security/v1beta1"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pkg/config/kube"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// InboundHold: the server's own sidecar holds a plaintext server-first
// connection at virtualInbound (PERMISSIVE's tls_inspector, or
// http_inspector on an undeclared port).
const InboundHold = "inbound-hold"

// The inbound walk, written down: for every server-first destination that
// is a Service port (named with --server-first or --server-first-ports,
// declared with a server-first protocol such as mysql, or on a well-known
// server-first port), analyze takes one injected workload the Service
// selects, builds
// that workload's sidecar with Istio's generator, and walks a plaintext
// connection that opens with no client bytes to the pod's target port:
// its iptables (Istio's rules, with the pod's annotations), then
// virtualInbound (predict.EvaluateInbound). Plaintext is what a client
// without a sidecar sends, and what a meshed client sends when a
// DestinationRule disables TLS; a meshed client under auto mTLS sends a
// ClientHello first, which no inspector waits for. Workloads of one
// Service share its ports, so one representative stands for them all.
// A port declared only as TCP is not walked: it says nothing about who
// speaks first (PostgreSQL and Redis are client-first), and PERMISSIVE
// would flag every one of them; name such servers with --server-first.
// The representatives' sidecars are generated from the slice of the mesh
// their inbound side depends on (their namespaces, the Services that
// select them, their own workloads, the Istio policies and Sidecars), not
// the whole mesh: inbound listeners do not depend on other Services.

// inboundServer is one Service port's representative server workload.
type inboundServer struct {
	dest     Destination
	svc      *corev1.Service
	port     corev1.ServicePort
	workload *appsv1.Deployment
	pod      predict.Workload
	target   int
	members  int
}

func (s *inboundServer) proxy(ip netip.Addr) predict.MeshProxy {
	return predict.MeshProxy{Name: s.workload.Name, Namespace: s.workload.Namespace, Labels: s.pod.Labels, IP: ip}
}

// inboundInput is the slice of the mesh the servers' inbound sides depend
// on, and each server's pod address in it (the generator admits the
// slice's workloads in order, as predict.AdmitWorkloads does).
func (m *Mesh) inboundInput(servers []*inboundServer) (predict.MeshObjects, []netip.Addr, error) {
	var out predict.MeshObjects
	out.Mesh = m.MeshConfig
	nsLabels := map[string]map[string]string{}
	for _, n := range slices.Sorted(maps.Keys(m.Namespaces)) {
		out.Kube = append(out.Kube, m.Namespaces[n])
		nsLabels[n] = m.Namespaces[n].Labels
	}
	index := map[string]int{}
	for _, s := range servers {
		key := s.workload.Namespace + "/" + s.workload.Name
		if _, ok := index[key]; ok {
			continue
		}
		for _, w := range m.Workloads {
			if w.Namespace+"/"+w.Name == key {
				index[key] = len(out.Deployments)
				out.Deployments = append(out.Deployments, w)
				break
			}
		}
	}
	for _, svc := range m.Services {
		if selectedByAnyWorkload(svc, out.Deployments) {
			out.Kube = append(out.Kube, svc)
		}
	}
	for _, se := range m.ServiceEntries {
		if se.Spec.GetWorkloadSelector() != nil { // it may add inbound ports to a pod
			if err := appendIstio(&out, se); err != nil {
				return out, nil, err
			}
		}
	}
	for _, sc := range m.Sidecars {
		if err := appendIstio(&out, sc); err != nil {
			return out, nil, err
		}
	}
	for _, o := range m.OtherIstio {
		if err := appendIstio(&out, o); err != nil {
			return out, nil, err
		}
	}
	admitted, err := predict.AdmitWorkloads(nsLabels, out.Deployments)
	if err != nil {
		return out, nil, err
	}
	ips := make([]netip.Addr, len(servers))
	for i, s := range servers {
		j, ok := index[s.workload.Namespace+"/"+s.workload.Name]
		if !ok {
			return out, nil, fmt.Errorf("inbound walk: workload %s/%s is not in the mesh", s.workload.Namespace, s.workload.Name)
		}
		ips[i] = admitted[j].IP
	}
	return out, ips, nil
}

func selectedByAnyWorkload(svc *corev1.Service, ds []*appsv1.Deployment) bool {
	for _, d := range ds {
		if d.Namespace == svc.Namespace && len(svc.Spec.Selector) > 0 && selects(svc.Spec.Selector, d.Spec.Template.Labels) {
			return true
		}
	}
	return false
}

func (s *inboundServer) String() string {
	more := ""
	if s.members > 1 {
		more = fmt.Sprintf(" (and %d more workloads of it)", s.members-1)
	}
	return fmt.Sprintf("server %s/%s%s", s.workload.Namespace, s.workload.Name, more)
}

// inboundClient names the hazard's clients in words.
const inboundClient = "plaintext clients: no sidecar, or a DestinationRule with tls DISABLE"

// inboundServers lists the representative servers to walk: injected
// workloads behind Service ports that are server-first destinations.
func (m *Mesh) inboundServers(dests []Destination, workloads []predict.Workload) []*inboundServer {
	var out []*inboundServer
	seen := map[string]bool{}
	consider := func(d Destination, s *corev1.Service, p corev1.ServicePort) {
		key := s.Namespace + "/" + s.Name + "/" + fmt.Sprint(p.Port)
		if seen[key] || len(s.Spec.Selector) == 0 {
			return
		}
		seen[key] = true
		var srv *inboundServer
		for _, w := range workloads {
			if w.Namespace != s.Namespace || !w.Injection.Injected || !selects(s.Spec.Selector, w.Deployment.Spec.Template.Labels) {
				continue
			}
			if srv == nil {
				srv = &inboundServer{dest: d, svc: s, port: p, workload: w.Deployment, pod: w, target: targetPort(p, w.Deployment)}
			}
			srv.members++
		}
		if srv != nil && srv.target > 0 {
			out = append(out, srv)
		}
	}
	for _, d := range dests {
		if d.Any || !strings.HasPrefix(d.Owner, "Service/") || (d.Source == "declared" && d.Protocol == "tcp") {
			continue
		}
		for _, s := range m.Services {
			if "Service/"+s.Namespace+"/"+s.Name != d.Owner {
				continue
			}
			for _, p := range s.Spec.Ports {
				if int(p.Port) == int(d.Addr.Port()) {
					consider(d, s, p)
				}
			}
		}
	}
	// A Service port on a well-known server-first port is one too,
	// unless it declares a client-first protocol (grpc-web on 587): a
	// declared protocol beats the port-number guess.
	for _, s := range m.Services {
		vip, err := netip.ParseAddr(s.Spec.ClusterIP)
		if err != nil {
			continue
		}
		for _, p := range s.Spec.Ports {
			if declaresClientFirst(kube.ConvertProtocol(p.Port, p.Name, p.Protocol, p.AppProtocol)) {
				continue
			}
			proto, ok := wellKnownServerFirst[int(p.Port)]
			if !ok {
				proto, ok = wellKnownServerFirst[p.TargetPort.IntValue()]
			}
			if !ok {
				continue
			}
			consider(Destination{Name: servicePortText(s, p) + fmt.Sprintf(" (well-known %s port)", proto), Addr: netip.AddrPortFrom(vip, uint16(p.Port)),
				Source: "declared", Protocol: proto, Owner: "Service/" + s.Namespace + "/" + s.Name}, s, p)
		}
	}
	return out
}

// targetPort resolves a Service port's targetPort on a workload: a
// number, a container port name, or (unset) the port itself.
func targetPort(p corev1.ServicePort, d *appsv1.Deployment) int {
	switch {
	case p.TargetPort.StrVal != "":
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == p.TargetPort.StrVal {
					return int(cp.ContainerPort)
				}
			}
		}
		return 0
	case p.TargetPort.IntVal != 0:
		return int(p.TargetPort.IntVal)
	}
	return int(p.Port)
}

// plaintextSource is where the walked plaintext client connects from:
// TEST-NET-2 (RFC 5737), outside every pod and Service range.
var plaintextSource = netip.MustParseAddr("198.51.100.10")

// walkInbound walks the plaintext server-first connection to the
// server's target port: its pod's iptables, then its sidecar.
func walkInbound(s *inboundServer, cfg *envoy.Config, ip netip.Addr, extraAnnotations map[string]string) (predict.Prediction, error) {
	dst := netip.AddrPortFrom(ip, uint16(s.target))
	ann := maps.Clone(s.pod.Annotations)
	if ann == nil {
		ann = map[string]string{}
	}
	maps.Copy(ann, extraAnnotations)
	c, err := capture.CaptureInbound(capture.CapturePod{Annotations: ann, IP: ip}, plaintextSource, dst)
	if err != nil {
		return predict.Prediction{}, err
	}
	if !c.Redirected {
		return predict.Prediction{Outcome: scenarios.Connected, Trace: c.Trace}, nil
	}
	a := predict.Arrival{Destination: dst, Source: plaintextSource, Protocol: scenarios.Protocol(s.dest.Protocol), TLS: simulation.Plaintext, AppSends: envoy.NoClientBytes}
	if s.dest.clientFirst() {
		a.AppSends = envoy.OpaqueBytes
	}
	pr, err := predict.EvaluateInbound(cfg, a)
	pr.Trace = append(c.Trace, pr.Trace...)
	return pr, err
}

// inboundHazard walks one server and returns its finding, if the
// connection does not connect at once.
func (m *Mesh) inboundHazard(s *inboundServer, cfg *envoy.Config, ip netip.Addr) (*Finding, error) {
	pr, err := walkInbound(s, cfg, ip, nil)
	if err != nil {
		return nil, fmt.Errorf("inbound walk of %s port %d: %w", s, s.target, err)
	}
	if pr.Outcome == scenarios.Connected && pr.After == 0 {
		return nil, nil
	}
	f := &Finding{
		Class: InboundHold, Listener: "virtualInbound", Port: s.target, Verdict: pr.Verdict(), Trace: pr.Trace,
		outcome: pr.Outcome, after: pr.After, server: s, Scopes: []string{s.String()},
		Where: fmt.Sprintf("pod port %d of Service %s/%s's workloads (virtualInbound)", s.target, s.svc.Namespace, s.svc.Name),
	}
	f.Meets = inboundMeets(pr)
	f.Causes = m.inboundCauses(s)
	f.Hits = []Hit{{Destination: s.dest, Verdict: verdictText(pr), Scope: inboundClient}}
	return f, nil
}

func inboundMeets(pr predict.Prediction) string {
	switch {
	case pr.Outcome == scenarios.Hung:
		return "hangs forever at the server's sidecar (" + pr.Decision() + ")"
	case pr.Outcome == scenarios.Connected:
		return fmt.Sprintf("connects late, after %s (%s)", pr.After, pr.Decision())
	case pr.After > 0:
		return fmt.Sprintf("is closed after %s (%s)", pr.After, pr.Decision())
	}
	return fmt.Sprintf("%s (%s)", pr.Verdict(), pr.Decision())
}

// inboundCauses names what decides at virtualInbound: the server's
// Service port as Istio classifies it, and the PeerAuthentications that
// may apply (the effective mode is in the trace).
func (m *Mesh) inboundCauses(s *inboundServer) []Cause {
	inst := kube.ConvertProtocol(s.port.Port, s.port.Name, s.port.Protocol, s.port.AppProtocol)
	c := Cause{Object: "Service/" + s.svc.Namespace + "/" + s.svc.Name, Port: int(s.port.Port), PortName: s.port.Name, Origin: m.OriginOf("Service", s.svc.Namespace, s.svc.Name)}
	if s.port.AppProtocol != nil {
		c.AppProtocol = *s.port.AppProtocol
	}
	how := "Istio reads it as " + string(inst)
	if inst.IsUnsupported() {
		how = "Istio cannot classify it, so the server's sidecar sniffs it (http_inspector)"
	}
	c.Text = servicePortText(s.svc, s.port) + ": " + how
	out := []Cause{c}
	var pas []string
	for _, o := range m.OtherIstio {
		pa, ok := peerAuthentication(o)
		if !ok || (pa.Namespace != s.svc.Namespace && pa.Namespace != m.MeshConfig.GetRootNamespace()) {
			continue
		}
		if sel := pa.Spec.GetSelector().GetMatchLabels(); len(sel) > 0 && !selects(sel, s.workload.Spec.Template.Labels) {
			continue
		}
		pas = append(pas, pa.Namespace+"/"+pa.Name)
		out = append(out, Cause{Object: "PeerAuthentication/" + pa.Namespace + "/" + pa.Name, Origin: m.OriginOf("PeerAuthentication", pa.Namespace, pa.Name),
			Text: fmt.Sprintf("PeerAuthentication %s/%s applies to the server (mode %s%s)", pa.Namespace, pa.Name, pa.Spec.GetMtls().GetMode(), portLevelText(pa))})
	}
	if len(pas) == 0 {
		out = append(out, Cause{Text: "no PeerAuthentication applies to the server: Istio's default PERMISSIVE puts tls_inspector on its inbound ports, which waits for a ClientHello"})
	}
	return out
}

// peerAuthentication reads a PeerAuthentication of either served
// version (v1 and v1beta1 share the spec).
func peerAuthentication(o runtime.Object) (*securityv1.PeerAuthentication, bool) {
	switch v := o.(type) {
	case *securityv1.PeerAuthentication:
		return v, true
	case *securityv1beta1.PeerAuthentication:
		return &securityv1.PeerAuthentication{ObjectMeta: v.ObjectMeta, Spec: *v.Spec.DeepCopy()}, true
	}
	return nil, false
}

func portLevelText(pa *securityv1.PeerAuthentication) string {
	var parts []string
	for _, p := range slices.Sorted(maps.Keys(pa.Spec.GetPortLevelMtls())) {
		parts = append(parts, fmt.Sprintf("port %d: %s", p, pa.Spec.GetPortLevelMtls()[p].GetMode()))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, ", ")
}

// servers admits the mesh's workloads (Istio's injection) and lists the
// representative servers of the inbound walk.
func (m *Mesh) servers(dests []Destination) ([]*inboundServer, error) {
	workloads, err := m.admitted()
	if err != nil {
		return nil, err
	}
	return m.inboundServers(dests, workloads), nil
}

// inboundRemedies lists the remediations that fit an inbound finding;
// each is checked like any other, by generating the server's sidecar
// again with it applied.
func (m *Mesh) inboundRemedies(f *Finding, opt Options) []remedy {
	s := f.server
	obj := "Service/" + s.svc.Namespace + "/" + s.svc.Name
	port := int(s.port.Port)
	var out []remedy
	inst := kube.ConvertProtocol(s.port.Port, s.port.Name, s.port.Protocol, s.port.AppProtocol)
	if !inst.IsTCP() {
		out = append(out, remedy{kind: "server-port-tcp", change: fmt.Sprintf("declare %s port %d as TCP (%s)", obj, port, renameText(c0(m, obj, port))),
			mesh: func(c *Mesh) { c.renamePort(obj, port) }})
	}
	sel := maps.Clone(s.workload.Spec.Template.Labels)
	out = append(out, remedy{kind: "peerauthentication-disable", change: fmt.Sprintf("add a PeerAuthentication in %s selecting %s with portLevelMtls %d: DISABLE", s.svc.Namespace, labelText(sel), s.target),
		note: "that port then takes plaintext only: meshed clients reach it without mTLS",
		mesh: func(c *Mesh) {
			c.OtherIstio = append(c.OtherIstio, disablePeerAuthentication(s.svc.Namespace, sel, s.target))
		}})
	if !inst.IsTCP() {
		out = append(out, remedy{kind: "server-port-tcp+peerauthentication-disable", change: "both of the above",
			note: "that port then takes plaintext only: meshed clients reach it without mTLS",
			mesh: func(c *Mesh) {
				c.renamePort(obj, port)
				c.OtherIstio = append(c.OtherIstio, disablePeerAuthentication(s.svc.Namespace, sel, s.target))
			}})
	}
	out = append(out, remedy{kind: "exclude-inbound-ports", change: fmt.Sprintf("annotate the server pods traffic.sidecar.istio.io/excludeInboundPorts: %d", s.target),
		note: "every connection to that port bypasses the server's sidecar: no mTLS, telemetry or policy for it",
		mesh: func(*Mesh) {}, annotations: map[string]string{captureAnnotationPrefix + "excludeInboundPorts": fmt.Sprint(s.target)}})
	if m.MeshConfig.GetProtocolDetectionTimeout().AsDuration() == 0 {
		d := opt.DetectionTimeout
		out = append(out, remedy{kind: string(scenarios.ProtocolDetectionTimeout), change: fmt.Sprintf("set meshConfig.protocolDetectionTimeout: %s", d),
			note: "mesh-wide; every server-first connection through a sniffing listener starts that much late",
			mesh: func(c *Mesh) { c.MeshConfig.ProtocolDetectionTimeout = durationpb.New(d) }})
	}
	return out
}

func labelText(l map[string]string) string {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		kv = append(kv, k+"="+l[k])
	}
	return strings.Join(kv, ",")
}

func disablePeerAuthentication(ns string, sel map[string]string, port int) *securityv1.PeerAuthentication {
	pa := &securityv1.PeerAuthentication{}
	pa.APIVersion, pa.Kind = "security.istio.io/v1", "PeerAuthentication"
	pa.Name, pa.Namespace = "firstbyte-inbound-"+fmt.Sprint(port), ns
	pa.Spec.Selector = &apitype.WorkloadSelector{MatchLabels: sel}
	pa.Spec.PortLevelMtls = map[uint32]*apisecurity.PeerAuthentication_MutualTLS{uint32(port): {Mode: apisecurity.PeerAuthentication_MutualTLS_DISABLE}}
	return pa
}
