package predict

import (
	"fmt"
	"time"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/scenarios"
)

// inboundTCPProxy follows an inbound chain that ends in tcp_proxy: the
// RBAC filters in front of it (Istio's AuthorizationPolicy), when
// tcp_proxy dials the server application, and what the client reads when
// RBAC denies.
func inboundTCPProxy(p *Prediction, cfg *envoy.Config, fc *listener.FilterChain, f *listener.Filter, a Arrival, terminated bool, after time.Duration) error {
	tp := &tcpproxy.TcpProxy{}
	if err := f.GetTypedConfig().UnmarshalTo(tp); err != nil {
		return fmt.Errorf("decoding tcp_proxy on inbound chain %s: %w", fc.GetName(), err)
	}
	clusterName := tp.GetCluster()
	if w := tp.GetWeightedClusters().GetClusters(); clusterName == "" && len(w) > 0 {
		clusterName = w[0].GetName()
	}
	p.Inbound.Cluster = clusterName

	peer := envoy.RBACPeer{Source: a.Source, Destination: a.Destination, SNI: a.SNI}
	if terminated && a.tls() {
		peer.TLS, peer.Principal = true, a.Principal
	}
	verdicts, err := envoy.RBACFilters(fc, peer)
	if err != nil {
		return err
	}
	mode := tp.GetUpstreamConnectMode()
	if mode == tcpproxy.UpstreamConnectMode_ON_DOWNSTREAM_DATA && a.AppSends == envoy.NoClientBytes {
		p.Outcome = scenarios.Hung
		p.HeldBy = "the server sidecar's tcp_proxy (upstream_connect_mode ON_DOWNSTREAM_DATA)"
		p.add("inbound network filter", "tcp_proxy → cluster %s, upstream_connect_mode ON_DOWNSTREAM_DATA: it dials the server application only after the client's first bytes, which a server-first client never sends", clusterName)
		p.add("outcome", "hung")
		return nil
	}
	p.add("inbound network filter", "tcp_proxy → cluster %s, upstream_connect_mode %s: it dials the server application as soon as the chain is chosen (filters in front of it that act on data do not hold that), so a server-first greeting flows back at once", clusterName, mode)
	outcome, why := envoy.ClusterOutcome(cfg, clusterName)
	p.add("inbound cluster", "%s", why)
	if outcome != scenarios.Connected {
		p.Outcome = outcome
		p.add("outcome", "%s", outcome)
		return nil
	}

	who := "no client certificate (plaintext)"
	if peer.TLS {
		who = "client principal " + peer.Principal
	}
	var denied *envoy.RBACVerdict
	for i, v := range verdicts {
		for _, n := range v.Notes {
			p.add("inbound network filter", "%s: %s", v.Filter, n)
		}
		p.add("inbound network filter", "%s, on the client's first bytes, for %s and destination port %d: %s", v.Filter, who, a.Destination.Port(), v.Decision())
		if !v.Allowed {
			denied = &verdicts[i]
		}
	}
	if denied != nil {
		return rbacDenied(p, *denied, a)
	}
	finishInbound(p, after)
	return nil
}

// rbacDenied: the RBAC filter closes the connection on the client's first
// bytes (see envoy/rbac.go for the evidence). By then tcp_proxy has connected
// the server application: a server-first greeting has reached the client;
// a client-first client is closed before anything is relayed.
func rbacDenied(p *Prediction, v envoy.RBACVerdict, a Arrival) error {
	policy := v.Policy
	if policy == "" {
		policy = "no ALLOW policy matched"
	}
	p.DeniedBy = fmt.Sprintf("%s (%s) on the client's first bytes", v.Filter, policy)
	p.add("inbound network filter", "%s decides in onData, on the first bytes the client sends, not when the connection is accepted (rbac.proto: enforced \"when the first byte of data arrives from the downstream\"; Envoy issue #9023; Istio: \"Server-first TCP protocols are not supported\" by authorization policy, the server's first bytes go to the client unchecked)", v.Filter)
	outcome, greeted := envoy.RBACDenial(a.AppSends)
	p.Outcome, p.ServerBytesBeforeDeny = outcome, &greeted
	if greeted {
		p.add("outcome", "the server speaks first: its greeting reaches the client before RBAC has seen a byte; the client answers, RBAC denies on that answer and closes the connection: protocol-error, server bytes before deny: yes")
		return nil
	}
	p.add("outcome", "the client speaks first: RBAC denies on those bytes and closes the connection before tcp_proxy relays anything either way: reset, server bytes before deny: no")
	return nil
}

// finishInbound: the server application is connected and nothing denies.
func finishInbound(p *Prediction, after time.Duration) {
	p.Outcome = scenarios.Connected
	if after > 0 {
		p.After = after
		p.add("outcome", "connected, %s late: the first server byte waits for the listener filter timeout", after)
		return
	}
	p.add("outcome", "connected")
}
