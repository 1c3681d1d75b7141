package predict

import (
	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/scenarios"
)

// The inbound walk: a connection iptables redirected to a server pod's
// sidecar (nat PREROUTING → 15006) goes to virtualInbound, whose listener
// filters may wait for client bytes before a filter chain is chosen by
// destination port, transport (raw_buffer or tls) and ALPN. Istio's
// simulation (inbound call mode) picks the listener and chain; predict
// adds who speaks first, what the inspectors do meanwhile, what a chain
// does with bytes in the wrong transport, the RBAC filter, and when it
// decides.

// EvaluateInbound walks a connection the server pod's iptables
// redirected to its sidecar: virtualInbound, its listener filters and
// their timeout, the filter chain, the transport the chain expects, the
// network filters (RBAC, then tcp_proxy or the HTTP connection manager)
// and the inbound cluster.
func EvaluateInbound(cfg *envoy.Config, a Arrival) (Prediction, error) {
	var p Prediction
	p.addConfig(cfg)
	p.add("arrival", "%s", a)

	ld, err := cfg.ChooseInboundListener(a.Destination)
	p.Trace = append(p.Trace, ld.Trace...)
	if err != nil {
		return p, err
	}
	if ld.Listener == "" {
		p.Outcome = scenarios.Refused
		p.add("outcome", "the connection to the server sidecar's inbound port is refused")
		return p, nil
	}
	p.Inbound = &InboundPath{Arrived: a.arrived(), Listener: ld.Listener}
	detected, after, done := inboundInspectors(&p, ld, a)
	if done {
		return p, nil
	}
	return p, inboundChain(&p, cfg, a, detected, after)
}
