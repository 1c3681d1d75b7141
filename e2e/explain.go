package e2e

import (
	"fmt"
	"net/netip"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict"
)

// explainConfigDump explains a live client sidecar's config_dump with the
// predict evaluator: the pod's iptables capture (from its annotations),
// then the listener, listener filters, filter chain and cluster Envoy picks
// for the scenario's connection. Evidence folders carry it next to the
// dump, so a failure reads with the deciding listener named.
func explainConfigDump(dump []byte, b *fixtures.Bundle, clientIP, dst string) (string, error) {
	cfg, err := predict.ReadConfigDump(dump, "client sidecar")
	if err != nil {
		return "", err
	}
	ip, err := netip.ParseAddr(clientIP)
	if err != nil {
		return "", fmt.Errorf("client pod IP %q: %w", clientIP, err)
	}
	to, err := netip.ParseAddrPort(dst)
	if err != nil {
		return "", fmt.Errorf("destination %q: %w", dst, err)
	}
	p, err := predict.Walk(predict.CapturePod{Annotations: b.ClientAnnotations, IP: ip}, cfg, predict.ProtocolConnection(b.Scenario.Protocol, to), predict.AppUID)
	if err != nil {
		return p.String(), err
	}
	return fmt.Sprintf("predicted from the live config_dump: %s (expected %s)\n\n%s", p.Verdict(), b.Scenario.Expect, p), nil
}
