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
	// plaintextPeers are the pod addresses whose sidecar the local world
	// stands in for by handing plaintext to the application: the
	// collider, whose sidecar would terminate the client sidecar's auto
	// mTLS (the collider check asserts only that its HTTP answers). To
	// any other endpoint a TLS origination is refused: relaying plaintext
	// there would fake what a server or its emulated sidecar sees.
	plaintextPeers []netip.Addr
}

func (d decider) Inspect(dst netip.AddrPort) (dataplane.Inspection, error) {
	if d.cfg == nil {
		return dataplane.Inspection{}, fmt.Errorf("%w: connection to %s reached the client sidecar's port, but the client pod has no sidecar", dataplane.ErrNotEmulated, dst)
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
		return dataplane.Action{}, fmt.Errorf("%w: client sent %+v: the local target emulates plaintext HTTP/1.1 and opaque TCP only", dataplane.ErrNotEmulated, det)
	}
	cd, err := d.cfg.ChooseChain(dst, clientBytes(det, timedOut))
	if err != nil {
		return dataplane.Action{}, err
	}
	act := dataplane.Action{FilterChain: cd.FilterChain, Cluster: cd.Cluster}
	switch cd.NetworkFilter {
	case wellknown.TCPProxy:
		if _, err := d.cfg.Upstream(cd.Cluster, dst); err != nil {
			// No upstream (BlackHoleCluster, no endpoints): Envoy
			// accepts and closes.
			act.Kind = dataplane.Close
			return act, nil
		}
		leg, err := d.cfg.UpstreamLeg(cd.Cluster, dst)
		if err != nil {
			return act, fmt.Errorf("%w: %v", dataplane.ErrNotEmulated, err)
		}
		if leg.TLS != simulation.Plaintext && !slices.Contains(d.plaintextPeers, leg.To.Addr()) {
			return act, fmt.Errorf("%w: cluster %s originates %s (%s): the emulated sidecar relays plaintext only, run it on kind or cluster", dataplane.ErrNotEmulated, cd.Cluster, leg.TLS, leg.Socket)
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
