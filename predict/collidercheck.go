package predict

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict/capture"
	"github.com/firstbyte/firstbyte/scenarios"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pkg/wellknown"
)

// ColliderCheckPath is the path of the collider check's request
// (targets' ColliderHTTP).
const ColliderCheckPath = "/firstbyte-collider-check"

// ColliderReach is where the collider check's request ends up.
type ColliderReach string

const (
	// ColliderAnswers: the request reaches the collider's HTTP backend,
	// which answers 200.
	ColliderAnswers ColliderReach = "answers"
	// ColliderMisrouted: the request reaches another server (the
	// protocol server), which does not answer it as the collider would.
	ColliderMisrouted ColliderReach = "misrouted"
	// ColliderFails: the request reaches no server: Envoy closes the
	// connection or answers an HTTP error itself (no route, no upstream),
	// or nothing listens where it goes.
	ColliderFails ColliderReach = "fails"
)

// ColliderCheck is the predicted collider check: an HTTP GET from the
// client pod to the collider Service (its VIP, or for a headless Service
// its pod, on the collider's port, with the Service's name as Host),
// walked through the same capture rules and the same Envoy decisions as
// the probe's connection.
type ColliderCheck struct {
	Reach ColliderReach
	// Predicted is false when the check was not walked (Why says why); its
	// expectation is then the suite's default, that the collider answers.
	Predicted bool
	// Destination and Host are the request's; Upstream is where it lands
	// when it leaves the client pod (zero when it does not).
	Destination netip.AddrPort
	Host        string
	Upstream    netip.AddrPort
	// Why is the deciding fact in one line.
	Why string
	// Walk is the request's walk (listener, chain, cluster, trace).
	Walk Prediction
}

func (c ColliderCheck) String() string {
	if !c.Predicted {
		return fmt.Sprintf("collider check not predicted (%s): expected to answer", c.Why)
	}
	return fmt.Sprintf("collider check GET http://%s%s (Host %s) %s: %s", c.Destination, ColliderCheckPath, c.Host, c.Reach, c.Why)
}

// Judge compares an observed collider check (nil: the collider answered
// 200) with the prediction: "" when they agree, else why not.
func (c ColliderCheck) Judge(observed error) string {
	switch {
	case c.Reach == ColliderAnswers && observed != nil:
		return fmt.Sprintf("%v (predicted: the collider answers: %s)", observed, c.Why)
	case c.Reach != ColliderAnswers && observed == nil:
		return fmt.Sprintf("predicted %s (%s), but the collider answered", c.Reach, c.Why)
	}
	return ""
}

// ExpectColliderCheck is the collider check's expected outcome for a
// bundle, from the shared predictor: a walked prediction when the
// bundle's topology pins the addresses the check needs (predict's and the
// local target's), else (a cluster assigns them at run time) unpredicted,
// expecting the collider to answer.
func ExpectColliderCheck(b *fixtures.Bundle) (ColliderCheck, error) {
	if why := colliderUnpredictable(b); why != "" {
		return ColliderCheck{Reach: ColliderAnswers, Why: why}, nil
	}
	return Shared().ColliderCheck(b)
}

func colliderUnpredictable(b *fixtures.Bundle) string {
	switch {
	case b.ColliderAddr == "":
		return "the scenario has no collider to check"
	}
	for _, a := range []string{b.Topology.ColliderClusterIP, b.Topology.ColliderPodIP, b.Topology.ClientPodIP} {
		if _, err := netip.ParseAddr(a); err != nil {
			return "the target assigns the collider's and the client's addresses at run time"
		}
	}
	return ""
}

// ColliderCheckDestination is where the collider check connects: what
// the collider Service's name resolves to (its ClusterIP, or for a
// headless Service its pod's IP) on the collider's port.
func ColliderCheckDestination(b *fixtures.Bundle) (netip.AddrPort, error) {
	_, p, err := net.SplitHostPort(b.ColliderAddr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("collider address %q: %w", b.ColliderAddr, err)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("collider address %q: port: %w", b.ColliderAddr, err)
	}
	host := b.Topology.ColliderClusterIP
	if b.Scenario.Collider.Type == scenarios.Headless {
		host = b.Topology.ColliderPodIP
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("scenario %s: the collider's address %q is not an IP: set Topology.ColliderClusterIP and Topology.ColliderPodIP", b.Scenario.ID, host)
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

// ColliderCheck walks the bundle's collider check: the client pod's
// capture rules, then its sidecar's listener, listener filters and filter
// chain for an HTTP/1.1 request (Evaluate, the probe's walk), the HTTP
// route for the request's Host, the cluster's endpoint, and what sits at
// that endpoint in the bundle's topology.
func (p *Predictor) ColliderCheck(b *fixtures.Bundle) (ColliderCheck, error) {
	dst, err := ColliderCheckDestination(b)
	if err != nil {
		return ColliderCheck{}, err
	}
	if b.Scenario.Ambient != nil {
		return p.ambientColliderCheck(b, dst)
	}
	c := ColliderCheck{Predicted: true, Destination: dst, Host: b.ColliderAddr}
	in, err := p.inputOf(b)
	if err != nil {
		return c, err
	}
	s := p.sides(b, in)
	conn := Connection{Destination: dst, ClientSends: envoy.HTTPRequest}
	if s.ClientSidecar == nil {
		c.Walk.Direct = "no client sidecar"
		c.Walk.add("capture", "%s: nothing captures the request", s.NoClientSidecar)
		return c.landsAt(b, dst, "the client sends it itself"), nil
	}
	captured, err := capture.CaptureOutbound(s.Client, dst, AppUID)
	if err != nil {
		return c, err
	}
	if !captured.Redirected {
		c.Walk.Direct, c.Walk.Trace = "not captured", captured.Trace
		return c.landsAt(b, dst, "not captured: the client sends it itself"), nil
	}
	cfg, err := s.ClientSidecar()
	if err != nil {
		return c, err
	}
	pr, err := Evaluate(cfg, conn)
	pr.Trace = append(captured.Trace, pr.Trace...)
	c.Walk = pr
	if err != nil {
		return c, err
	}
	cluster := pr.Cluster
	cd, err := cfg.ChooseChain(dst, envoy.HTTPRequest)
	if err != nil {
		return c, err
	}
	switch {
	case pr.Listener == "" || cd.NetworkFilter == "":
		return c.fails("the client sidecar %s the request's connection (%s)", pr.Outcome, pr.Decision()), nil
	case cd.NetworkFilter == wellknown.HTTPConnectionManager:
		// The request carries the Service's name as Host, which is what
		// the route matches (Evaluate routed the destination address).
		if cluster, err = cfg.RouteHTTP(dst, c.Host, ColliderCheckPath); err != nil {
			return c.fails("the client sidecar's HTTP connection manager answers it itself: %v", err), nil
		}
		c.Walk.Cluster = cluster
		c.Walk.add("collider check", "the request for Host %s path %s is routed to cluster %s", c.Host, ColliderCheckPath, cluster)
	case pr.Outcome != scenarios.Connected:
		return c.fails("the client sidecar's %s: %s", pr.Decision(), pr.Outcome), nil
	}
	leg, err := cfg.UpstreamLeg(cluster, dst)
	switch {
	case errors.Is(err, envoy.ErrNoUpstream):
		return c.fails("cluster %s has no upstream: Envoy ends the request itself", cluster), nil
	case errors.Is(err, envoy.ErrDynamicForwardProxy):
		// The dynamic forward proxy dials the Host, which the cluster's
		// DNS resolves to the collider Service.
		return c.landsAt(b, dst, fmt.Sprintf("cluster %s (dynamic forward proxy) dials the Host %s, the collider Service", cluster, c.Host)), nil
	case err != nil:
		return c, err
	}
	how := fmt.Sprintf("the client sidecar's %s → %s", pr.Listener, cluster)
	if leg.TLS != simulation.Plaintext {
		if leg.To.Addr().String() != b.Topology.ColliderPodIP {
			return c.fails("%s opens %s to %s, whose server is not the collider's sidecar: predict does not take it to answer", how, leg.TLS, leg.To), nil
		}
		how += fmt.Sprintf(" in %s (the collider's sidecar terminates it)", leg.TLS)
	}
	return c.landsAt(b, leg.To, how), nil
}

// landsAt finishes a check whose request reaches to: what in the
// bundle's topology listens there.
func (c ColliderCheck) landsAt(b *fixtures.Bundle, to netip.AddrPort, how string) ColliderCheck {
	c.Upstream = to
	port := int(to.Port())
	a := to.Addr().String()
	_, colliderPort, _ := net.SplitHostPort(b.ColliderAddr)
	switch {
	case (a == b.Topology.ColliderClusterIP || a == b.Topology.ColliderPodIP) && strconv.Itoa(port) == colliderPort:
		c.Reach, c.Why = ColliderAnswers, fmt.Sprintf("%s: it reaches the collider at %s", how, to)
	case (a == b.Topology.ServerIP || a == b.Topology.ServerClusterIP) && port == b.Scenario.Port:
		c.Reach, c.Why = ColliderMisrouted, fmt.Sprintf("%s: it reaches the %s server at %s, not the collider", how, b.Scenario.Protocol, to)
	default:
		c.Reach, c.Why = ColliderFails, fmt.Sprintf("%s: it goes to %s, where nothing of the scenario listens", how, to)
	}
	c.Walk.add("collider check", "%s", c.Why)
	return c
}

func (c ColliderCheck) fails(format string, args ...any) ColliderCheck {
	c.Reach, c.Why = ColliderFails, fmt.Sprintf(format, args...)
	c.Walk.add("collider check", "%s", c.Why)
	return c
}
