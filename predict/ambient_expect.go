package predict

import (
	"fmt"
	"strings"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
)

// AmbientExpectation is what a cluster running an ambient scenario must
// show before its probe, as Istio's generator builds it for the cluster's
// ClusterIPs: the waypoint's config_dump (nil without a waypoint) and the
// destination Service as istiod sends it to ztunnel (WDS).
type AmbientExpectation struct {
	Waypoint []byte
	// WaypointName names the Gateway (and Deployment) Waypoint is of.
	WaypointName string
	// ServiceNamespace and ServiceHostname name the destination's WDS
	// Service; ServiceWaypoint is its waypoint's hostname, "" for none.
	ServiceNamespace, ServiceHostname, ServiceWaypoint string
	// ColliderNamespace, ColliderHostname and ColliderWaypoint are the
	// collider's WDS Service and its waypoint, empty without a collider.
	ColliderNamespace, ColliderHostname, ColliderWaypoint string
}

// ExpectedAmbient renders an ambient scenario's expectation (the waits of
// the kind target's ambient profile read it).
func ExpectedAmbient(b *fixtures.Bundle, clusterIPs map[string]string) (AmbientExpectation, error) {
	var out AmbientExpectation
	if b.Scenario.Ambient == nil {
		return out, fmt.Errorf("scenario %s is not in ambient mode", b.Scenario.ID)
	}
	state := *b
	state.Final = withClusterIPs(b.Final, clusterIPs)
	in, err := inputFor(&state)
	if err != nil {
		return out, err
	}
	cfgs, err := expected.generated(&state, in)
	if err != nil {
		return out, err
	}
	out.ServiceNamespace, out.ServiceHostname = destinationService(b)
	out.ColliderNamespace, out.ColliderHostname = colliderService(b)
	for _, a := range cfgs.ztunnel.workloads {
		s := a.GetService()
		switch {
		case s.GetNamespace() == out.ServiceNamespace && s.GetHostname() == out.ServiceHostname:
			out.ServiceWaypoint = s.GetWaypoint().GetHostname().GetHostname()
		case s.GetNamespace() == out.ColliderNamespace && s.GetHostname() == out.ColliderHostname:
			out.ColliderWaypoint = s.GetWaypoint().GetHostname().GetHostname()
		}
	}
	// The waypoint the destination is bound to (the scenario's, or the
	// server's own); a server that opted out is checked on the scenario's.
	out.WaypointName = fixtures.WaypointName
	if name, _, _ := strings.Cut(out.ServiceWaypoint, "."); name != "" {
		out.WaypointName = name
	}
	if wp := cfgs.proxies[waypointProxy(out.WaypointName)]; wp != nil {
		if out.Waypoint, err = wp.ConfigDump(); err != nil {
			return out, fmt.Errorf("rendering the expected waypoint config_dump of %s: %w", b.Scenario.ID, err)
		}
	}
	return out, nil
}

// destinationService is the WDS Service the probe dials: the server's own
// Service, or the egress ServiceEntry's host.
func destinationService(b *fixtures.Bundle) (namespace, hostname string) {
	if b.Scenario.Placement == scenarios.External {
		return b.Topology.ServerNamespace, string(b.Scenario.Protocol) + ".external.firstbyte.test"
	}
	return b.Topology.ServerNamespace, "server." + b.Topology.ServerNamespace + ".svc.cluster.local"
}

// colliderService is the collider's WDS Service: the collider Service in
// the server's namespace, or the egress-collider ServiceEntry's host; ""
// without a collider.
func colliderService(b *fixtures.Bundle) (namespace, hostname string) {
	switch {
	case !b.Scenario.Collider.Present:
		return "", ""
	case b.Scenario.Placement == scenarios.External:
		return b.Topology.ServerNamespace, fixtures.EgressColliderHost
	}
	return b.Topology.ServerNamespace, "collider." + b.Topology.ServerNamespace + ".svc.cluster.local"
}

// WaypointInspection says what a waypoint's main_internal listener does
// with a connection to port before choosing a chain, in the Envoy
// model (envoy.Inspect): which inspectors wait, and the timeout. The kind
// target compares it between the live waypoint and the generated one.
func WaypointInspection(dump []byte, source string, port int) (string, error) {
	cfg, err := envoy.ReadConfigDump(dump, source, envoy.Tolerant)
	if err != nil {
		return "", err
	}
	l := cfg.Listener(mainInternal)
	if l == nil {
		return "", fmt.Errorf("waypoint config_dump %s has no %s listener (listeners: %v)", source, mainInternal, listenerNames(cfg))
	}
	in, err := envoy.Inspect(l, port)
	if err != nil {
		return "", err
	}
	if len(in.Waiting) == 0 {
		return fmt.Sprintf("%s port %d: nothing waits for client bytes", mainInternal, port), nil
	}
	return fmt.Sprintf("%s port %d: %s waits, listener_filters_timeout %s, continue %v", mainInternal, port, strings.Join(in.Waiting, "+"), in.Timeout, in.ContinueOnTimeout), nil
}

func listenerNames(c *envoy.Config) []string {
	var out []string
	for _, l := range c.Listeners {
		out = append(out, l.GetName())
	}
	return out
}
