package predict

import (
	"net/netip"
	"sync"

	"github.com/firstbyte/firstbyte/fixtures"
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
		"server":   pick(t.ServerIP, fixtures.WorldServerIP),
		"collider": pick(t.ColliderPodIP, fixtures.WorldColliderPodIP),
		"client":   pick(t.ClientPodIP, fixtures.WorldClientPodIP),
	}
}

var sparePodIPs = fixtures.WorldSparePods

// kindDNSServerIP is kind's kube-dns ClusterIP, which stands in for a live
// cluster's nameserver when its topology names none (live.go); it is not
// an address of the world.
var kindDNSServerIP = netip.MustParseAddr("10.96.0.10")
