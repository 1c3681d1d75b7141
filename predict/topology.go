package predict

import (
	"net/netip"
	"sync"

	"github.com/firstbyte/firstbyte/fixtures"
)

// Addresses predict renders every scenario with: the one world's
// (fixtures/world.go), which the local target renders with too, so a
// prediction and a local run see the same listeners, the same CIDRs and the
// same collider check. Nothing is dialled here; the names stay for the
// walk's callers.
var (
	// ExternalServerIP is the external server as the client dials it; it
	// is also the server pod's IP when the server is in the mesh.
	ExternalServerIP = fixtures.WorldServerIP
	// ServerClusterIP and ColliderClusterIP are the pinned Service VIPs.
	ServerClusterIP   = fixtures.WorldServerClusterIP
	ColliderClusterIP = fixtures.WorldColliderVIP
	// ClientPodIP is the pod whose sidecar is under test.
	ClientPodIP = fixtures.WorldClientPodIP
	// ColliderPodIP is the collider's backend pod.
	ColliderPodIP = fixtures.WorldColliderPodIP
	// DNSServerIP is the client pod's nameserver: the world's cluster DNS.
	DNSServerIP = fixtures.WorldDNSServerIP
)

// Topology is the fixtures topology predict renders scenarios for: the
// suite's standard names in the one world.
func Topology() fixtures.Topology {
	t := fixtures.WorldTopology()
	t.RunID = "predict"
	return t
}

// Shared is the process's predictor for the one world: the local target
// and the suite's collider-check expectation use it, so a bundle's Istio
// generation runs once for both.
var Shared = sync.OnceValue(NewPredictor)

// podIPs assigns the pod IP of each Deployment predict stands a pod up
// for, by Deployment name, from the bundle's topology (the world's
// addresses where the topology leaves one unset); others get addresses
// from the world's spare range.
func podIPs(t fixtures.Topology) map[string]netip.Addr {
	pick := func(s string, def netip.Addr) netip.Addr {
		if a, err := netip.ParseAddr(s); err == nil {
			return a
		}
		return def
	}
	return map[string]netip.Addr{
		"server":   pick(t.ServerIP, ExternalServerIP),
		"collider": pick(t.ColliderPodIP, ColliderPodIP),
		"client":   pick(t.ClientPodIP, ClientPodIP),
	}
}

var sparePodIPs = fixtures.WorldSparePods

// kindDNSServerIP is kind's kube-dns ClusterIP, which stands in for a live
// cluster's nameserver when its topology names none (live.go); it is not
// an address of the world.
var kindDNSServerIP = netip.MustParseAddr("10.96.0.10")
