package predict

// Ambient mode (issue 14): the walk client → ztunnel → waypoint → ztunnel →
// server. Istio's generator decides everything that is configuration:
//
//   - which Service or workload uses which waypoint is read from the
//     workload addresses istiod sends ztunnel (WDS, the ambient index's
//     AddressInformation), never from the labels;
//   - the waypoint's listeners (connect_terminate, main_internal) are
//     built by pilot's FakeDiscoveryServer for a model.Waypoint proxy
//     (pilot/pkg/networking/core/listener_waypoint.go), as Istio's own
//     pilot/pkg/xds/waypoint_test.go builds them;
//   - a sidecar client's listeners come from the same generator.
//
// What only the data plane decides is a rule with its source:
//
//   - ztunnel is L4: it reads no byte of the application's stream, and
//     picks the next hop from WDS alone (ztunnel src/proxy/outbound.rs,
//     build_request, at commit 62d8265 of 2026-08-20: a service-addressed
//     connection goes to the service's waypoint if it has one, and never to
//     a workload waypoint; a workload-addressed one to the workload's
//     waypoint; an address WDS does not know is passed through as TCP);
//   - ztunnel's inbound plaintext path (a client outside the mesh) relays
//     to the pod after its L4 policy check and involves no waypoint
//     (src/proxy/inbound_passthrough.rs, proxy_inbound_plaintext);
//   - the waypoint's listener filters behave as in any Envoy listener:
//     envoy.Inspect and ListenerFilters.Wait (listener_filters_timeout unset = Envoy's 15s default,
//     continue_on_listener_filters_timeout unset = close on timeout);
//   - main_internal chooses its chain with a filter_chain_matcher
//     (unified matcher): envoy.WaypointChain.

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict/capture"
	"github.com/firstbyte/firstbyte/predict/generator"
	"github.com/firstbyte/firstbyte/scenarios"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	pilotfeatures "istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/test"
	"istio.io/istio/pkg/wellknown"
	workloadapi "istio.io/istio/pkg/workloadapi"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

// waypointPod names the scenario's waypoint's configuration among a
// generation's proxies (client, server, waypoint); a server's own
// waypoint is waypointPod+"/"+its name (waypointProxy).
const waypointPod = "waypoint"

// waypointProxy is the key of a waypoint's configuration among a
// generation's proxies.
func waypointProxy(name string) string {
	if name == fixtures.WaypointName {
		return waypointPod
	}
	return waypointPod + "/" + name
}

// waypointVIP is the ClusterIP predict gives a waypoint's Service: the
// world's waypoint VIP for the scenario's waypoint, the next address for
// the server's own.
func waypointVIP(name string) netip.Addr {
	if name == fixtures.WaypointName {
		return WaypointClusterIP
	}
	return WaypointClusterIP.Next()
}

// scenarioWaypoints are the waypoint pods of a scenario (its waypoint, and
// the server's own), as admitted.
func scenarioWaypoints(b *fixtures.Bundle, pods map[string]admittedPod) ([]sidecarPod, error) {
	var out []sidecarPod
	for _, name := range []string{fixtures.WaypointName, scenarios.ServerWaypointName} {
		p, ok := pods[b.Topology.ServerNamespace+"/"+name]
		if !ok {
			continue
		}
		ip, err := netip.ParseAddr(p.pod.Status.PodIP)
		if err != nil {
			return nil, fmt.Errorf("rendering %s: waypoint pod %s has no IP: %w", b.Scenario.ID, name, err)
		}
		out = append(out, sidecarPod{Name: name, Namespace: p.pod.Namespace, Labels: p.pod.Labels, IP: ip, ServiceAccount: p.pod.Spec.ServiceAccountName})
	}
	return out, nil
}

// waypointOf is the generated configuration of the waypoint a WDS
// gateway address names (<name>.<namespace>.svc...).
func (g generatedProxies) waypointOf(via *workloadapi.GatewayAddress) *envoy.Config {
	name, _, _ := strings.Cut(via.GetHostname().GetHostname(), ".")
	return g.proxies[waypointProxy(name)]
}

// WaypointClusterIP is the ClusterIP predict gives the waypoint's Service
// (istiod's gateway controller creates it on a cluster): the one world's
// waypoint VIP.
var WaypointClusterIP = fixtures.WorldWaypointVIP

// Labels istiod's gateway deployment controller puts on a waypoint's
// Service and pods (pilot/pkg/config/kube/gateway, deploymentcontroller).
const (
	labelGatewayName    = "gateway.networking.k8s.io/gateway-name"
	labelGatewayManaged = "gateway.istio.io/managed"
)

// runningGateway is what a cluster runs for a waypoint Gateway: the
// Gateway with the status address istiod writes, and the Service and
// Deployment istiod's gateway controller creates for it.
func runningGateway(gw *gatewayv1.Gateway, vip netip.Addr) (doc string, svc *corev1.Service, d *appsv1.Deployment, err error) {
	if gw.Spec.GatewayClassName != fixtures.WaypointClass {
		return "", nil, nil, fmt.Errorf("predict knows only waypoints (gatewayClassName %s), not class %q", fixtures.WaypointClass, gw.Spec.GatewayClassName)
	}
	gw = gw.DeepCopy()
	host := fmt.Sprintf("%s.%s.svc.%s", gw.Name, gw.Namespace, constants.DefaultClusterLocalDomain)
	hostname := gatewayv1.HostnameAddressType
	gw.Status.Addresses = []gatewayv1.GatewayStatusAddress{{Type: &hostname, Value: host}}
	out, err := yaml.Marshal(gw)
	if err != nil {
		return "", nil, nil, err
	}
	labels := map[string]string{labelGatewayName: gw.Name, labelGatewayManaged: constants.ManagedGatewayMeshControllerLabel}
	hbone := "hbone"
	svc = &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: gw.Name, Namespace: gw.Namespace, Labels: labels},
		Spec: corev1.ServiceSpec{
			ClusterIP: vip.String(),
			Selector:  map[string]string{labelGatewayName: gw.Name},
			Ports: []corev1.ServicePort{{
				Name: "mesh", Port: 15008, TargetPort: intstr.FromInt32(15008), AppProtocol: &hbone, Protocol: corev1.ProtocolTCP,
			}},
		},
	}
	podLabels := map[string]string{labelGatewayName: gw.Name, labelGatewayManaged: constants.ManagedGatewayMeshControllerLabel, "sidecar.istio.io/inject": "false"}
	d = &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: gw.Name, Namespace: gw.Namespace},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
			Spec: corev1.PodSpec{ServiceAccountName: gw.Name, Containers: []corev1.Container{{
				Name: "istio-proxy", Ports: []corev1.ContainerPort{{ContainerPort: 15008, Protocol: corev1.ProtocolTCP}},
			}}},
		}},
	}
	return string(out), svc, d, nil
}

// ambientFeatures are istiod's ambient switches as the ambient profile
// sets them (PILOT_ENABLE_AMBIENT=true, and the defaults registerAmbient
// gives the flags it governs: pilot/pkg/features/ambient.go). Istio reads
// them from the environment once, at init, so predict sets the variables
// around each ambient generation instead; sidecar generations run with
// them as the default profile leaves them. profiles keeps the two apart:
// any number of generations of one profile at a time. Ambient generations
// used to take the flags alone, which serialized the 40 ambient generator
// runs of the catalogue (2.2 s of its 4.6 s on 2 cores) although they all
// want the same flags.
var profiles = newFeatureProfiles()

// featureProfiles is a lock with two shared modes, sidecar and ambient:
// holders of one mode share it, and a switch waits until the last holder
// of the other mode has left. A waiter for the other mode stops new
// holders of the current one from entering, so neither mode starves.
type featureProfiles struct {
	mu      sync.Mutex
	changed *sync.Cond
	ambient bool // the mode the flags are in
	holders int
	waiting [2]int // waiters by mode (0 sidecar, 1 ambient)
	saved   []bool // the flags' values before the ambient mode set them
}

func newFeatureProfiles() *featureProfiles {
	f := &featureProfiles{}
	f.changed = sync.NewCond(&f.mu)
	return f
}

// ambientFlags are the flags the ambient profile turns on.
func ambientFlags() []*bool {
	return []*bool{
		&pilotfeatures.EnableAmbient, &pilotfeatures.EnableAmbientWaypoints, &pilotfeatures.EnableHBONESend,
		&pilotfeatures.EnableSidecarHBONEListening, &pilotfeatures.EnableIngressWaypointRouting,
		&pilotfeatures.EnableAmbientWaypointMultiNetwork,
	}
}

func modeIndex(ambient bool) int {
	if ambient {
		return 1
	}
	return 0
}

// useFeatures sets Istio's feature flags for a sidecar or an ambient
// generation and returns the function that releases them.
func useFeatures(ambient bool) (release func()) {
	f := profiles
	f.mu.Lock()
	f.waiting[modeIndex(ambient)]++
	for f.holders > 0 && (f.ambient != ambient || f.waiting[modeIndex(!ambient)] > 0) {
		f.changed.Wait()
	}
	f.waiting[modeIndex(ambient)]--
	if f.holders == 0 && f.ambient != ambient {
		f.set(ambient)
	}
	f.holders++
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.holders--
		if f.holders == 0 {
			if f.ambient {
				f.set(false)
			}
			f.changed.Broadcast()
		}
		f.mu.Unlock()
	}
}

// set puts the flags in one mode (f.mu held, no holders).
func (f *featureProfiles) set(ambient bool) {
	vars := ambientFlags()
	if ambient {
		f.saved = make([]bool, len(vars))
		for i, v := range vars {
			f.saved[i], *v = *v, true
		}
	} else {
		for i, v := range vars {
			*v = f.saved[i]
		}
	}
	f.ambient = ambient
}

// ztunnelView is the workload addresses istiod sends every ztunnel (WDS).
type ztunnelView []*workloadapi.Address

// serviceAt returns the WDS Service whose VIP and port the client dialled.
func (z ztunnelView) serviceAt(dst netip.AddrPort) *workloadapi.Service {
	for _, a := range z {
		s := a.GetService()
		if s == nil {
			continue
		}
		for _, na := range s.GetAddresses() {
			if ip, ok := netip.AddrFromSlice(na.GetAddress()); ok && ip.Unmap() == dst.Addr() {
				return s
			}
		}
	}
	return nil
}

// workloadAt returns the WDS workload with the dialled IP.
func (z ztunnelView) workloadAt(ip netip.Addr) *workloadapi.Workload {
	for _, a := range z {
		w := a.GetWorkload()
		if w == nil {
			continue
		}
		for _, b := range w.GetAddresses() {
			if x, ok := netip.AddrFromSlice(b); ok && x.Unmap() == ip {
				return w
			}
		}
	}
	return nil
}

func gatewayText(g *workloadapi.GatewayAddress) string {
	if h := g.GetHostname(); h != nil {
		return fmt.Sprintf("%s/%s:%d", h.GetNamespace(), h.GetHostname(), g.GetHboneMtlsPort())
	}
	ip, _ := netip.AddrFromSlice(g.GetAddress().GetAddress())
	return fmt.Sprintf("%s:%d", ip, g.GetHboneMtlsPort())
}

// walkAmbient predicts an ambient scenario.
func (p *Predictor) walkAmbient(b *fixtures.Bundle, in generatorInput, conn Connection) (Prediction, error) {
	var pr Prediction
	a := b.Scenario.Ambient
	where := "the server pod is in namespace " + b.Topology.ServerNamespace + " (istio.io/dataplane-mode=ambient): ztunnel carries its traffic"
	if b.Scenario.Placement == scenarios.External {
		where = "the external server is registered by ServiceEntry " + b.Topology.ServerNamespace + "/" + fixtures.EgressServiceEntry
	}
	switch a.ServerWaypoint {
	case scenarios.ServerWaypointNone:
		where += "; the server's own istio.io/use-waypoint is none"
	case scenarios.ServerWaypointOwn:
		where += "; the server's own istio.io/use-waypoint names its own waypoint " + scenarios.ServerWaypointName + " (for services)"
	}
	pr.add("mode", "ambient: %s; waypoint %s; client %s", where, a.Waypoint, a.Client)
	if a.Client == scenarios.ClientSidecar {
		// The sidecar's walk names the connection itself.
		return p.ambientSidecarClient(b, in, conn, pr)
	}
	pr.add("connection", "%s", conn)
	switch a.Client {
	case scenarios.ClientOutside:
		pr.Direct = "client outside the mesh"
		pr.add("capture", "%s; the client namespace is not ambient: nothing captures the connection on the client's side", in.injection[ClientPod].Why)
		return ambientDelivered(b, pr, "plaintext from the client application", 0), nil
	}
	// The client's ztunnel.
	cfgs, err := p.generated(b, in)
	if err != nil {
		return pr, err
	}
	z := cfgs.ztunnel.workloads
	pr.add("config", "%s", cfgs.ztunnel.source)
	pr.add("capture", "the client namespace is ambient: istio-cni's rules in the client pod redirect the connection to its node's ztunnel, which completes the client's TCP handshake itself")
	const rule = "ztunnel src/proxy/outbound.rs build_request"
	var via *workloadapi.GatewayAddress
	switch svc, wl := z.serviceAt(conn.Destination), z.workloadAt(conn.Destination.Addr()); {
	case svc != nil && svc.GetWaypoint() != nil:
		via = svc.GetWaypoint()
		pr.add("ztunnel", "%s is Service %s/%s in WDS with waypoint %s: the connection goes to the waypoint over HBONE (%s: a service-addressed connection uses the service's waypoint)", conn.Destination, svc.GetNamespace(), svc.GetHostname(), gatewayText(via), rule)
	case svc != nil:
		pr.add("ztunnel", "%s is Service %s/%s in WDS without a waypoint: ztunnel picks its endpoint and connects to it (%s: a service-addressed connection never goes to a workload waypoint)", conn.Destination, svc.GetNamespace(), svc.GetHostname(), rule)
	case wl != nil && wl.GetWaypoint() != nil:
		via = wl.GetWaypoint()
		pr.add("ztunnel", "%s is workload %s/%s in WDS with waypoint %s: the connection goes to the waypoint over HBONE (%s)", conn.Destination.Addr(), wl.GetNamespace(), wl.GetName(), gatewayText(via), rule)
	case wl != nil:
		pr.add("ztunnel", "%s is workload %s/%s in WDS without a waypoint: ztunnel connects to it (%s)", conn.Destination.Addr(), wl.GetNamespace(), wl.GetName(), rule)
	default:
		pr.add("ztunnel", "%s is no Service or workload in WDS: ztunnel passes the connection through as plain TCP (%s, passthrough)", conn.Destination, rule)
	}
	if via == nil {
		pr.Direct = "ztunnel L4, no waypoint"
		return ambientDelivered(b, pr, "ztunnel relays the bytes without reading them (L4 only)", 0), nil
	}
	wp := cfgs.waypointOf(via)
	if wp == nil {
		return pr, fmt.Errorf("scenario %s: WDS names waypoint %s but predict generated no waypoint proxy: the fixtures render no waypoint Gateway", b.Scenario.ID, gatewayText(via))
	}
	return evaluateWaypoint("scenario "+b.Scenario.ID, wp, conn, pr)
}

// ambientDelivered finishes a connection that reaches the server without
// any Envoy in between that reads bytes.
func ambientDelivered(b *fixtures.Bundle, pr Prediction, how string, after time.Duration) Prediction {
	if b.Scenario.Placement == scenarios.InMesh {
		pr.add("server ztunnel", "the server pod's ztunnel takes the connection (HBONE from a mesh peer, or plaintext on its inbound passthrough, src/proxy/inbound_passthrough.rs) and relays it to the application after its L4 policy check; it waits for no client byte")
	}
	pr.Outcome, pr.After = scenarios.Connected, after
	if after > 0 {
		pr.add("outcome", "%s: the server's greeting flows back: connected, %s late", how, after)
	} else {
		pr.add("outcome", "%s: the server's greeting flows back: connected", how)
	}
	return pr
}

// ambientSidecarClient: the client's own sidecar decides first; a sidecar
// never sends to a waypoint (pilot/pkg/xds/endpoints/endpoint_builder.go,
// buildEnvoyLbEndpoint: "we consider this to workload traffic"), so what
// its cluster dials is the server pod, through the server's ztunnel.
func (p *Predictor) ambientSidecarClient(b *fixtures.Bundle, in generatorInput, conn Connection, pr Prediction) (Prediction, error) {
	cfg, err := p.sidecarOf(b, in, ClientPod)
	if err != nil {
		return pr, err
	}
	s := baseSides(b, in, podIPs(b.Topology)[ClientPod], podIPs(b.Topology)[ServerPod])
	c, err := capture.CaptureOutbound(s.Client, conn.Destination, AppUID)
	if err != nil {
		return pr, err
	}
	pr.Trace = append(pr.Trace, c.Trace...)
	if !c.Redirected {
		return ambientDelivered(b, pr, "not captured: the application's own connection", 0), nil
	}
	out, err := Evaluate(cfg, conn)
	pr.Trace = append(pr.Trace, out.Trace...)
	pr.Listener, pr.FilterChain, pr.Cluster, pr.HeldBy = out.Listener, out.FilterChain, out.Cluster, out.HeldBy
	if err != nil || out.Outcome != scenarios.Connected {
		pr.Outcome, pr.After = out.Outcome, out.After
		return pr, err
	}
	pr.Trace = trimOutcome(pr.Trace)
	how := "plaintext to the endpoint"
	if cl := cfg.Cluster(out.Cluster); cl != nil {
		for _, e := range envoy.UsableLbEndpoints(cfg.LoadAssignment(cl)) {
			if ia := e.GetEndpoint().GetAddress().GetEnvoyInternalAddress(); ia != nil {
				how = "HBONE through the internal listener " + ia.GetServerListenerName() + " to " + ia.GetEndpointId()
			}
		}
	}
	pr.add("client upstream", "cluster %s: a sidecar sends to the Service's endpoints, never to its waypoint (pilot/pkg/xds/endpoints/endpoint_builder.go, buildEnvoyLbEndpoint); its endpoint is reached by %s", out.Cluster, how)
	return ambientDelivered(b, pr, "the client sidecar relays the bytes", out.After), nil
}

func trimOutcome(t []envoy.Step) []envoy.Step {
	out := t[:0:0]
	for _, s := range t {
		if s.Stage != "outcome" {
			out = append(out, s)
		}
	}
	return out
}

// evaluateWaypoint walks the connection through the waypoint: HBONE to
// connect_terminate, the inner stream to main_internal, its listener
// filters, its filter_chain_matcher, the chain's network filter and
// cluster.
func evaluateWaypoint(what string, cfg *envoy.Config, conn Connection, pr Prediction) (Prediction, error) {
	pr.addConfig(cfg)
	if cfg.Listener(connectTerminate) == nil {
		return pr, fmt.Errorf("%s: the waypoint's configuration has no %s listener", what, connectTerminate)
	}
	pr.add("waypoint", "listener %s (port 15008) terminates the HBONE CONNECT for %s and hands the inner stream to the internal listener %s; the CONNECT succeeds before any application byte", connectTerminate, conn.Destination, mainInternal)
	l := cfg.Listener(mainInternal)
	if l == nil {
		return pr, fmt.Errorf("%s: the waypoint's configuration has no %s listener", what, mainInternal)
	}
	pr.Listener = "ztunnel → waypoint " + mainInternal
	in, err := envoy.Inspect(l, int(conn.Destination.Port()))
	if err != nil {
		return pr, err
	}
	for _, n := range in.Notes {
		pr.add("listener filters", "%s: %s", mainInternal, n)
	}
	waiters := strings.Join(in.Waiting, " and ")
	wait := in.Wait(conn.ClientSends)
	switch {
	case !in.Waits():
		pr.add("listener filters", "nothing waits for client bytes on %s: the filter chain is chosen at once", mainInternal)
	case wait.Kind == envoy.ChainNow:
		pr.add("listener filters", "the client's first bytes arrive at once and %s decides: %s", waiters, envoy.Detection(conn.ClientSends))
	case wait.Kind == envoy.HoldForever:
		pr.Outcome, pr.HeldBy = scenarios.Hung, "waypoint "+waiters+" (listener_filters_timeout 0s)"
		pr.add("listener filters", "%s waits for the client's first bytes with %s; the client waits for the greeting", waiters, in.TimeoutText())
		pr.add("outcome", "deadlock inside the waypoint: hung")
		return pr, nil
	case wait.Kind == envoy.CloseAfter:
		pr.Outcome, pr.After, pr.HeldBy = scenarios.Reset, wait.After, "waypoint "+waiters+" (listener_filters_timeout "+wait.After.String()+")"
		pr.add("listener filters", "%s waits for the client's first bytes with %s; the client waits for the greeting and sends nothing", waiters, in.TimeoutText())
		pr.add("outcome", "after %s Envoy closes main_internal's socket (continue_on_listener_filters_timeout is false); the inner stream ends, the waypoint resets the HBONE stream and the client's ztunnel closes the client's connection without a byte: reset", wait.After)
		return pr, nil
	case wait.Kind == envoy.ContinueAfter:
		pr.add("listener filters", "%s waits %s for the client's first bytes, then gives up with nothing detected", waiters, wait.After)
	}
	detected, after := wait.Detected, wait.After
	chain, steps, err := envoy.WaypointChain(l, conn.Destination, detected)
	for _, s := range steps {
		pr.add("filter chain", "%s", s)
	}
	if err != nil {
		return pr, fmt.Errorf("%s: %w", what, err)
	}
	pr.FilterChain = chain
	fc := envoy.ChainByName(l, chain)
	if fc == nil {
		return pr, fmt.Errorf("%s: main_internal's matcher names chain %q, which the listener does not hold", what, chain)
	}
	for _, f := range fc.GetFilters() {
		switch envoy.NetworkFilterName(f) {
		case wellknown.HTTPConnectionManager:
			switch envoy.HTTPConnectionManager(conn.ClientSends) {
			case envoy.HCMWaitsForRequest:
				pr.Outcome, pr.HeldBy = scenarios.Hung, "the waypoint's HTTP connection manager, waiting for a request"
				pr.add("network filter", "HTTP connection manager on %s: it waits for the client's request", chain)
				pr.add("outcome", "hung")
				return pr, nil
			case envoy.HCMRoutes:
				return pr, fmt.Errorf("%s: an HTTP request into the waypoint's HTTP connection manager on %s: the waypoint walk does not route HTTP", what, chain)
			}
			pr.Outcome = scenarios.ProtocolError
			pr.add("network filter", "HTTP connection manager on %s: the client's bytes are not HTTP; Envoy answers 400 and closes", chain)
			pr.add("outcome", "protocol-error")
			return pr, nil
		case wellknown.TCPProxy:
			var d envoy.ChainDecision
			d.FilterChain = chain
			if err := cfg.TCPProxy(&d, f, l); err != nil {
				return pr, err
			}
			pr.Trace = append(pr.Trace, d.Trace...)
			pr.Cluster = d.Cluster
			finishAtCluster(&pr, cfg, d.Cluster, after)
			return pr, nil
		}
	}
	return pr, fmt.Errorf("%s: waypoint chain %s has neither tcp_proxy nor an HTTP connection manager", what, chain)
}

// Waypoint listener names (pilot/pkg/networking/core: ConnectTerminate,
// MainInternalName).
const (
	connectTerminate = "connect_terminate"
	mainInternal     = "main_internal"
)

// ztunnelConfig is ztunnel's view of an ambient generation: the workload
// addresses istiod sends every ztunnel (WDS), and where they came from.
type ztunnelConfig struct {
	workloads ztunnelView
	source    string
}

// ambientConfigs adds the waypoint's listeners and ztunnel's workload
// addresses to an ambient generation's configs.
func ambientConfigs(t test.Failer, f *xds.FakeDiscoveryServer, in generatorInput, build generator.IstioBuild, out *generatedProxies) {
	z, err := waypointBound(f, in.waypointBinds)
	if err != nil {
		t.Fatalf("%v", err)
	}
	out.ztunnel = &ztunnelConfig{workloads: z, source: fmt.Sprintf("ztunnel's workload addresses (WDS, %d) from the ambient index of %s", len(z), build)}
	for _, wp := range in.waypoints {
		// A waypoint connects like a sidecar, with its own proxy type and
		// no iptables interception.
		p := sidecarProxy(wp, build)
		p.Type, p.Metadata.InterceptionMode = model.Waypoint, ""
		out.proxies[waypointProxy(wp.Name)] = generatedConfig(f, p, fmt.Sprintf("waypoint %s/%s (pod %s) generated by %s from the scenario's rendered fixtures", wp.Namespace, wp.Name, wp.IP, build))
	}
}

// waypointBinds is what must be bound to a scenario's waypoint: how many
// Services (and ServiceEntries), how many workloads.
type waypointBinds struct{ services, workloads int }

// BindingObjects are the objects whose labels bind Services,
// ServiceEntries and workloads to waypoints: namespace labels by name, and
// the waypoints (Gateways of class istio-waypoint).
type BindingObjects struct {
	Namespaces     map[string]map[string]string
	Services       []*corev1.Service
	ServiceEntries []*networkingv1.ServiceEntry
	Workloads      []*appsv1.Deployment
	Waypoints      []*gatewayv1.Gateway
}

// WaypointBinds is how many Services (and ServiceEntries) and workloads
// the labels bind to a waypoint: an object's istio.io/use-waypoint, else
// its namespace's, names a waypoint of its namespace ("none" opts out)
// whose istio.io/waypoint-for serves its kind (service by default, or
// all); Services and workloads count only in ambient namespaces, and a
// waypoint's own Service and Deployment never. The generator waits for
// ztunnel's view to show at least that many bound before it reads it
// (waypointBound): a wait condition, never a verdict; the view decides.
// predict counts a scenario's objects with it, analyze a mesh's.
func (in BindingObjects) WaypointBinds() (services, workloads int) {
	ambient := func(ns string) bool { return in.Namespaces[ns][fixtures.LabelDataplaneMode] == "ambient" }
	serves := func(ns string, labels map[string]string, what string) bool {
		v, ok := labels[fixtures.LabelUseWaypoint]
		if !ok {
			v = in.Namespaces[ns][fixtures.LabelUseWaypoint]
		}
		if v == "" || v == "none" {
			return false
		}
		for _, gw := range in.Waypoints {
			if gw.Namespace == ns && gw.Name == v {
				f := WaypointFor(gw)
				return f == what || f == scenarios.WaypointAll
			}
		}
		return false
	}
	for _, s := range in.Services {
		if !IsWaypointObject(s.Labels) && ambient(s.Namespace) && serves(s.Namespace, s.Labels, scenarios.WaypointService) {
			services++
		}
	}
	for _, se := range in.ServiceEntries {
		if serves(se.Namespace, se.Labels, scenarios.WaypointService) {
			services++
		}
	}
	for _, w := range in.Workloads {
		if !IsWaypointObject(w.Spec.Template.Labels) && ambient(w.Namespace) && serves(w.Namespace, w.Spec.Template.Labels, scenarios.WaypointWorkload) {
			workloads++
		}
	}
	return services, workloads
}

// WaypointFor is what a waypoint serves, from its istio.io/waypoint-for
// label: service (the default), workload, all or none.
func WaypointFor(gw *gatewayv1.Gateway) string {
	if v := gw.Labels[fixtures.LabelWaypointFor]; v != "" {
		return v
	}
	return scenarios.WaypointService
}

// waypointBound waits until ztunnel's view (the ambient index's WDS
// addresses) shows the waypoint binding the scenario's objects declare, and
// returns that view. The index binds services and workloads to a waypoint
// asynchronously (krt collections), and istiod builds the waypoint's
// listeners from those bindings: generated before a workload is bound, a
// waypoint "for all" looks like one that serves services only and keeps
// http_inspector off its TCP ports; generated before a collider Service
// is bound, it looks like one whose port only the server declares. On
// Istio's April master line this race flipped three ambient rows from run
// to run; the fake discovery server's own sync does not cover it. Bounded:
// a binding that never appears is an error, not a verdict.
func waypointBound(f *xds.FakeDiscoveryServer, want waypointBinds) (ztunnelView, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		addrs, _ := f.Discovery.Env.AmbientIndexes.AddressInformation(nil)
		z := make(ztunnelView, 0, len(addrs))
		for _, a := range addrs {
			z = append(z, a.Address)
		}
		got := z.binds()
		if got.services >= want.services && got.workloads >= want.workloads {
			return z, nil
		}
		if time.Now().After(deadline) {
			return z, fmt.Errorf("the ambient index did not bind the scenario's objects to their waypoint within 10s (want %d services and %d workloads bound, got %d and %d)", want.services, want.workloads, got.services, got.workloads)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// binds counts the services and the workloads the view binds to a
// waypoint.
func (z ztunnelView) binds() waypointBinds {
	var b waypointBinds
	for _, a := range z {
		if a.GetService().GetWaypoint() != nil {
			b.services++
		}
		if a.GetWorkload().GetWaypoint() != nil {
			b.workloads++
		}
	}
	return b
}
