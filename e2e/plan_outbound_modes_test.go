package e2e

import (
	"strings"
	"testing"
)

// The outbound-modes family on kind: ALLOW_ANY_DYNAMIC_DNS is merged into
// the istio ConfigMap over the text found before the run changed it (so
// the next scenario merges its own fragment over the original again), the
// tear-down restores the mesh key whatever happened, the 15s close widens
// the probe's budget, and the Sidecar override is applied and deleted.
// The kind suite runs as one Ginkgo process (hack/e2e-kube.sh has no -p),
// so mesh-wide modes never overlap.
func TestPlanOutboundModes(t *testing.T) {
	text, _ := planFor(t, "kind")
	block := func(id string) string { return planBlock(t, text, id) }
	dyn := block("mysql-10000-http-dynamic-dns")
	for _, want := range []string{
		"mesh config: merge into ConfigMap istio-system/istio", "mode: ALLOW_ANY_DYNAMIC_DNS",
		"(over the text found at the first change)", "--budget 23s", "expect fails reset after 15s: outcome reset, the connection held and then closed between 12s and 23s",
	} {
		if !strings.Contains(dyn, want) {
			t.Errorf("mysql-10000-http-dynamic-dns block lacks %q:\n%s", want, dyn)
		}
	}
	override := block("mysql-10000-dynamic-dns-sidecar-outbound-policy")
	for _, want := range []string{"Sidecar fb-client/default", "mode: ALLOW_ANY_DYNAMIC_DNS"} {
		if !strings.Contains(override, want) {
			t.Errorf("sidecar-outbound-policy block lacks %q:\n%s", want, override)
		}
	}
	dns := block("dns-10000-http")
	if !strings.Contains(dns, "probe dns --addr") {
		t.Errorf("dns block does not probe dns:\n%s", dns)
	}
	if i := strings.Index(text, "== tear-down"); i < 0 || !strings.Contains(text[i:], "restore the istio ConfigMap's mesh key") {
		t.Error("the tear-down does not restore the mesh config")
	}
}
