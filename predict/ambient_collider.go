package predict

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	"istio.io/istio/pkg/wellknown"
)

// ambientColliderCheck walks the collider check of an ambient scenario:
// the client's HTTP request to the collider Service, through the client's
// ztunnel and the collider's waypoint (or the client's sidecar), by the
// same WDS view and generated waypoint as the probe. What the request
// lands on is named from the generated configuration: the waypoint chain
// (inbound-vip|<port>|<protocol>|<host>) or the sidecar cluster the
// matcher or route picks for the collider's host.
func (p *Predictor) ambientColliderCheck(b *fixtures.Bundle, dst netip.AddrPort) (ColliderCheck, error) {
	c := ColliderCheck{Predicted: true, Destination: dst, Host: b.ColliderAddr}
	_, host := colliderService(b)
	in, err := p.inputOf(b)
	if err != nil {
		return c, err
	}
	conn := Connection{Destination: dst, ClientSends: envoy.HTTPRequest}
	switch b.Scenario.Ambient.Client {
	case scenarios.ClientOutside:
		c.Walk.Direct = "client outside the mesh"
		return c.landsAt(b, dst, "the client is outside the mesh: nothing captures the request, and the collider's ztunnel relays plaintext inbound to it"), nil
	case scenarios.ClientSidecar:
		cfg, err := p.sidecarOf(b, in, ClientPod)
		if err != nil {
			return c, err
		}
		pr, err := Evaluate(cfg, conn)
		c.Walk = pr
		if err != nil {
			return c, err
		}
		cd, err := cfg.ChooseChain(dst, envoy.HTTPRequest)
		if err != nil {
			return c, err
		}
		cluster := pr.Cluster
		if cd.NetworkFilter == wellknown.HTTPConnectionManager {
			if cluster, err = cfg.RouteHTTP(dst, c.Host, ColliderCheckPath); err != nil {
				return c.fails("the client sidecar's HTTP connection manager answers it itself: %v", err), nil
			}
		}
		// A sidecar sends to the Service's endpoints, never to its
		// waypoint (buildEnvoyLbEndpoint): the collider's pod.
		if strings.HasSuffix(cluster, "|"+host) {
			return c.landsAt(b, netip.AddrPortFrom(netip.MustParseAddr(b.Topology.ColliderPodIP), dst.Port()), fmt.Sprintf("the client sidecar's %s → cluster %s, the collider's endpoint over HBONE", pr.Listener, cluster)), nil
		}
		return c.fails("the client sidecar's %s → cluster %s, which is not the collider's", pr.Listener, cluster), nil
	}
	cfgs, err := p.generated(b, in)
	if err != nil {
		return c, err
	}
	svc := cfgs.ztunnel.workloads.serviceAt(dst)
	if svc == nil || svc.GetWaypoint() == nil {
		c.Walk.Direct = "ztunnel L4, no waypoint"
		return c.landsAt(b, dst, "the client's ztunnel relays the request to the collider's endpoint without a waypoint (L4)"), nil
	}
	wp := cfgs.waypointOf(svc.GetWaypoint())
	if wp == nil {
		return c, fmt.Errorf("scenario %s: WDS binds the collider to waypoint %s, but predict generated no waypoint", b.Scenario.ID, gatewayText(svc.GetWaypoint()))
	}
	l := wp.Listener(mainInternal)
	if l == nil {
		return c, fmt.Errorf("scenario %s: the waypoint's configuration has no %s listener", b.Scenario.ID, mainInternal)
	}
	insp, err := envoy.Inspect(l, int(dst.Port()))
	if err != nil {
		return c, err
	}
	wait := insp.Wait(envoy.HTTPRequest)
	chain, steps, err := envoy.WaypointChain(l, dst, wait.Detected)
	for _, s := range steps {
		c.Walk.add("filter chain", "%s", s)
	}
	if err != nil {
		return c, fmt.Errorf("scenario %s: collider check: %w", b.Scenario.ID, err)
	}
	c.Walk.Listener, c.Walk.FilterChain = "ztunnel → waypoint "+mainInternal, chain
	how := fmt.Sprintf("the client's ztunnel → waypoint %s (WDS binds Service %s/%s to it) → %s chain %s", gatewayText(svc.GetWaypoint()), svc.GetNamespace(), svc.GetHostname(), mainInternal, chain)
	if !strings.HasSuffix(chain, "|"+host) {
		return c.fails("%s, which is not the collider's", how), nil
	}
	return c.landsAt(b, dst, how), nil
}
