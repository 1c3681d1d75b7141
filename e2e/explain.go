package e2e

import (
	"fmt"
	"net/netip"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/targets/kube"
)

// explainLive explains the live sidecars' config_dumps with the predict
// evaluator, as for generated configuration: the client pod's iptables
// capture (from its annotations), the client sidecar's listener, listener
// filters, chain and cluster, and, for a server with its own sidecar, the
// transport the connection leaves in, the server pod's inbound capture and
// its virtualInbound (inspectors, chain, RBAC). Evidence folders carry it
// next to the dumps, so a failure reads with the deciding listener named.
func explainLive(live kube.LiveDumps, b *fixtures.Bundle) (string, error) {
	var pods predict.LivePods
	var err error
	if pods.ClientIP, err = netip.ParseAddr(live.ClientIP); err != nil {
		return "", fmt.Errorf("client pod IP %q: %w", live.ClientIP, err)
	}
	if pods.ServerIP, err = netip.ParseAddr(live.ServerIP); err != nil {
		return "", fmt.Errorf("server pod IP %q: %w", live.ServerIP, err)
	}
	if pods.Destination, err = netip.ParseAddrPort(live.Destination); err != nil {
		return "", fmt.Errorf("destination %q: %w", live.Destination, err)
	}
	p, err := predict.ExplainLive(b, pods, live.Client, live.Server)
	if err != nil {
		return p.String(), err
	}
	return fmt.Sprintf("predicted from the live config_dump(s): %s (expected %s)\n\n%s", p.Verdict(), b.Scenario.Expect, p), nil
}
