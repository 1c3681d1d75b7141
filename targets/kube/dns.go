package kube

import (
	"fmt"
	"sync"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict"
)

// dnsRequirement is the dns-capture family's part of targets.Skipper. On
// kind and cluster the client pod's real istio-agent resolves the name
// (the proxy.istio.io/config annotation turns its DNS capture on), so a
// row whose name the agent answers from istiod's name table runs. A row
// whose lookup goes past the agent to the cluster's DNS (DNS capture off,
// or a ServiceEntry without an allocated address) needs the external
// server's public name (fixtures.ServiceEntryHost) in CoreDNS, which this
// target does not set up yet: it is skipped, by name, rather than failing
// on NXDOMAIN. Which rows those are comes from predict's walk of Istio's
// own rules and name table, not from the row's settings.
func (t *Target) dnsRequirement(b *fixtures.Bundle) string {
	if !b.Scenario.DialsName() {
		return ""
	}
	// Whether the agent answers does not depend on addresses: decide it
	// on predict's topology, whose addresses are all known up front (a
	// plan renders before the server's IP exists).
	pb, err := dnsPredictor().Render(b.Scenario)
	if err != nil {
		return ""
	}
	res, err := dnsPredictor().ResolveServer(pb)
	if err != nil {
		return "" // Deploy and Probe report what is wrong
	}
	if res.ByAgent {
		return ""
	}
	return fmt.Sprintf("needs %s in the cluster's DNS (CoreDNS; the client's lookup goes past the agent's name table), which the %s target does not set up yet: predict and local cover it", fixtures.ServiceEntryHost(b.Scenario), t.Name())
}

// dnsPredictor is shared by the Requirement calls of a run, so scenarios
// with the same generator input share one generation.
var dnsPredictor = sync.OnceValue(predict.NewPredictor)

// dnsCaptureNote shows, in plans, the client pod's DNS-capture annotation
// that the real agent and istio-init act on.
func dnsCaptureNote(b *fixtures.Bundle, o fixtures.Object) string {
	v, ok := b.BaseAnnotations[fixtures.AnnotationProxyConfig]
	if !ok || o.Kind != "Deployment" || o.Name != clientDeployment {
		return ""
	}
	return fmt.Sprintf(" (pod annotation %s=%s: the agent captures DNS, istio-init redirects it to 15053)", fixtures.AnnotationProxyConfig, v)
}
