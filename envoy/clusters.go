package envoy

import (
	"fmt"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/firstbyte/firstbyte/scenarios"
)

// ClusterOutcome is what tcp_proxy's connection to a cluster comes to,
// from the cluster's configuration rather than its name: an
// ORIGINAL_DST cluster (PassthroughCluster) dials where the client
// aimed; a cluster with no usable endpoint (BlackHoleCluster is a STATIC
// cluster without any) leaves tcp_proxy no upstream, and Envoy closes the
// accepted connection.
func ClusterOutcome(cfg *Config, name string) (scenarios.Outcome, string) {
	cl := cfg.Cluster(name)
	if cl == nil {
		return scenarios.Reset, fmt.Sprintf("cluster %s is not in the configuration: tcp_proxy has no upstream and Envoy closes the connection", name)
	}
	if ct := cl.GetClusterType(); ct != nil {
		return scenarios.Connected, fmt.Sprintf("cluster %s is a custom cluster type %s: assumed to reach the server", name, ct.GetName())
	}
	switch cl.GetType() {
	case cluster.Cluster_ORIGINAL_DST:
		return scenarios.Connected, fmt.Sprintf("cluster %s is ORIGINAL_DST: Envoy dials the original destination, the server answers", name)
	case cluster.Cluster_EDS:
		if !cfg.EndpointsKnown {
			return scenarios.Connected, fmt.Sprintf("cluster %s is EDS and the source has no endpoints (config_dump without ?include_eds): assumed to have a healthy endpoint", name)
		}
		n := usableEndpoints(cfg.LoadAssignment(cl))
		if n == 0 {
			return scenarios.Reset, fmt.Sprintf("cluster %s (EDS) has no usable endpoint: tcp_proxy has no upstream and Envoy closes the connection", name)
		}
		return scenarios.Connected, fmt.Sprintf("cluster %s (EDS) has %d usable endpoint(s): tcp_proxy connects the server", name, n)
	default:
		n := usableEndpoints(cl.GetLoadAssignment())
		if n == 0 {
			return scenarios.Reset, fmt.Sprintf("cluster %s (%s) has no endpoints: tcp_proxy has no upstream and Envoy closes the connection", name, cl.GetType())
		}
		return scenarios.Connected, fmt.Sprintf("cluster %s (%s) has %d endpoint(s): tcp_proxy connects the server", name, cl.GetType(), n)
	}
}

// usableEndpoints counts endpoints Envoy would load-balance to.
func usableEndpoints(a *endpoint.ClusterLoadAssignment) int { return len(UsableLbEndpoints(a)) }

// UsableLbEndpoints are the endpoints not marked unhealthy, draining or
// timed out: health status UNKNOWN (Istio's default), HEALTHY, DEGRADED.
func UsableLbEndpoints(a *endpoint.ClusterLoadAssignment) []*endpoint.LbEndpoint {
	var out []*endpoint.LbEndpoint
	for _, l := range a.GetEndpoints() {
		for _, e := range l.GetLbEndpoints() {
			switch e.GetHealthStatus() {
			case core.HealthStatus_UNHEALTHY, core.HealthStatus_DRAINING, core.HealthStatus_TIMEOUT:
			default:
				out = append(out, e)
			}
		}
	}
	return out
}
