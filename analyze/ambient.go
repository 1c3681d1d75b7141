package analyze

// Ambient meshes (issue 21): namespaces labelled
// istio.io/dataplane-mode=ambient, waypoints (Gateways of class
// istio-waypoint) and istio.io/use-waypoint bindings. ztunnel is L4 and
// holds nothing; a waypoint is an Envoy whose main_internal listener may
// keep http_inspector on a port (listener_waypoint.go: only a port that
// every service bound to the waypoint declares with one explicit protocol,
// on a waypoint that serves no workloads, has it disabled). Which waypoint
// serves which destination is read from ztunnel's view (WDS) as istiod's
// ambient index builds it, and each waypoint's listeners from Istio's
// generator (predict.GenerateAmbientMesh); the walk is predict's
// (predict.WalkWaypoint). The hazard class is waypoint-hold.

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/scenarios"
	"istio.io/istio/pkg/config/kube"
	"istio.io/istio/pkg/config/protocol"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// WaypointHold: a waypoint's main_internal listener holds a server-first
// connection with http_inspector until Envoy's listener filter timeout.
const WaypointHold = "waypoint-hold"

// waypointHold is what a waypoint-hold finding walked: the waypoint
// (namespace/name), whether it serves workloads, the objects whose port
// declarations keep the inspector on, and the destination's owner.
type waypointHold struct {
	gateway      string
	forWorkloads bool
	colliders    []string
	owner        string
	// portName and appProtocol are the owner's declaration of the port.
	portName, appProtocol string
	// undeclared: the destination's own port declares no protocol.
	undeclared bool
}

// addWaypoint files a Gateway: waypoints are kept, other classes skipped.
func (m *Mesh) addWaypoint(gw *gatewayv1.Gateway, at Origin) bool {
	if gw.Spec.GatewayClassName != fixtures.WaypointClass {
		m.skip("Gateway of a class other than "+fixtures.WaypointClass+" (analyze reads waypoints only)", at)
		return false
	}
	if gw.Namespace == "" {
		gw.Namespace = "default"
	}
	m.Waypoints = append(m.Waypoints, gw)
	return true
}

// ambientNamespaces lists the namespaces ztunnel captures, sorted.
func (m *Mesh) ambientNamespaces() []string {
	var out []string
	for n, ns := range m.Namespaces {
		if ns.Labels[fixtures.LabelDataplaneMode] == "ambient" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// ambientMeshed: some namespace is ambient, so its pods are clients (and
// servers) of the mesh even without a sidecar.
func (m *Mesh) ambientMeshed() bool { return len(m.ambientNamespaces()) > 0 }

// ambientScopes names the ambient clients as one scope: ztunnel gives
// every ambient pod the same view.
func (m *Mesh) ambientScopes() []string {
	ns := m.ambientNamespaces()
	if len(ns) == 0 {
		return nil
	}
	return []string{"ambient namespaces (ztunnel): " + strings.Join(ns, ", ")}
}

func (m *Mesh) waypoint(key string) *gatewayv1.Gateway {
	for _, gw := range m.Waypoints {
		if gw.Namespace+"/"+gw.Name == key {
			return gw
		}
	}
	return nil
}

// bindingObjects is what binds the mesh's Services and workloads to its
// waypoints, for predict.BindingObjects.WaypointBinds.
func (m *Mesh) bindingObjects() predict.BindingObjects {
	labels := make(map[string]map[string]string, len(m.Namespaces))
	for n, ns := range m.Namespaces {
		labels[n] = ns.Labels
	}
	return predict.BindingObjects{Namespaces: labels, Services: m.Services, ServiceEntries: m.ServiceEntries, Workloads: m.Workloads, Waypoints: m.Waypoints}
}

// generateAmbient runs Istio's generator over the mesh's ambient part.
func (m *Mesh) generateAmbient(describe string) (*predict.AmbientMesh, error) {
	in, err := m.generatorInput(0)
	if err != nil {
		return nil, err
	}
	s, w := m.bindingObjects().WaypointBinds()
	return predict.GenerateAmbientMesh(in, m.Waypoints, s, w, describe)
}

// wdsService finds a destination's owner in ztunnel's view.
func (m *Mesh) wdsService(am *predict.AmbientMesh, owner string) *predict.WDSService {
	kind, rest, _ := strings.Cut(owner, "/")
	ns, name, _ := strings.Cut(rest, "/")
	hosts := []string{name + "." + ns + ".svc.cluster.local"}
	if kind == "ServiceEntry" {
		hosts = nil
		for _, se := range m.ServiceEntries {
			if se.Namespace == ns && se.Name == name {
				hosts = se.Spec.Hosts
			}
		}
	}
	for i, s := range am.Services {
		if s.Namespace == ns && slices.Contains(hosts, s.Hostname) {
			return &am.Services[i]
		}
	}
	return nil
}

// walkThroughWaypoint walks an ambient client's connection to a
// destination: ztunnel sends a service-addressed connection to the
// service's waypoint, if WDS names one (ztunnel src/proxy/outbound.rs,
// build_request), else relays it at L4.
func (m *Mesh) walkThroughWaypoint(am *predict.AmbientMesh, d Destination) (pr predict.Prediction, waypoint string, err error) {
	w := m.wdsService(am, d.Owner)
	if w == nil || w.Waypoint == "" || len(w.VIPs) == 0 {
		pr.Outcome = scenarios.Connected
		return pr, "", nil
	}
	cfg := am.Waypoints[w.Waypoint]
	if cfg == nil {
		return pr, w.Waypoint, fmt.Errorf("ztunnel's view binds %s to waypoint %s, which is not in the input: add its Gateway (class %s)", d.Owner, w.Waypoint, fixtures.WaypointClass)
	}
	conn := predict.Connection{Destination: netip.AddrPortFrom(w.VIPs[0], d.Addr.Port()), ClientSends: envoy.NoClientBytes}
	if d.clientFirst() {
		conn.ClientSends = envoy.OpaqueBytes
	}
	pr, err = predict.WalkWaypoint("waypoint "+w.Waypoint+" for "+d.Name, cfg, conn)
	return pr, w.Waypoint, err
}

// waypointHazards walks every server-first destination an ambient client
// reaches through a waypoint.
func (m *Mesh) waypointHazards(dests []Destination) ([]*Finding, error) {
	if len(m.Waypoints) == 0 || !m.ambientMeshed() {
		return nil, nil
	}
	am, err := m.generateAmbient("the mesh's ambient part")
	if err != nil {
		return nil, err
	}
	found := map[string]*Finding{}
	var out []*Finding
	for _, d := range dests {
		if d.Owner == "" {
			continue
		}
		pr, wp, err := m.walkThroughWaypoint(am, d)
		if err != nil {
			return nil, err
		}
		// Only what the waypoint itself holds is the hazard: a reset at a
		// cluster the input gives no endpoints is the input's, not Envoy's.
		if wp == "" || pr.HeldBy == "" {
			continue
		}
		port := int(d.Addr.Port())
		key := fmt.Sprintf("%s|%d|%s", wp, port, pr.Verdict())
		f := found[key]
		if f == nil {
			f = &Finding{Class: WaypointHold, Listener: "waypoint " + wp + " main_internal", Port: port, Verdict: pr.Verdict(), Trace: pr.Trace, outcome: pr.Outcome, after: pr.After}
			f.Where = fmt.Sprintf("port %d at waypoint %s (main_internal), for the services bound to it", port, wp)
			f.Meets = waypointMeets(pr)
			f.Causes, f.waypoint = m.waypointCauses(am, wp, port, d.Owner)
			f.Scopes = m.ambientScopes()
			found[key] = f
			out = append(out, f)
		}
		f.Hits = append(f.Hits, Hit{Destination: d, Verdict: verdictText(pr), Scope: "ambient clients, through waypoint " + wp})
	}
	return out, nil
}

func waypointMeets(pr predict.Prediction) string {
	switch {
	case pr.Outcome == scenarios.Reset && pr.After > 0:
		return fmt.Sprintf("is closed after %s without a byte (%s; listener_filters_timeout unset is Envoy's 15s, continue_on_listener_filters_timeout false)", pr.After, pr.HeldBy)
	case pr.Outcome == scenarios.Hung:
		return fmt.Sprintf("hangs forever (%s)", pr.HeldBy)
	}
	return fmt.Sprintf("%s (%s)", pr.Verdict(), pr.Decision())
}

// portProtocol is how Istio reads obj's declaration of port (its own
// ConvertProtocol for Services, Parse for ServiceEntries), with the text
// that names it.
func (m *Mesh) portProtocol(obj string, port int) (protocol.Instance, string, bool) {
	for _, s := range m.Services {
		if "Service/"+s.Namespace+"/"+s.Name != obj {
			continue
		}
		for _, p := range s.Spec.Ports {
			if int(p.Port) == port {
				return kube.ConvertProtocol(p.Port, p.Name, p.Protocol, p.AppProtocol), servicePortText(s, p), true
			}
		}
	}
	for _, se := range m.ServiceEntries {
		if "ServiceEntry/"+se.Namespace+"/"+se.Name != obj {
			continue
		}
		for _, p := range se.Spec.Ports {
			if int(p.Number) == port {
				return protocol.Parse(p.Protocol), fmt.Sprintf("ServiceEntry %s/%s port %d (name %q, protocol %q)", se.Namespace, se.Name, port, p.Name, p.Protocol), true
			}
		}
	}
	return "", "", false
}

// boundObjects lists the Services and ServiceEntries ztunnel's view binds
// to the waypoint, as kind/namespace/name.
func (m *Mesh) boundObjects(am *predict.AmbientMesh, wp string) []string {
	var out []string
	for _, w := range am.Services {
		if w.Waypoint != wp {
			continue
		}
		for _, s := range m.Services {
			if s.Namespace == w.Namespace && fqdn(s) == w.Hostname {
				out = append(out, "Service/"+s.Namespace+"/"+s.Name)
			}
		}
		for _, se := range m.ServiceEntries {
			if se.Namespace == w.Namespace && slices.Contains(se.Spec.Hosts, w.Hostname) && !slices.Contains(out, "ServiceEntry/"+se.Namespace+"/"+se.Name) {
				out = append(out, "ServiceEntry/"+se.Namespace+"/"+se.Name)
			}
		}
	}
	return out
}

// waypointCauses names what keeps main_internal's inspector on the port:
// a waypoint that serves workloads, or the bound services' declarations
// on the port that are not the destination's one explicit protocol.
func (m *Mesh) waypointCauses(am *predict.AmbientMesh, wp string, port int, owner string) ([]Cause, *waypointHold) {
	h := &waypointHold{gateway: wp, owner: owner}
	h.portName, h.appProtocol = c0(m, owner, port)
	gw := m.waypoint(wp)
	var out []Cause
	if f := predict.WaypointFor(gw); f == scenarios.WaypointAll || f == scenarios.WaypointWorkload {
		h.forWorkloads = true
		out = append(out, Cause{Object: "Gateway/" + wp, Origin: m.OriginOf("Gateway", gw.Namespace, gw.Name),
			Text: fmt.Sprintf("the waypoint serves workloads too (Gateway %s, %s: %s): main_internal keeps http_inspector on every port, since any port is accepted for a workload (Envoy #35958)", wp, fixtures.LabelWaypointFor, f)})
	}
	own, ownText, _ := m.portProtocol(owner, port)
	if own.IsUnsupported() {
		h.undeclared = true
		out = append(out, Cause{Object: owner, Port: port, Text: ownText + ": declares no protocol Istio knows, so the waypoint sniffs it"})
	}
	for _, obj := range m.boundObjects(am, wp) {
		p, text, ok := m.portProtocol(obj, port)
		if !ok || obj == owner || p == own && !p.IsUnsupported() {
			continue
		}
		kind, rest, _ := strings.Cut(obj, "/")
		ns, name, _ := strings.Cut(rest, "/")
		h.colliders = append(h.colliders, obj)
		c := Cause{Object: obj, Port: port, Origin: m.OriginOf(kind, ns, name)}
		c.PortName, c.AppProtocol = c0(m, obj, port)
		c.Text = fmt.Sprintf("%s: Istio reads it as %s; bound to waypoint %s beside %s (%s), so not every service there declares one explicit protocol on port %d and main_internal's filter_disabled predicate keeps http_inspector on (listener_waypoint.go)", text, p, wp, owner, own, port)
		out = append(out, c)
	}
	if len(out) == 0 {
		out = append(out, Cause{Text: "Istio's generator keeps http_inspector on main_internal for port " + fmt.Sprint(port) + "; no Service, ServiceEntry or waypoint binding in the input explains it"})
	}
	out = append(out, Cause{Text: "main_internal sets no listener_filters_timeout: Envoy's default 15s, then the socket is closed (continue_on_listener_filters_timeout false)"})
	return out, h
}

// waypointRemedy is one change to an ambient mesh.
type waypointRemedy struct {
	kind, change, note string
	mesh               func(*Mesh)
}

// waypointRemedies are the fixes that exist in ambient mode for a
// finding, each checked with the generator by remediateWaypoints.
func (m *Mesh) waypointRemedies(f *Finding) []waypointRemedy {
	h := f.waypoint
	var out []waypointRemedy
	if len(h.colliders) > 0 {
		out = append(out,
			waypointRemedy{kind: string(scenarios.ColliderPortTCP), change: "declare port " + fmt.Sprint(f.Port) + " TCP on " + strings.Join(h.colliders, ", "),
				note: "only if that port really carries no HTTP: its HTTP policies stop applying",
				mesh: func(c *Mesh) {
					for _, o := range h.colliders {
						c.renamePort(o, f.Port)
					}
				}},
			waypointRemedy{kind: string(scenarios.PortSeparation), change: fmt.Sprintf("move %s to port %d", strings.Join(h.colliders, ", "), m.freePort(f.Port)),
				note: "its clients must dial the new port",
				mesh: func(c *Mesh) { c.movePort(h.colliders, f.Port, c.freePort(f.Port)) }})
	}
	if h.undeclared {
		out = append(out, waypointRemedy{kind: "server-port-tcp", change: "declare port " + fmt.Sprint(f.Port) + " TCP on " + h.owner,
			mesh: func(c *Mesh) { c.renamePort(h.owner, f.Port) }})
	}
	kind, rest, _ := strings.Cut(h.owner, "/")
	ns, name, _ := strings.Cut(rest, "/")
	own := name + "-waypoint"
	out = append(out,
		waypointRemedy{kind: "use-waypoint-none", change: fmt.Sprintf("label %s %s=none", h.owner, fixtures.LabelUseWaypoint),
			note: "the database loses the waypoint's L7 policies; ztunnel carries it at L4",
			mesh: func(c *Mesh) { c.labelOwner(kind, ns, name, "none") }},
		waypointRemedy{kind: "own-waypoint", change: fmt.Sprintf("give %s a waypoint of its own: Gateway %s/%s (class %s, %s=service) and %s=%s on it", h.owner, ns, own, fixtures.WaypointClass, fixtures.LabelWaypointFor, fixtures.LabelUseWaypoint, own),
			note: "one more Envoy Deployment to run",
			mesh: func(c *Mesh) {
				c.Waypoints = append(slices.Clone(c.Waypoints), &gatewayv1.Gateway{
					TypeMeta:   metav1.TypeMeta{APIVersion: "gateway.networking.k8s.io/v1", Kind: "Gateway"},
					ObjectMeta: metav1.ObjectMeta{Name: own, Namespace: ns, Labels: map[string]string{fixtures.LabelWaypointFor: scenarios.WaypointService}},
					Spec: gatewayv1.GatewaySpec{GatewayClassName: fixtures.WaypointClass, Listeners: []gatewayv1.Listener{
						{Name: "mesh", Port: 15008, Protocol: "HBONE"},
					}},
				})
				c.labelOwner(kind, ns, name, own)
			}})
	if h.forWorkloads {
		gw := m.waypoint(h.gateway)
		out = append(out, waypointRemedy{kind: "waypoint-for-service", change: fmt.Sprintf("label Gateway %s %s=service (a waypoint for services only)", h.gateway, fixtures.LabelWaypointFor),
			note: "workload-addressed traffic then bypasses the waypoint",
			mesh: func(c *Mesh) {
				c.Waypoints = slices.Clone(c.Waypoints)
				for i, w := range c.Waypoints {
					if w == gw {
						w = w.DeepCopy()
						w.Labels[fixtures.LabelWaypointFor] = scenarios.WaypointService
						c.Waypoints[i] = w
					}
				}
			}})
	}
	return out
}

// labelOwner sets istio.io/use-waypoint on a Service or ServiceEntry.
func (m *Mesh) labelOwner(kind, ns, name, value string) {
	set := func(o *metav1.ObjectMeta) {
		if o.Labels == nil {
			o.Labels = map[string]string{}
		}
		o.Labels[fixtures.LabelUseWaypoint] = value
	}
	for _, s := range m.Services {
		if kind == "Service" && s.Namespace == ns && s.Name == name {
			set(&s.ObjectMeta)
		}
	}
	for _, se := range m.ServiceEntries {
		if kind == "ServiceEntry" && se.Namespace == ns && se.Name == name {
			set(&se.ObjectMeta)
		}
	}
}

// remediateWaypoints checks each waypoint-hold finding's remedies: the
// mesh with the change, through Istio's generator and ztunnel's view
// again, and every hit walked anew.
func (m *Mesh) remediateWaypoints(findings []*Finding) error {
	for _, f := range findings {
		if f.waypoint == nil {
			continue
		}
		for _, r := range m.waypointRemedies(f) {
			c := m.clone()
			r.mesh(c)
			am, err := c.generateAmbient("the mesh with " + r.kind + " applied")
			if err != nil {
				return err
			}
			res := RemediationResult{Kind: r.kind, Change: r.change, Note: r.note, Verdict: Fixes}
			for _, h := range f.Hits {
				d := h.Destination
				pr, wp, err := c.walkThroughWaypoint(am, d)
				if err != nil {
					return err
				}
				v := verdictText(pr)
				switch {
				case wp == "":
					v = "connected (no waypoint: ztunnel relays it at L4)"
				case pr.HeldBy == "":
					v = fmt.Sprintf("passes %s at once (%s)", pr.Listener, pr.Decision())
				}
				res.Outcomes = append(res.Outcomes, v)
				if wp != "" && pr.HeldBy != "" {
					res.Verdict = NoFix
				}
			}
			f.Remediations = append(f.Remediations, res)
		}
	}
	return nil
}

// ambientScenarios maps a waypoint-hold finding onto the ambient family:
// the destination as the server (its Service port, or its ServiceEntry
// port for an external one), the first colliding declaration as the
// collider, and the waypoint's binding; the remediations the scenario
// model knows become rows of their own.
func ambientScenarios(f *Finding) ([]scenarioDoc, string) {
	h := f.waypoint
	d := f.Hits[0].Destination
	proto := d.Protocol
	if proto != "smtp" && proto != "mongo" {
		proto = "mysql" // any other server-first protocol: MySQL stands in
	}
	wp := scenarios.WaypointService
	if h.forWorkloads {
		wp = scenarios.WaypointAll
	}
	placement := scenarios.InMesh
	if strings.HasPrefix(h.owner, "ServiceEntry/") {
		placement = scenarios.External
	}
	name, app := h.portName, h.appProtocol
	if placement == scenarios.External && name == "" {
		name = "unnamed"
	}
	base := scenarioDoc{Mode: string(scenarios.ModeAmbient), Waypoint: wp, Protocol: proto, Placement: string(placement), Port: f.Port,
		ServerPort: &portDoc{PortName: name, AppProtocol: app}, Collider: "none", Expect: waypointExpect(f.outcome, f.after)}
	parts := strings.Split(h.owner, "/")
	base.ID = scenarioID("analyze", "ambient", proto, fmt.Sprint(f.Port), parts[1], parts[2])
	base.Why = fmt.Sprintf("%s through waypoint %s (found by firstbyte analyze as %s): %s", h.owner, h.gateway, f.ID, f.Meets)
	if len(h.colliders) > 0 {
		cn, ca := "", ""
		for _, c := range f.Causes {
			if c.Object == h.colliders[0] {
				cn, ca = c.PortName, c.AppProtocol
			}
		}
		base.Collider = &portDoc{PortName: cn, AppProtocol: ca}
		base.Why = fmt.Sprintf("%s beside %s behind waypoint %s (found by firstbyte analyze as %s): %s", h.colliders[0], h.owner, h.gateway, f.ID, f.Meets)
	}
	out := []scenarioDoc{base}
	for _, rr := range f.Remediations {
		s := base
		switch rr.Kind {
		case string(scenarios.ColliderPortTCP), string(scenarios.PortSeparation):
			s.Remediation = rr.Kind
		case "waypoint-for-service":
			s.Waypoint = scenarios.WaypointService
		case "use-waypoint-none":
			s.ServerWaypoint = scenarios.ServerWaypointNone
		case "own-waypoint":
			s.ServerWaypoint = scenarios.ServerWaypointOwn
		default:
			continue
		}
		s.ID = scenarioID(base.ID, rr.Kind)
		s.Why = fmt.Sprintf("%s, checked by firstbyte analyze on the mesh: %s", rr.Change, rr.Verdict)
		if s.Expect = remediationExpect(rr); rr.Verdict == NoFix {
			s.Expect = base.Expect
		}
		out = append(out, s)
	}
	return out, ""
}

func waypointExpect(o scenarios.Outcome, after time.Duration) string {
	if o == scenarios.Reset && after > 0 {
		return "fails reset after " + after.String()
	}
	return expectText(o, after)
}
