package predict

import (
	"net/netip"

	"github.com/firstbyte/firstbyte/fixtures"
)

// Addresses predict renders every scenario with. Nothing is dialled, so
// they only need to be fixed (for caching and stable explain traces) and
// unmistakable: the external server sits in TEST-NET-2 (RFC 5737), the
// Services and pods in kind's default ranges.
var (
	// ExternalServerIP is the external server as the client dials it; it
	// is also the server pod's IP when the server is in the mesh.
	ExternalServerIP = netip.MustParseAddr("198.51.100.7")
	// ServerClusterIP and ColliderClusterIP are the pinned Service VIPs.
	ServerClusterIP   = netip.MustParseAddr("10.96.0.20")
	ColliderClusterIP = netip.MustParseAddr("10.96.0.30")
	// ClientPodIP is the pod whose sidecar is under test.
	ClientPodIP = netip.MustParseAddr("10.244.0.10")
	// ColliderPodIP is the collider's backend pod.
	ColliderPodIP = netip.MustParseAddr("10.244.0.30")
	// DNSServerIP is the client pod's nameserver: kind's kube-dns
	// ClusterIP.
	DNSServerIP = netip.MustParseAddr("10.96.0.10")
)

// Topology is the fixtures topology predict renders scenarios for: the
// suite's standard names with the fixed addresses above.
func Topology() fixtures.Topology {
	t := fixtures.DefaultTopology()
	t.RunID = "predict"
	t.ServerIP = ExternalServerIP.String()
	t.ServerClusterIP = ServerClusterIP.String()
	t.ColliderClusterIP = ColliderClusterIP.String()
	t.ClientPodIP = ClientPodIP.String()
	t.ColliderPodIP = ColliderPodIP.String()
	t.DNSServerIP = DNSServerIP.String()
	return t
}

// podIPs assigns the pod IP of each Deployment predict stands a pod up
// for, by Deployment name, from the bundle's topology (predict's own
// addresses where the topology leaves one unset); others get addresses
// from a spare range.
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

var sparePodIPs = netip.MustParsePrefix("10.244.9.0/24")
