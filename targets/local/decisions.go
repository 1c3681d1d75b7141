package local

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/targets/local/dataplane"
)

// The emulated sidecars decide nothing on the wire. Envoy decides a
// connection in microseconds; Istio's traffic simulation (predict's
// ChooseListener / ChooseChain) takes far longer and, run per accepted
// connection, put CPU time on the probe's clock: under load it showed up
// as first-byte latency and false "late connect" verdicts. So every
// decision a scenario can need is made when the configuration changes
// (Deploy, Remediate, Revert: before any probe), for each destination the
// scenario's clients dial and each thing Envoy's inspectors can conclude,
// and the connection path is a map lookup plus the socket work.
//
// A connection to a destination (or an HTTP request to a host and path)
// that was not decided in advance is refused with its address named: it
// means the local target dials something it did not plan for, which is a
// defect to fix here, never a reason to think on the wire.

// detections are the inspectors' conclusions a plaintext connection can
// reach (predict's vocabulary): nothing (timeout, or no inspector), bytes
// that are neither HTTP nor TLS, an HTTP/1.1 request. A TLS ClientHello
// and h2c are refused without a lookup: the emulator speaks neither.
var detections = []envoy.ClientBytes{envoy.NoClientBytes, envoy.OpaqueBytes, envoy.HTTPRequest}

// planner makes one emulated sidecar's decisions from the configuration
// Istio generated for it (the envoy model over Istio's simulation).
// It runs only while a table is built.
type planner interface {
	inspect(dst netip.AddrPort) (envoy.ListenerDecision, error)
	route(dst netip.AddrPort, detected envoy.ClientBytes) (dataplane.Action, error)
	// routeHTTP routes one HTTP request on a connection to dst.
	routeHTTP(dst netip.AddrPort, host, path string) (cluster string, upstream netip.AddrPort, err error)
}

// httpRequest is an HTTP request the scenario's clients send: a
// connection to Destination carrying Host and Path.
type httpRequest struct {
	Destination netip.AddrPort
	Host, Path  string
}

type chainKey struct {
	dst      netip.AddrPort
	detected envoy.ClientBytes
}

// decided is a decision or the refusal it ended in.
type decided[T any] struct {
	v   T
	err error
}

type httpRoute struct {
	cluster  string
	upstream netip.AddrPort
}

// decisionTable is a dataplane.Decider that only looks decisions up.
type decisionTable struct {
	// side names the sidecar, for refusals.
	side string
	// refusal, when set, refuses every connection (a pod without a
	// sidecar whose emulated sidecar nothing should reach).
	refusal   error
	listeners map[netip.AddrPort]decided[envoy.ListenerDecision]
	chains    map[chainKey]decided[dataplane.Action]
	requests  map[httpRequest]decided[httpRoute]
}

// refusingTable refuses every connection with err.
func refusingTable(side string, err error) *decisionTable {
	return &decisionTable{side: side, refusal: err}
}

// decide builds the table for the destinations and HTTP requests a
// scenario's clients send, with every detection for each destination.
func decide(side string, p planner, dsts []netip.AddrPort, requests []httpRequest) *decisionTable {
	t := &decisionTable{
		side:      side,
		listeners: map[netip.AddrPort]decided[envoy.ListenerDecision]{},
		chains:    map[chainKey]decided[dataplane.Action]{},
		requests:  map[httpRequest]decided[httpRoute]{},
	}
	for _, dst := range dsts {
		if _, done := t.listeners[dst]; done {
			continue
		}
		insp, err := p.inspect(dst)
		t.listeners[dst] = decided[envoy.ListenerDecision]{insp, err}
		if err != nil {
			continue
		}
		for _, det := range detections {
			act, err := p.route(dst, det)
			if act.Kind == dataplane.HTTP {
				act.Route = t.routeFunc(dst)
			}
			t.chains[chainKey{dst, det}] = decided[dataplane.Action]{act, err}
		}
	}
	for _, r := range requests {
		cluster, up, err := p.routeHTTP(r.Destination, r.Host, r.Path)
		t.requests[r] = decided[httpRoute]{httpRoute{cluster, up}, err}
	}
	return t
}

// actions returns every decided action, for what depends on them (the
// server pod's arrivals).
func (t *decisionTable) actions() []dataplane.Action {
	var out []dataplane.Action
	for _, d := range t.chains {
		if d.err == nil {
			out = append(out, d.v)
		}
	}
	return out
}

func (t *decisionTable) Inspect(dst netip.AddrPort) (envoy.ListenerDecision, error) {
	if t.refusal != nil {
		return envoy.ListenerDecision{}, t.refusal
	}
	d, ok := t.listeners[dst]
	if !ok {
		return envoy.ListenerDecision{}, t.unplanned(fmt.Sprintf("a connection to %s", dst))
	}
	return d.v, d.err
}

func (t *decisionTable) Route(dst netip.AddrPort, det dataplane.Detection, timedOut bool) (dataplane.Action, error) {
	if t.refusal != nil {
		return dataplane.Action{}, t.refusal
	}
	if det.TLS || det.AppProtocol == "h2c" {
		return dataplane.Action{}, fmt.Errorf("%w: client sent %+v: the emulated %s takes plaintext HTTP/1.1 and opaque TCP only (TLS and Istio mTLS need kind or cluster)", dataplane.ErrNotEmulated, det, t.side)
	}
	key := chainKey{dst, clientBytes(det, timedOut)}
	d, ok := t.chains[key]
	if !ok {
		return dataplane.Action{}, t.unplanned(fmt.Sprintf("a connection to %s carrying %s", dst, key.detected))
	}
	return d.v, d.err
}

// routeFunc is an HTTP action's per-request routing: a lookup too.
func (t *decisionTable) routeFunc(dst netip.AddrPort) func(*http.Request) (string, netip.AddrPort, error) {
	return func(r *http.Request) (string, netip.AddrPort, error) {
		d, ok := t.requests[httpRequest{dst, r.Host, r.URL.Path}]
		if !ok {
			return "", netip.AddrPort{}, t.unplanned(fmt.Sprintf("an HTTP request on %s for Host %q path %q", dst, r.Host, r.URL.Path))
		}
		return d.v.cluster, d.v.upstream, d.err
	}
}

// unplanned is the refusal for what was not decided before the wire.
func (t *decisionTable) unplanned(what string) error {
	var known []string
	for dst := range t.listeners {
		known = append(known, dst.String())
	}
	slices.Sort(known)
	return fmt.Errorf("%w: the emulated %s has no decision for %s: decisions are made before the probe, for the scenario's own destinations (%s) and requests only; add the new one where targets/local plans them (plannedDestinations)",
		dataplane.ErrNotEmulated, t.side, what, strings.Join(known, ", "))
}

// clientBytes maps what the emulator's inspectors saw to the envoy model's
// vocabulary.
func clientBytes(det dataplane.Detection, timedOut bool) envoy.ClientBytes {
	switch {
	case timedOut:
		return envoy.NoClientBytes
	case strings.HasPrefix(det.AppProtocol, "http/1"):
		return envoy.HTTPRequest
	default:
		return envoy.OpaqueBytes
	}
}
