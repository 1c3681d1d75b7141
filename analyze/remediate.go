package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/scenarios"
	"google.golang.org/protobuf/types/known/durationpb"
	apinetworking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Remediation verdicts.
const (
	Fixes     = "fixes"
	FixesLate = "fixes, late"
	// FixesSome: some hits connect with it, others do not;
	// RemediationResult.Fixed names the ones it fixes.
	FixesSome = "fixes some"
	NoFix     = "does not fix"
)

// RemediationResult is one remediation, applied to the mesh and checked
// by running Istio's generator (and iptables rules) again.
type RemediationResult struct {
	// Kind is the scenario model's name for it where it has one
	// (serviceentry-tcp, port-separation, ...).
	Kind   string `json:"kind"`
	Change string `json:"change"`
	// Verdict is fixes, "fixes, late" or "does not fix"; Outcomes are the
	// hits' predicted outcomes with it applied.
	Verdict  string   `json:"verdict"`
	Outcomes []string `json:"outcomes"`
	// Fixed names the hits it fixes when it fixes only some (FixesSome).
	Fixed []string `json:"fixed,omitempty"`
	// Note says what to weigh before applying it.
	Note string `json:"note,omitempty"`

	after time.Duration
}

// remedy is a remediation before it is checked: how it changes the mesh
// and the client pod's annotations.
type remedy struct {
	kind, change, note string
	mesh               func(*Mesh)
	annotations        map[string]string
}

// remediate checks every applicable remediation of each finding.
func (m *Mesh) remediate(findings []*Finding, opt Options) error {
	type job struct {
		f *Finding
		r remedy
		i int
	}
	var jobs []job
	for _, f := range findings {
		rs := m.remedies(f, opt)
		f.Remediations = make([]RemediationResult, len(rs))
		for i, r := range rs {
			jobs = append(jobs, job{f, r, i})
		}
	}
	// The port's slice of the mesh is enough for Istio to build that
	// port's listeners; each finding first checks that the slice still
	// shows the hazard, else its checks run on the whole mesh.
	// Inbound findings need no such check: check generates them from
	// the server's own slice (inboundInput) whatever the port.
	slice := map[*Finding]int{}
	for _, f := range findings {
		if f.server != nil || f.waypoint != nil {
			continue
		}
		port := f.Port
		if f.Listener == VirtualOutbound {
			port = 0
		}
		res, err := m.check(f, remedy{kind: "none", mesh: func(*Mesh) {}}, port)
		if err != nil {
			return err
		}
		if res.Verdict == Fixes || !sameOutcomes(res, f) {
			port = 0
		}
		slice[f] = port
	}
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, max(1, opt.Parallel))
	var wg sync.WaitGroup
	for n, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			res, err := m.check(j.f, j.r, slice[j.f])
			j.f.Remediations[j.i], errs[n] = res, err
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func sameOutcomes(r RemediationResult, f *Finding) bool {
	if len(r.Outcomes) != len(f.Hits) {
		return false
	}
	for i, h := range f.Hits {
		if r.Outcomes[i] != h.Verdict {
			return false
		}
	}
	return true
}

// check applies a remedy to a copy of the mesh, runs Istio's generator
// for the finding's scope and walks every hit again.
func (m *Mesh) check(f *Finding, r remedy, port int) (RemediationResult, error) {
	res := RemediationResult{Kind: r.kind, Change: r.change, Note: r.note}
	c := m.clone()
	r.mesh(c)
	in, err := c.generatorInput(port)
	if err != nil {
		return res, err
	}
	proxy := f.scope.proxy
	walk := func(cfg *envoy.Config, h Hit) (predict.Prediction, error) {
		return walkDestination(f.scope, cfg, h.Destination, r.annotations)
	}
	if f.server != nil {
		sin, ips, err := c.inboundInput([]*inboundServer{f.server})
		if err != nil {
			return res, err
		}
		in, proxy = sin, func() predict.MeshProxy { return f.server.proxy(ips[0]) }
		walk = func(cfg *envoy.Config, _ Hit) (predict.Prediction, error) {
			return walkInbound(f.server, cfg, ips[0], r.annotations)
		}
	}
	cfgs, err := predict.GenerateMesh(in, []predict.MeshProxy{proxy()}, "the mesh with "+r.kind+" applied")
	if err != nil {
		return res, err
	}
	var fixed []string
	late := time.Duration(0)
	for _, h := range f.Hits {
		pr, err := walk(cfgs[0], h)
		if err != nil {
			return res, err
		}
		res.Outcomes = append(res.Outcomes, verdictText(pr))
		switch {
		case pr.Outcome != scenarios.Connected:
		case f.Class == PortCapture && pr.Cluster == f.captureCluster:
		default:
			late = max(late, pr.After)
			fixed = append(fixed, h.Destination.Name)
		}
	}
	switch {
	case len(fixed) == 0:
		res.Verdict = NoFix
	case len(fixed) < len(f.Hits):
		res.Verdict, res.Fixed = FixesSome, fixed
	case late > 0:
		res.Verdict, res.after = FixesLate, late
	default:
		res.Verdict = Fixes
	}
	return res, nil
}

// remedies lists the remediations that fit a finding.
func (m *Mesh) remedies(f *Finding, opt Options) []remedy {
	if f.waypoint != nil {
		return nil // remediateWaypoints (ambient.go)
	}
	if f.server != nil {
		return m.inboundRemedies(f, opt)
	}
	var out []remedy
	// external are the hits' addresses outside the registry; hitPorts
	// the ports the hits dial (one, but for virtualOutbound's findings,
	// which take every port).
	var external []netip.AddrPort
	var hitPorts []int
	allExternal := true
	for _, h := range f.Hits {
		d := h.Destination
		if !d.External {
			allExternal = false
		}
		if d.External && !d.Any && !slices.Contains(external, d.Addr) {
			external = append(external, d.Addr)
		}
		if p := int(d.Addr.Port()); !slices.Contains(hitPorts, p) {
			hitPorts = append(hitPorts, p)
		}
	}
	slices.Sort(hitPorts)
	externalIPs := uniqueAddrs(external)
	port := f.Port
	ns := f.scope.Namespace
	colliders := causeObjects(f.Causes)

	if f.Class == PortCapture {
		for _, obj := range colliders {
			se := obj
			out = append(out, remedy{kind: "serviceentry-addresses", change: fmt.Sprintf("give %s addresses (here %s, from the class E range Istio's auto-allocation uses) so it gets an address-specific listener", se, autoAddress(se)),
				note: "use the addresses the host really resolves to, or enable DNS capture with auto-allocation",
				mesh: func(c *Mesh) {
					for _, x := range c.ServiceEntries {
						if "ServiceEntry/"+x.Namespace+"/"+x.Name == se {
							x.Spec.Addresses = []string{autoAddress(se)}
						}
					}
				}})
		}
	}
	if len(external) > 0 && f.Class == InspectorHold {
		aps := slices.Clone(external)
		out = append(out, remedy{kind: string(scenarios.ServiceEntryTCP), change: "add a MESH_EXTERNAL ServiceEntry, protocol TCP, " + serviceEntryText(aps),
			mesh: func(c *Mesh) {
				for _, ap := range aps {
					c.ServiceEntries = append(c.ServiceEntries, tcpServiceEntry(ns, ap.Addr(), int(ap.Port())))
				}
			}})
	}
	if f.Class == InspectorHold && f.vipOwner == "" {
		for _, obj := range colliders {
			obj := obj
			out = append(out, remedy{kind: string(scenarios.ColliderPortTCP), change: fmt.Sprintf("declare %s port %d as TCP (%s)", obj, port, renameText(c0(m, obj, port))),
				note: "only if that port really carries no HTTP: its HTTP routing and telemetry go", mesh: func(c *Mesh) { c.renamePort(obj, port) }})
		}
		if len(colliders) > 0 {
			to := m.freePort(port)
			out = append(out, remedy{kind: string(scenarios.PortSeparation), change: fmt.Sprintf("move %s from port %d to %d", strings.Join(colliders, ", "), port, to),
				note: "its clients must dial the new port", mesh: func(c *Mesh) { c.movePort(colliders, port, to) }})
		}
	}
	if f.Class == InspectorHold && f.vipOwner != "" {
		obj := f.vipOwner
		out = append(out, remedy{kind: "server-port-tcp", change: fmt.Sprintf("declare %s port %d as TCP (%s)", obj, port, renameText(c0(m, obj, port))),
			mesh: func(c *Mesh) { c.renamePort(obj, port) }})
	}
	if f.Class == InspectorHold && f.meshTimed && m.MeshConfig.GetProtocolDetectionTimeout().AsDuration() == 0 {
		d := opt.DetectionTimeout
		out = append(out, remedy{kind: string(scenarios.ProtocolDetectionTimeout), change: fmt.Sprintf("set meshConfig.protocolDetectionTimeout: %s", d),
			note: "mesh-wide; every server-first connection through a sniffing listener starts that much late",
			mesh: func(c *Mesh) { c.MeshConfig.ProtocolDetectionTimeout = durationpb.New(d) }})
	}
	if f.Class == InspectorHold && strings.Contains(m.MeshConfig.GetOutboundTrafficPolicy().GetMode().String(), "DYNAMIC_DNS") {
		out = append(out, m.sidecarOutboundPolicy(f))
	}
	if len(externalIPs) > 0 {
		out = append(out, remedy{kind: string(scenarios.ExcludeIPRanges), change: fmt.Sprintf("annotate the client pods traffic.sidecar.istio.io/excludeOutboundIPRanges: %s", joinAddrs(externalIPs, "/32")),
			note: "the connection bypasses the sidecar (no mesh telemetry or policy for it)",
			mesh: func(*Mesh) {}, annotations: map[string]string{captureAnnotationPrefix + "excludeOutboundIPRanges": joinAddrs(externalIPs, "/32")}})
	}
	if allExternal && len(hitPorts) > 0 {
		ports := joinInts(hitPorts)
		out = append(out, remedy{kind: string(scenarios.ExcludePorts), change: fmt.Sprintf("annotate the client pods traffic.sidecar.istio.io/excludeOutboundPorts: %s", ports),
			note: fmt.Sprintf("every connection on port %s bypasses the sidecar, mesh Services on it included", ports),
			mesh: func(*Mesh) {}, annotations: map[string]string{captureAnnotationPrefix + "excludeOutboundPorts": ports}})
	}
	if f.scope.Sidecar == "" && len(colliders) > 0 && f.vipOwner == "" {
		hide := map[string]bool{}
		ok := true
		for _, obj := range colliders {
			cns := strings.Split(obj, "/")[1]
			if cns == ns {
				ok = false
			}
			hide[cns] = true
		}
		for _, h := range f.Hits {
			if o := h.Destination.Owner; o != "" && hide[strings.Split(o, "/")[1]] {
				ok = false
			}
		}
		if ok {
			hosts := []string{"./*", m.MeshConfig.GetRootNamespace() + "/*"}
			for n := range m.Namespaces {
				if !hide[n] && n != ns && n != m.MeshConfig.GetRootNamespace() {
					hosts = append(hosts, n+"/*")
				}
			}
			slices.Sort(hosts[2:])
			var hidden []string
			for n := range hide {
				hidden = append(hidden, n)
			}
			slices.Sort(hidden)
			out = append(out, remedy{kind: string(scenarios.SidecarEgress), change: fmt.Sprintf("add a Sidecar in namespace %s (and each other client namespace outside %s) whose egress hosts leave out namespace %s", ns, strings.Join(hidden, ", "), strings.Join(hidden, ", ")),
				note: "its workloads then cannot reach those namespaces' services through the mesh",
				mesh: func(c *Mesh) { c.Sidecars = append(c.Sidecars, egressSidecar(ns, hosts)) }})
		}
	}
	return out
}

// sidecarOutboundPolicy overrides the mesh's outboundTrafficPolicy for
// the finding's client namespace with a Sidecar whose own mode is
// ALLOW_ANY (Istio's SidecarScope takes the Sidecar's policy over
// meshConfig's): the scope's Sidecar gets the field, or, with none, a
// Sidecar without egress (every namespace stays visible) is added, as the
// catalogue's sidecar-outbound-policy rows do.
func (m *Mesh) sidecarOutboundPolicy(f *Finding) remedy {
	ns := f.scope.Namespace
	policy := &apinetworking.OutboundTrafficPolicy{Mode: apinetworking.OutboundTrafficPolicy_ALLOW_ANY}
	r := remedy{kind: string(scenarios.SidecarOutboundPolicy),
		note: "only that namespace's sidecars change; a Service port that sniffs (http, unnamed) may then hold a server-first client on its own listener, which the check walks"}
	if sc := f.scope.Sidecar; sc != "" {
		r.change = fmt.Sprintf("set outboundTrafficPolicy mode ALLOW_ANY on Sidecar %s", sc)
		r.mesh = func(c *Mesh) {
			for i, x := range c.Sidecars {
				if x.Namespace+"/"+x.Name == sc {
					c.Sidecars[i] = x.DeepCopy()
					c.Sidecars[i].Spec.OutboundTrafficPolicy = policy
				}
			}
		}
		return r
	}
	r.change = fmt.Sprintf("add a Sidecar in namespace %s (and each other client namespace of %s) with outboundTrafficPolicy mode ALLOW_ANY and no egress", ns, f.ID)
	r.mesh = func(c *Mesh) {
		c.Sidecars = append(c.Sidecars, &networkingv1.Sidecar{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "Sidecar"},
			ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns},
			Spec:       apinetworking.Sidecar{OutboundTrafficPolicy: policy},
		})
	}
	return r
}

// serviceEntryText names the addresses and ports a TCP ServiceEntry
// remediation registers, grouped by port.
func serviceEntryText(aps []netip.AddrPort) string {
	byPort := map[int][]netip.Addr{}
	var ports []int
	for _, ap := range aps {
		p := int(ap.Port())
		if _, ok := byPort[p]; !ok {
			ports = append(ports, p)
		}
		byPort[p] = append(byPort[p], ap.Addr())
	}
	slices.Sort(ports)
	var parts []string
	for _, p := range ports {
		parts = append(parts, fmt.Sprintf("port %d, addresses %s", p, joinAddrs(byPort[p], "/32")))
	}
	return strings.Join(parts, "; ")
}

func uniqueAddrs(aps []netip.AddrPort) []netip.Addr {
	var out []netip.Addr
	for _, ap := range aps {
		if !slices.Contains(out, ap.Addr()) {
			out = append(out, ap.Addr())
		}
	}
	return out
}

func joinInts(in []int) string {
	s := make([]string, len(in))
	for i, v := range in {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ",")
}

func causeObjects(cs []Cause) []string {
	var out []string
	for _, c := range cs {
		if c.Object != "" && !slices.Contains(out, c.Object) {
			out = append(out, c.Object)
		}
	}
	return out
}

func joinAddrs(ips []netip.Addr, suffix string) string {
	var s []string
	for _, ip := range ips {
		s = append(s, ip.String()+suffix)
	}
	return strings.Join(s, ",")
}

// autoAddress is a stable address from 240.240.0.0/16 for a ServiceEntry.
func autoAddress(key string) string {
	var h uint32 = 2166136261
	for _, b := range []byte(key) {
		h = (h ^ uint32(b)) * 16777619
	}
	return fmt.Sprintf("240.240.%d.%d", (h>>8)%256, h%254+1)
}

func tcpServiceEntry(ns string, ip netip.Addr, port int) *networkingv1.ServiceEntry {
	name := fmt.Sprintf("firstbyte-%s-%d", strings.NewReplacer(".", "-", ":", "-").Replace(ip.String()), port)
	return &networkingv1.ServiceEntry{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "ServiceEntry"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: apinetworking.ServiceEntry{
			Hosts:      []string{name + ".external"},
			Addresses:  []string{ip.String() + "/32"},
			Location:   apinetworking.ServiceEntry_MESH_EXTERNAL,
			Resolution: apinetworking.ServiceEntry_STATIC,
			Ports:      []*apinetworking.ServicePort{{Number: uint32(port), Name: fmt.Sprintf("tcp-%d", port), Protocol: "TCP"}},
			Endpoints:  []*apinetworking.WorkloadEntry{{Address: ip.String()}},
		},
	}
}

func egressSidecar(ns string, hosts []string) *networkingv1.Sidecar {
	return &networkingv1.Sidecar{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "Sidecar"},
		ObjectMeta: metav1.ObjectMeta{Name: "firstbyte-egress", Namespace: ns},
		Spec:       apinetworking.Sidecar{Egress: []*apinetworking.IstioEgressListener{{Hosts: hosts}}},
	}
}

// c0 returns the Service port or ServiceEntry port of obj on port.
func c0(m *Mesh, obj string, port int) (name, appProtocol string) {
	for _, s := range m.Services {
		if "Service/"+s.Namespace+"/"+s.Name == obj {
			for _, p := range s.Spec.Ports {
				if int(p.Port) == port {
					if p.AppProtocol != nil {
						return p.Name, *p.AppProtocol
					}
					return p.Name, ""
				}
			}
		}
	}
	for _, se := range m.ServiceEntries {
		if "ServiceEntry/"+se.Namespace+"/"+se.Name == obj {
			for _, p := range se.Spec.Ports {
				if int(p.Number) == port {
					return p.Name, p.Protocol
				}
			}
		}
	}
	return "", ""
}

func renameText(name, appProtocol string) string {
	to := tcpName(name)
	s := fmt.Sprintf("port name %q → %q", name, to)
	if appProtocol != "" {
		s += fmt.Sprintf(", appProtocol/protocol %q → \"TCP\"", appProtocol)
	}
	return s
}

// tcpName is the port name with its protocol prefix replaced by tcp:
// http → tcp, http-web → tcp-web, db → tcp-db, "" → tcp.
func tcpName(name string) string {
	if name == "" {
		return "tcp"
	}
	if i := strings.IndexByte(name, '-'); i >= 0 {
		return "tcp" + name[i:]
	}
	for _, p := range []string{"http", "http2", "grpc", "grpc-web", "https", "tls", "tcp", "udp"} {
		if name == p {
			return "tcp"
		}
	}
	return "tcp-" + name
}

func (m *Mesh) renamePort(obj string, port int) {
	for _, s := range m.Services {
		if "Service/"+s.Namespace+"/"+s.Name != obj {
			continue
		}
		for i, p := range s.Spec.Ports {
			if int(p.Port) == port {
				s.Spec.Ports[i].Name = tcpName(p.Name)
				if p.AppProtocol != nil {
					tcp := "tcp"
					s.Spec.Ports[i].AppProtocol = &tcp
				}
			}
		}
	}
	for _, se := range m.ServiceEntries {
		if "ServiceEntry/"+se.Namespace+"/"+se.Name != obj {
			continue
		}
		for _, p := range se.Spec.Ports {
			if int(p.Number) == port {
				p.Protocol, p.Name = "TCP", tcpName(p.Name)
			}
		}
	}
}

// freePort is the first port above p that nothing in the mesh declares.
func (m *Mesh) freePort(p int) int {
	used := m.ports()
	for q := p + 1; q < 65536; q++ {
		if !used[q] && (q < 15000 || q > 15100) {
			return q
		}
	}
	return 1
}

func (m *Mesh) movePort(objs []string, from, to int) {
	for _, s := range m.Services {
		if !slices.Contains(objs, "Service/"+s.Namespace+"/"+s.Name) {
			continue
		}
		for i, p := range s.Spec.Ports {
			if int(p.Port) == from {
				if p.TargetPort.IntVal == 0 && p.TargetPort.StrVal == "" {
					s.Spec.Ports[i].TargetPort = intstr.FromInt32(p.Port) // the pods keep serving where they did
				}
				s.Spec.Ports[i].Port = int32(to)
			}
		}
	}
	for _, se := range m.ServiceEntries {
		if !slices.Contains(objs, "ServiceEntry/"+se.Namespace+"/"+se.Name) {
			continue
		}
		for _, p := range se.Spec.Ports {
			if int(p.Number) == from {
				p.Number = uint32(to)
			}
		}
	}
}
