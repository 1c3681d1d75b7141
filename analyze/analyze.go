package analyze

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/predict/generator"
	"github.com/firstbyte/firstbyte/scenarios"
	"istio.io/istio/pkg/config/kube"
	"istio.io/istio/pkg/config/protocol"
	"istio.io/istio/pkg/wellknown"
)

// Hazard classes.
const (
	// InspectorHold: a listener inspector waits for the client's first
	// bytes, which a server-first client never sends.
	InspectorHold = "inspector-hold"
	// PortCapture: a wildcard listener proxies every address on the port
	// to one service (a TCP ServiceEntry without addresses, IST0134).
	PortCapture = "port-capture"
)

// Options are the analysis' knobs.
type Options struct {
	// ServerFirst are destinations named host:port; ServerFirstPorts are
	// ports on which every destination is server-first.
	ServerFirst      []string
	ServerFirstPorts []int
	// DetectionTimeout is what the protocol-detection-timeout remediation
	// sets (1s when zero).
	DetectionTimeout time.Duration
	// Parallel bounds concurrent generator runs for remediation checks.
	Parallel int
	// SkipRemediations leaves remediation checks out (a quick gate).
	SkipRemediations bool
}

// Report is the analysis of one mesh.
type Report struct {
	Istio    string     `json:"istio"`
	Input    InputStats `json:"input"`
	Scopes   []string   `json:"scopes"`
	Findings []*Finding `json:"findings"`
	// Exposed are hazards no known server-first destination meets.
	Exposed []*Finding `json:"exposed"`
	// Notes say what analyze could not do, and why.
	Notes []string `json:"notes,omitempty"`
}

// InputStats says what was read.
type InputStats struct {
	Objects      int             `json:"objects"`
	Skipped      map[string]Skip `json:"skipped,omitempty"`
	AllocatedIPs []string        `json:"allocatedClusterIPs,omitempty"`
}

// Finding is one hazard: where, what a server-first client meets, why,
// whom it hits, and what fixes it.
type Finding struct {
	ID    string `json:"id"`
	Class string `json:"class"`
	// Where is the port (every address on it) or the address it affects.
	Where    string `json:"where"`
	Listener string `json:"listener"`
	Port     int    `json:"port"`
	// Any is true when every address on the port without a listener of
	// its own is affected (a wildcard listener).
	Any   bool   `json:"any"`
	Meets string `json:"meets"`
	// Verdict is predict's outcome for a server-first client.
	Verdict string  `json:"verdict"`
	Causes  []Cause `json:"causes"`
	Hits    []Hit   `json:"hits"`
	// Scopes are the client scopes whose sidecars carry the hazard.
	Scopes       []string            `json:"scopes"`
	Remediations []RemediationResult `json:"remediations,omitempty"`
	// Scenarios are the ids of the emitted scenarios reproducing it.
	Scenarios []string     `json:"scenarios,omitempty"`
	Trace     []envoy.Step `json:"trace"`

	// captureCluster is the cluster a port capture sends everything to.
	captureCluster string
	outcome        scenarios.Outcome
	after          time.Duration
	scope          *Scope
	// server is the walked server of an inbound finding.
	server *inboundServer
	// waypoint is the walked waypoint of a waypoint-hold finding.
	waypoint *waypointHold
	// vipOwner is the Service whose own VIP listener holds (server-port
	// hazards).
	vipOwner string
	// meshTimeout and registryOnly are the mesh settings a scenario
	// reproducing the finding needs.
	meshTimeout  time.Duration
	registryOnly bool
	// meshTimed is true when the wait's timeout is meshConfig's
	// protocolDetectionTimeout, as Istio set it on the listener.
	meshTimed bool
}

// Cause is what put the hazard there, with its provenance.
type Cause struct {
	Text   string `json:"text"`
	Origin Origin `json:"origin,omitzero"`
	// Object is kind/namespace/name; Port and PortName the declaration.
	Object      string `json:"object,omitempty"`
	Port        int    `json:"port,omitempty"`
	PortName    string `json:"portName,omitempty"`
	AppProtocol string `json:"appProtocol,omitempty"`
}

// Hit is a server-first destination the hazard meets.
type Hit struct {
	Destination Destination `json:"destination"`
	Verdict     string      `json:"verdict"`
	Scope       string      `json:"scope"`
}

// Analyze walks every client scope's outbound configuration, as Istio's
// generator builds it, for server-first hazards.
func Analyze(m *Mesh, opt Options) (*Report, error) {
	if opt.DetectionTimeout == 0 {
		opt.DetectionTimeout = time.Second
	}
	if opt.Parallel == 0 {
		opt.Parallel = 2
	}
	build, err := generator.Istio()
	if err != nil {
		return nil, err
	}
	r := &Report{Istio: build.String(), Input: InputStats{Objects: m.Objects, Skipped: m.Skipped, AllocatedIPs: m.AllocatedIPs}}
	dests, err := m.destinations(opt.ServerFirst, opt.ServerFirstPorts)
	if err != nil {
		return nil, &BadInput{Err: err}
	}
	scopes, err := m.scopes()
	if err != nil {
		return nil, err
	}
	if len(scopes) == 0 && !m.ambientMeshed() {
		r.Notes = append(r.Notes, "no namespace is meshed (label istio-injection=enabled, istio.io/rev or istio.io/dataplane-mode=ambient) and no workload gets a sidecar: nothing to analyze")
		return r, nil
	}
	in, err := m.generatorInput(0)
	if err != nil {
		return nil, err
	}
	for _, s := range scopes {
		r.Scopes = append(r.Scopes, s.String())
	}
	found := map[string]*Finding{}
	var order []*Finding
	// An ambient-only mesh has no sidecar scope: generate no sidecars.
	if len(scopes) > 0 {
		err = m.scanScopes(in, scopes, dests, func(s *Scope, scan scopeScan) {
			for j, h := range scan.hazards {
				key := h.Class + "|" + h.Listener + "|" + h.Verdict + "|" + h.captureCluster
				f, ok := found[key]
				if !ok {
					f = h
					found[key] = f
					order = append(order, f)
				}
				f.Scopes = append(f.Scopes, s.String())
				for _, hit := range scan.hits[j] {
					if hit != nil {
						f.Hits = append(f.Hits, *hit)
					}
				}
			}
		})
	}
	if err != nil {
		return nil, err
	}
	servers, err := m.servers(dests)
	if err != nil {
		return nil, err
	}
	var serverCfgs []*envoy.Config
	var serverIPs []netip.Addr
	if len(servers) > 0 {
		sin, ips, err := m.inboundInput(servers)
		if err != nil {
			return nil, err
		}
		sp := make([]predict.MeshProxy, len(servers))
		for i, s := range servers {
			sp[i] = s.proxy(ips[i])
		}
		if serverCfgs, err = predict.GenerateMesh(sin, sp, "the mesh's server workloads"); err != nil {
			return nil, err
		}
		serverIPs = ips
	}
	waypoints, err := m.waypointHazards(dests) // ambient.go
	if err != nil {
		return nil, err
	}
	order = append(order, waypoints...)
	r.Scopes = append(r.Scopes, m.ambientScopes()...)
	for i, s := range servers {
		f, err := m.inboundHazard(s, serverCfgs[i], serverIPs[i])
		if err != nil {
			return nil, err
		}
		if f != nil {
			order = append(order, f)
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].Port < order[j].Port })
	for _, f := range order {
		if len(f.Hits) > 0 {
			r.Findings = append(r.Findings, f)
		} else {
			r.Exposed = append(r.Exposed, f)
		}
	}
	for i, f := range r.Findings {
		f.ID = fmt.Sprintf("F%d", i+1)
		f.meshTimeout = m.MeshConfig.GetProtocolDetectionTimeout().AsDuration()
		f.registryOnly = m.MeshConfig.GetOutboundTrafficPolicy().GetMode().String() == "REGISTRY_ONLY"
	}
	for i, f := range r.Exposed {
		f.ID = fmt.Sprintf("E%d", i+1)
	}
	if opt.SkipRemediations {
		r.Notes = append(r.Notes, "remediations not checked (--check-remediations=false)")
	} else if err := m.remediate(r.Findings, opt); err != nil {
		return nil, err
	} else if err := m.remediateWaypoints(r.Findings); err != nil {
		return nil, err
	}
	return r, nil
}

// BadInput marks errors in what the user gave (exit code 2).
type BadInput struct{ Err error }

func (e *BadInput) Error() string { return e.Err.Error() }
func (e *BadInput) Unwrap() error { return e.Err }

// scopeHazards finds the hazardous outbound listeners of one sidecar.
func (m *Mesh) scopeHazards(s *Scope, cfg *envoy.Config) ([]*Finding, error) {
	var out []*Finding
	check := func(name string, dst netip.AddrPort, any bool) error {
		ld, err := cfg.ChooseListener(dst)
		if err != nil {
			return err
		}
		if ld.Listener != name {
			return nil
		}
		port := int(dst.Port())
		if any && name == VirtualOutbound {
			port = 0 // virtualOutbound takes every port without a listener of its own
		}
		if len(ld.Waiting) > 0 {
			pr, err := predict.Evaluate(cfg, predict.Connection{Destination: dst, ClientSends: envoy.NoClientBytes})
			if err != nil {
				return err
			}
			f := &Finding{Class: InspectorHold, Listener: name, Port: port, Any: any, Verdict: pr.Verdict(), Trace: pr.Trace, outcome: pr.Outcome, after: pr.After, scope: s}
			f.Meets = meets(pr, ld)
			f.Where = where(name, dst, any)
			f.Causes, f.vipOwner = m.inspectorCauses(cfg, name, dst, any)
			tc, fromMesh := m.timeoutCause(cfg, ld)
			f.Causes, f.meshTimed = append(f.Causes, tc), fromMesh
			out = append(out, f)
			return nil
		}
		if !any {
			return nil
		}
		cd, err := cfg.ChooseChain(dst, envoy.NoClientBytes)
		if err != nil {
			return err
		}
		if cd.NetworkFilter != wellknown.TCPProxy || isPassthrough(cd.Cluster) {
			return nil
		}
		pr, err := predict.Evaluate(cfg, predict.Connection{Destination: dst, ClientSends: envoy.NoClientBytes})
		if err != nil {
			return err
		}
		f := &Finding{Class: PortCapture, Listener: name, Port: port, Any: true, Verdict: pr.Verdict(), Trace: pr.Trace, outcome: pr.Outcome, scope: s, captureCluster: cd.Cluster}
		f.Where = where(name, dst, true)
		f.Meets = fmt.Sprintf("is proxied to %s, whatever address it dialled", clusterHost(cd.Cluster))
		f.Causes = m.captureCauses(cd.Cluster, port)
		out = append(out, f)
		return nil
	}
	for _, name := range cfg.OutboundListeners() {
		ap, ok := cfg.ListenerAddress(name)
		if !ok {
			continue
		}
		if ap.Addr().IsUnspecified() {
			if err := check(name, netip.AddrPortFrom(ProbeIP, ap.Port()), true); err != nil {
				return nil, err
			}
			continue
		}
		if !cfg.HasListenerFilters(name) {
			continue // an address-specific listener without filters holds nothing
		}
		if err := check(name, ap, false); err != nil {
			return nil, err
		}
	}
	// virtualOutbound itself, for ports with no listener (its listener
	// filters, e.g. ALLOW_ANY_DYNAMIC_DNS): probed on port 1, which no
	// mesh gives a listener, and reported for every port (Port 0).
	if ld, err := cfg.ChooseListener(netip.AddrPortFrom(ProbeIP, 1)); err == nil && ld.Listener != "" && len(ld.Waiting) > 0 {
		if err := check(ld.Listener, netip.AddrPortFrom(ProbeIP, 1), true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func isPassthrough(c string) bool {
	switch c {
	case "PassthroughCluster", "BlackHoleCluster", "InboundPassthroughCluster", "InboundPassthroughClusterIpv4", "InboundPassthroughClusterIpv6":
		return true
	}
	return c == ""
}

// clusterHost is the host of an outbound|port|subset|host cluster.
func clusterHost(c string) string {
	parts := strings.Split(c, "|")
	if len(parts) == 4 {
		return parts[3] + ":" + parts[1]
	}
	return c
}

// VirtualOutbound is the listener Istio's iptables redirect every
// outbound connection to; it hands each on to the listener for its
// address and port, and keeps those with none.
const VirtualOutbound = "virtualOutbound"

func where(listener string, dst netip.AddrPort, any bool) string {
	if any && listener == VirtualOutbound {
		return "every port and address without a listener of its own (" + listener + ")"
	}
	if any {
		return fmt.Sprintf("port %d, every address without a listener of its own (%s)", dst.Port(), listener)
	}
	return fmt.Sprintf("%s (%s)", dst, listener)
}

// meets says in words what a server-first client meets.
func meets(pr predict.Prediction, ld envoy.ListenerDecision) string {
	held := strings.Join(ld.Waiting, " and ")
	switch {
	case pr.Outcome == scenarios.Hung:
		return fmt.Sprintf("hangs forever (%s waits for client bytes, listener_filters_timeout 0s)", held)
	case pr.Outcome == scenarios.Connected && pr.After > 0:
		return fmt.Sprintf("connects late, after %s (%s gives up)", pr.After, held)
	case pr.Outcome == scenarios.Reset && ld.Timeout > 0:
		return fmt.Sprintf("is closed after %s (%s gives up, then %s)", ld.Timeout, held, pr.Decision())
	default:
		return fmt.Sprintf("%s (%s)", pr.Verdict(), pr.Decision())
	}
}

// inspectorCauses names what put an inspector on the listener: the
// Service and ServiceEntry ports on its port that Istio reads as HTTP or
// cannot classify (Istio's own ConvertProtocol and Parse), narrowed to
// those the listener's HTTP routes serve.
func (m *Mesh) inspectorCauses(cfg *envoy.Config, listener string, dst netip.AddrPort, any bool) ([]Cause, string) {
	port := int(dst.Port())
	var out []Cause
	vipOwner := ""
	// Only a wildcard listener's causes are filtered by its route's
	// domains; an address-specific one's owner is the Service at the address.
	domains := map[string]bool{}
	if any {
		for _, d := range cfg.RouteDomains(fmt.Sprint(port)) {
			domains[d] = true
		}
	}
	ip := ""
	if !any {
		ip = dst.Addr().String()
	}
	candidates := m.servicesOnPort(port, ip)
	if any && len(domains) > 0 {
		if routed, ok := m.servicesRouted(port, domains); ok {
			candidates = routed
		}
	}
	for _, s := range candidates {
		if !any && s.Spec.ClusterIP != ip {
			continue
		}
		for _, p := range s.Spec.Ports {
			if int(p.Port) != port {
				continue
			}
			inst := kube.ConvertProtocol(p.Port, p.Name, p.Protocol, p.AppProtocol)
			if !inst.IsHTTP() && !inst.IsUnsupported() && !inst.IsHTTP2() && !inst.IsGRPC() {
				continue
			}
			if any && len(domains) > 0 && !domains[fqdn(s)] && !domains[fqdn(s)+":"+fmt.Sprint(port)] {
				continue
			}
			c := Cause{Object: "Service/" + s.Namespace + "/" + s.Name, Port: port, PortName: p.Name, Origin: m.OriginOf("Service", s.Namespace, s.Name)}
			if p.AppProtocol != nil {
				c.AppProtocol = *p.AppProtocol
			}
			how := "Istio reads it as " + string(inst)
			if inst.IsUnsupported() {
				how = "Istio cannot classify it (not an Istio protocol name, not a well-known port), so it sniffs"
			}
			c.Text = servicePortText(s, p) + ": " + how
			out = append(out, c)
			if !any {
				vipOwner = c.Object
			}
		}
	}
	for _, se := range m.ServiceEntries {
		for _, p := range se.Spec.Ports {
			if int(p.Number) != port {
				continue
			}
			inst := protocol.Parse(p.Protocol)
			if !inst.IsHTTP() && !inst.IsUnsupported() && !inst.IsHTTP2() && !inst.IsGRPC() {
				continue
			}
			out = append(out, Cause{Object: "ServiceEntry/" + se.Namespace + "/" + se.Name, Port: port, PortName: p.Name, Origin: m.OriginOf("ServiceEntry", se.Namespace, se.Name),
				Text: fmt.Sprintf("ServiceEntry %s/%s port %d (name %q, protocol %q): Istio reads it as %s", se.Namespace, se.Name, port, p.Name, p.Protocol, inst)})
		}
	}
	if mode := m.MeshConfig.GetOutboundTrafficPolicy().GetMode().String(); strings.Contains(mode, "DYNAMIC_DNS") && listener == VirtualOutbound {
		out = append(out, Cause{Text: "meshConfig.outboundTrafficPolicy.mode " + mode + " puts listener filters on virtualOutbound", Origin: m.MeshOrigin})
	}
	if len(out) == 0 {
		out = append(out, Cause{Text: "Istio's generator put the inspector on " + listener + "; no Service or ServiceEntry port in the input explains it (a mesh setting or an EnvoyFilter?)"})
	}
	return out, vipOwner
}

// timeoutCause says how long the listener that decides a silent client's
// wait holds it, and what Envoy does then, from the generated listener:
// its listener_filters_timeout (Istio sets meshConfig's
// protocolDetectionTimeout there on the listeners it sniffs), or, unset,
// Envoy's default (envoy.DefaultListenerFiltersTimeout). fromMesh
// reports whether the timeout is the mesh setting's, so that changing
// protocolDetectionTimeout can change it.
func (m *Mesh) timeoutCause(cfg *envoy.Config, ld envoy.ListenerDecision) (c Cause, fromMesh bool) {
	then := "then Envoy closes the connection (no continue_on_listener_filters_timeout)"
	if ld.ContinueOnTimeout {
		then = "then Envoy goes on with no protocol detected (continue_on_listener_filters_timeout)"
	}
	l := cfg.Listener(ld.Decider)
	if l == nil || l.GetListenerFiltersTimeout() == nil {
		return Cause{Text: fmt.Sprintf("%s sets no listener_filters_timeout: Envoy's default of %s applies, %s", ld.Decider, envoy.DefaultListenerFiltersTimeout, then)}, false
	}
	wait := fmt.Sprintf("%s, %s", ld.Timeout, then)
	if ld.Timeout == 0 {
		wait = "0s: no timer, it waits forever"
	}
	c = Cause{Text: fmt.Sprintf("%s sets listener_filters_timeout %s", ld.Decider, wait)}
	d := m.MeshConfig.GetProtocolDetectionTimeout().AsDuration()
	if d != ld.Timeout {
		return c, false
	}
	if strings.Contains(m.MeshConfigYAML, "protocolDetectionTimeout") {
		c.Text += fmt.Sprintf(" (meshConfig.protocolDetectionTimeout %s)", d)
		c.Origin = m.MeshOrigin
	} else {
		c.Text += fmt.Sprintf(" (meshConfig.protocolDetectionTimeout, Istio's default %s)", d)
	}
	return c, true
}

// captureCauses names the ServiceEntry whose cluster a wildcard TCP
// listener proxies to.
func (m *Mesh) captureCauses(cluster string, port int) []Cause {
	host := strings.TrimSuffix(clusterHost(cluster), fmt.Sprintf(":%d", port))
	var out []Cause
	for _, se := range m.ServiceEntries {
		for _, h := range se.Spec.Hosts {
			if h != host {
				continue
			}
			out = append(out, Cause{Object: "ServiceEntry/" + se.Namespace + "/" + se.Name, Port: port, Origin: m.OriginOf("ServiceEntry", se.Namespace, se.Name),
				Text: fmt.Sprintf("ServiceEntry %s/%s (host %s) declares TCP port %d without addresses, so Istio gives it the wildcard listener 0.0.0.0_%d (istioctl analyze IST0134)", se.Namespace, se.Name, host, port, port)})
		}
	}
	if len(out) == 0 {
		out = append(out, Cause{Text: "Istio's generator proxies every address on the port to " + cluster})
	}
	return out
}

// hits walks a destination from the scope's pod (its iptables, then its
// sidecar) and reports whether the hazard meets it.
func hits(s *Scope, cfg *envoy.Config, f *Finding, d Destination) (*Hit, error) {
	if int(d.Addr.Port()) != f.Port && f.Listener != VirtualOutbound {
		return nil, nil
	}
	pr, err := walkDestination(s, cfg, d, nil)
	if err != nil {
		return nil, err
	}
	if pr.Listener != f.Listener {
		return nil, nil
	}
	switch f.Class {
	case InspectorHold:
		if pr.Outcome == scenarios.Connected && pr.After == 0 {
			return nil, nil
		}
	case PortCapture:
		if pr.Cluster != f.captureCluster || (d.ownerSE != "" && slicesContainsCause(f.Causes, d.ownerSE)) || slicesContainsCause(f.Causes, d.Owner) {
			return nil, nil
		}
	}
	return &Hit{Destination: d, Verdict: verdictText(pr), Scope: s.String()}, nil
}

func slicesContainsCause(cs []Cause, obj string) bool {
	for _, c := range cs {
		if obj != "" && c.Object == obj {
			return true
		}
	}
	return false
}

func verdictText(pr predict.Prediction) string {
	v := pr.Verdict()
	if pr.Cluster != "" && pr.Outcome == scenarios.Connected && !isPassthrough(pr.Cluster) {
		v += " via " + pr.Cluster
	}
	return v
}

// walkDestination walks a connection from the scope's pod to d.
func walkDestination(s *Scope, cfg *envoy.Config, d Destination, extraAnnotations map[string]string) (predict.Prediction, error) {
	conn := predict.Connection{Destination: d.Addr, ClientSends: envoy.NoClientBytes}
	if d.clientFirst() {
		conn.ClientSends = envoy.OpaqueBytes
	}
	return predict.Walk(s.capturePod(extraAnnotations), cfg, conn, predict.AppUID)
}
