package predict

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/predict/capture"
	"github.com/firstbyte/firstbyte/scenarios"
	"istio.io/istio/pkg/wellknown"
)

// Walk follows a connection from the client pod's application: the pod's
// iptables rules first, then, when they redirect it, the sidecar's Envoy
// configuration. appUID is the application's user (anything but the
// proxy's; containers run as root unless their image says otherwise).
func Walk(pod capture.CapturePod, cfg *envoy.Config, conn Connection, appUID uint32) (Prediction, error) {
	return walk(pod, conn, appUID, func() (*envoy.Config, error) { return cfg, nil })
}

// walk asks for the sidecar's configuration only when iptables redirects
// the connection: an uncaptured connection needs no generator run.
func walk(pod capture.CapturePod, conn Connection, appUID uint32, sidecar func() (*envoy.Config, error)) (Prediction, error) {
	c, err := capture.CaptureOutbound(pod, conn.Destination, appUID)
	if err != nil {
		return Prediction{}, err
	}
	if !c.Redirected {
		p := Prediction{Outcome: scenarios.Connected, Trace: c.Trace}
		p.add("outcome", "the client talks to the server directly: connected")
		return p, nil
	}
	cfg, err := sidecar()
	if err != nil {
		return Prediction{}, err
	}
	p, err := Evaluate(cfg, conn)
	p.Trace = append(c.Trace, p.Trace...)
	return p, err
}

// Evaluate walks a connection the sidecar accepted (iptables redirected
// it to virtualOutbound) through the Envoy configuration as Envoy does:
// listener hand-off, listener filters and their timeout, filter-chain
// match, network filter, cluster. Istio's pilot/pkg/simulation chooses the
// listener and chain (ChooseListener, ChooseChain); Evaluate adds what the
// simulation does not model: who speaks first, what Envoy does while
// inspectors wait for bytes that never come, what an HTTP connection
// manager does with a silent client, and what the cluster does.
func Evaluate(cfg *envoy.Config, conn Connection) (Prediction, error) {
	var p Prediction
	p.addConfig(cfg)
	p.add("connection", "%s", conn)
	dst := conn.Destination

	ld, err := cfg.ChooseListener(dst)
	p.Trace = append(p.Trace, ld.Trace...)
	if err != nil {
		return p, err
	}
	if ld.Listener == "" {
		p.Outcome = scenarios.Refused
		p.add("outcome", "the connection to the redirect port is refused")
		return p, nil
	}
	p.Listener = ld.Listener

	// Does anything wait for client bytes, and what comes of the wait?
	waiters := ld.WaitersText() + " waits"
	if len(ld.Waiting) > 1 && ld.Accepting == "" {
		waiters = strings.TrimSuffix(waiters, "s")
	}
	wait := ld.Wait(conn.ClientSends)
	switch {
	case !ld.Waits():
		p.add("listener filters", "nothing waits for client bytes: the filter chain is chosen at once")
	case wait.Kind == envoy.ChainNow:
		p.add("listener filters", "the client's first bytes arrive at once and %s decide: %s", strings.Join(ld.Waiting, " and "), envoy.Detection(conn.ClientSends))
	case wait.Kind == envoy.HoldForever:
		p.Outcome = scenarios.Hung
		p.HeldBy = ld.WaitersText() + " (listener_filters_timeout 0s)"
		p.add("listener filters", "%s for the client's first bytes, with %s; the client waits for the server's greeting and sends nothing", waiters, ld.TimeoutText())
		p.add("outcome", "deadlock: the sidecar never chooses a filter chain, so it never dials the server: hung")
		return p, afterTheInspectors(&p, cfg, dst, ld)
	case wait.Kind == envoy.CloseAfter:
		p.Outcome, p.After = scenarios.Reset, wait.After
		p.add("listener filters", "%s for the client's first bytes, with %s; the client sends nothing", waiters, ld.TimeoutText())
		if ld.Decider != ld.Listener {
			p.Listener = ld.Decider
			p.HeldBy = fmt.Sprintf("%s (listener_filters_timeout %s, then closed)", ld.WaitersText(), wait.After)
			p.add("outcome", "after %s %s closes the socket (continue_on_listener_filters_timeout is false), before handing the connection to %s: no filter chain, no upstream, reset", wait.After, ld.Decider, ld.Listener)
			return p, nil
		}
		p.add("outcome", "after %s Envoy closes the socket without a connection (continue_on_listener_filters_timeout is false; active_tcp_socket.cc, ActiveTcpSocket::onTimeout → unlink): reset", wait.After)
		return p, nil
	case wait.Kind == envoy.ContinueAfter:
		p.add("listener filters", "%s for the client's first bytes, with %s; the client sends nothing", waiters, ld.TimeoutText())
		p.add("listener filters", "after %s the inspectors give up and the filter chain is chosen with nothing detected: transport raw_buffer, no application protocol", wait.After)
	}
	after := wait.After

	cd, err := cfg.ChooseChain(dst, wait.Detected)
	p.Trace = append(p.Trace, cd.Trace...)
	if err != nil {
		return p, err
	}
	p.FilterChain = cd.FilterChain
	switch cd.NetworkFilter {
	case "":
		p.Outcome = scenarios.Reset
		p.add("outcome", "Envoy closes the connection: reset")
		return p, nil
	case wellknown.HTTPConnectionManager:
		return p, httpConnectionManager(&p, cfg, conn, cd, after)
	default:
		p.Cluster = cd.Cluster
		finishAtCluster(&p, cfg, cd.Cluster, after)
		return p, nil
	}
}

// httpConnectionManager: HCM decides nothing until a request arrives.
func httpConnectionManager(p *Prediction, cfg *envoy.Config, conn Connection, cd envoy.ChainDecision, after time.Duration) error {
	switch envoy.HTTPConnectionManager(conn.ClientSends) {
	case envoy.HCMWaitsForRequest:
		p.Outcome = scenarios.Hung
		p.HeldBy = "the HTTP connection manager, waiting for a request"
		p.add("network filter", "HTTP connection manager (route config %s): it routes requests, so it waits for the client's HTTP request before dialling any upstream", cd.RouteConfig)
		p.add("outcome", "the client waits for the greeting, the sidecar for a request: hung")
	case envoy.HCMBadRequest:
		p.Outcome = scenarios.ProtocolError
		p.add("network filter", "HTTP connection manager (route config %s): its HTTP codec cannot parse the client's bytes, answers 400 Bad Request and closes", cd.RouteConfig)
		p.add("outcome", "the client reads bytes that are not its protocol: protocol-error")
	default:
		if cd.RouteError != nil {
			p.Outcome = scenarios.ProtocolError
			p.add("network filter", "HTTP connection manager, route config %s: %v: Envoy answers with an HTTP error", cd.RouteConfig, cd.RouteError)
			p.add("outcome", "protocol-error")
			return nil
		}
		p.Cluster = cd.Cluster
		finishAtCluster(p, cfg, cd.Cluster, after)
	}
	return nil
}

func finishAtCluster(p *Prediction, cfg *envoy.Config, name string, after time.Duration) {
	outcome, why := envoy.ClusterOutcome(cfg, name)
	p.add("cluster", "%s", why)
	p.Outcome = outcome
	switch {
	case outcome == scenarios.Connected && after > 0:
		p.After = after
		p.add("outcome", "connected, %s late: the first server byte waits for the listener filter timeout", after)
	case outcome == scenarios.Connected:
		p.add("outcome", "connected")
	case after > 0:
		p.After = after
		p.add("outcome", "%s, after %s: the connection is held for the listener filter timeout, then the chosen cluster decides", outcome, after)
	default:
		p.add("outcome", "%s", outcome)
	}
}

// afterTheInspectors finishes a hang's trace with what would follow the
// inspector if it ever gave up: the chain chosen with nothing detected
// (the default chain) and where its cluster leads. It is the reader's
// answer to "would a protocolDetectionTimeout fix this?": the same walk
// with a timeout turns the hang into a connect (PassthroughCluster under
// ALLOW_ANY) or a close (BlackHoleCluster under REGISTRY_ONLY). The
// prediction itself stays the hang.
func afterTheInspectors(p *Prediction, cfg *envoy.Config, dst netip.AddrPort, ld envoy.ListenerDecision) error {
	cd, err := cfg.ChooseChain(dst, envoy.NoClientBytes)
	if err != nil {
		return err
	}
	const stage = "if it gave up"
	what := "connection"
	switch cd.NetworkFilter {
	case "":
		p.add(stage, "with a listener filter timeout, nothing would be detected and %s has no chain for that: Envoy would close the connection (fails reset after the timeout)", ld.Listener)
		return nil
	case wellknown.HTTPConnectionManager:
		p.add(stage, "with a listener filter timeout (meshConfig.protocolDetectionTimeout), nothing would be detected and the chain would be %s, an HTTP connection manager that waits for a request: still hung", cd.FilterChain)
		return nil
	}
	outcome, why := envoy.ClusterOutcome(cfg, cd.Cluster)
	switch outcome {
	case scenarios.Connected:
		what = "a late connect (connects-after the timeout)"
	default:
		what = fmt.Sprintf("a close (fails %s after the timeout)", outcome)
	}
	p.add(stage, "with a listener filter timeout (meshConfig.protocolDetectionTimeout), nothing would be detected and the chain would be %s → tcp_proxy to cluster %s; %s: the timeout would turn this hang into %s", cd.FilterChain, cd.Cluster, why, what)
	return nil
}
