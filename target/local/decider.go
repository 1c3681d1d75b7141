package local

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/target/local/dataplane"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pkg/wellknown"
)

// decider adapts the predict evaluator's two halves (listener, then filter
// chain) to the emulated data plane: the emulator does the socket work
// between them, the evaluator — Istio's simulation over Istio's generated
// listeners — makes every decision.
type decider struct {
	cfg *predict.EnvoyConfig
	// sidecarPods are the pod addresses with an emulated sidecar behind
	// them (the server pod in the inbound family). Where Envoy would
	// originate Istio mTLS to one of them, the emulator refuses: relaying
	// plaintext would fake what that sidecar sees. Any other in-mesh
	// endpoint (the collider) has no emulated sidecar; its plaintext stands
	// for what the collider's sidecar hands its application after mTLS,
	// and the collider check asserts only that its HTTP answers.
	sidecarPods []netip.Addr
}

func (d decider) Inspect(dst netip.AddrPort) (dataplane.Inspection, error) {
	if d.cfg == nil {
		return dataplane.Inspection{}, fmt.Errorf("connection to %s reached the client sidecar's port, but the client pod has no sidecar", dst)
	}
	ld, err := d.cfg.ChooseListener(dst)
	if err != nil {
		return dataplane.Inspection{}, err
	}
	if ld.Listener == "" {
		return dataplane.Inspection{}, fmt.Errorf("no listener accepts %s", dst)
	}
	return inspection(ld), nil
}

// clientBytes maps what the emulator's inspectors saw to the evaluator's
// vocabulary.
func clientBytes(det dataplane.Detection, timedOut bool) predict.ClientBytes {
	switch {
	case timedOut:
		return predict.NoClientBytes
	case strings.HasPrefix(det.AppProtocol, "http/1"):
		return predict.HTTPRequest
	default:
		return predict.OpaqueBytes
	}
}

func (d decider) Route(dst netip.AddrPort, det dataplane.Detection, timedOut bool) (dataplane.Action, error) {
	if det.TLS || det.AppProtocol == "h2c" {
		return dataplane.Action{}, fmt.Errorf("client sent %+v: the local target emulates plaintext HTTP/1.1 and opaque TCP only", det)
	}
	cd, err := d.cfg.ChooseChain(dst, clientBytes(det, timedOut))
	if err != nil {
		return dataplane.Action{}, err
	}
	act := dataplane.Action{FilterChain: cd.FilterChain, Cluster: cd.Cluster}
	switch cd.NetworkFilter {
	case wellknown.TCPProxy:
		leg, err := d.cfg.UpstreamLeg(cd.Cluster, dst)
		if err != nil {
			// No upstream (BlackHoleCluster, no endpoints): Envoy
			// accepts and closes.
			act.Kind = dataplane.Close
			return act, nil
		}
		if leg.TLS != simulation.Plaintext && slices.Contains(d.sidecarPods, leg.To.Addr()) {
			// Relaying plaintext where Envoy would originate Istio
			// mTLS would fake the server side's view.
			return act, fmt.Errorf("cluster %s originates %s (%s): the emulated sidecar relays plaintext only, run it on kind or cluster", cd.Cluster, leg.TLS, leg.Socket)
		}
		act.Kind, act.Upstream = dataplane.TCPProxy, leg.To
	case wellknown.HTTPConnectionManager:
		act.Kind = dataplane.HTTP
		act.Route = func(r *http.Request) (string, netip.AddrPort, error) {
			cluster, err := d.cfg.RouteHTTP(dst, r.Host, r.URL.Path)
			if err != nil {
				return cluster, netip.AddrPort{}, err
			}
			up, err := d.cfg.Upstream(cluster, dst)
			return cluster, up, err
		}
	default:
		act.Kind = dataplane.Close
	}
	return act, nil
}
