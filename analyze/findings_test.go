package analyze

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDynamicDNSFindings: ALLOW_ANY_DYNAMIC_DNS puts http_inspector on
// virtualOutbound with no listener_filters_timeout. The finding names
// every port (not the probe's port 1), Envoy's 15 s default and the
// close, and its checked fixes carry the hits' own ports and addresses;
// the Sidecar override fixes every hit, the address exclusion two of
// three and says which.
func TestDynamicDNSFindings(t *testing.T) {
	r := analyzeMesh(t, "dynamic-dns", Options{ServerFirst: []string{"203.0.113.9:3306"}})
	if len(r.Findings) != 1 {
		t.Fatalf("want one finding, got %d", len(r.Findings))
	}
	f := r.Findings[0]
	if f.Listener != VirtualOutbound || f.Port != 0 || !strings.Contains(f.Where, "every port") {
		t.Errorf("finding at %s port %d (%q), want virtualOutbound, every port", f.Listener, f.Port, f.Where)
	}
	if !strings.Contains(f.Meets, "closed after 15s") {
		t.Errorf("meets %q, want a close after 15s", f.Meets)
	}
	var timeout string
	for _, c := range f.Causes {
		if strings.Contains(c.Text, "protocolDetectionTimeout") {
			t.Errorf("cause %q: virtualOutbound's wait does not come from protocolDetectionTimeout", c.Text)
		}
		if strings.Contains(c.Text, "listener_filters_timeout") {
			timeout = c.Text
		}
	}
	if !strings.Contains(timeout, "Envoy's default of 15s") || !strings.Contains(timeout, "closes") {
		t.Errorf("timeout cause %q, want Envoy's 15s default and a close", timeout)
	}
	v := verdicts(f)
	if v["sidecar-outbound-policy"] != Fixes || v["exclude-ports"] != Fixes || v["exclude-ip-ranges"] != FixesSome {
		t.Errorf("remediations %v: want the Sidecar override and excludeOutboundPorts to fix, the address exclusion to fix some", v)
	}
	if _, ok := v["protocol-detection-timeout"]; ok {
		t.Errorf("protocol-detection-timeout offered, but virtualOutbound's timeout is not the mesh setting's")
	}
	for _, rr := range f.Remediations {
		switch rr.Kind {
		case "exclude-ports", "serviceentry-tcp":
			if !strings.Contains(rr.Change, "3306") {
				t.Errorf("%s: %q does not name the hit's port 3306", rr.Kind, rr.Change)
			}
		case "exclude-ip-ranges":
			if len(rr.Fixed) != 2 || slices.ContainsFunc(rr.Fixed, func(s string) bool { return strings.HasPrefix(s, "any address") }) {
				t.Errorf("exclude-ip-ranges fixes %v: want the two hits at 203.0.113.9, not any address on 3306", rr.Fixed)
			}
		}
	}
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`(^|[^0-9])port 1([^0-9]|$)`).MatchString(b.String()) {
		t.Errorf("the report still names port 1:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "fixes 2 of 3 hits") {
		t.Errorf("the report does not say which hits the address exclusion fixes:\n%s", b.String())
	}
}

// TestDeclaredProtocolBeatsWellKnownPort: grpc-web on 587 is no
// server-first destination, inbound or outbound; the outbound hazard on
// 0.0.0.0_587 stays visible as exposed.
func TestDeclaredProtocolBeatsWellKnownPort(t *testing.T) {
	r := analyzeMesh(t, "declared-protocol", Options{SkipRemediations: true})
	if len(r.Findings) != 0 {
		t.Errorf("want no finding, got %d (first: %s %s)", len(r.Findings), r.Findings[0].Class, r.Findings[0].Where)
	}
	if len(r.Exposed) != 1 || r.Exposed[0].Port != 587 {
		t.Errorf("want 0.0.0.0_587 exposed, got %d exposed", len(r.Exposed))
	}
	// Named, the same Service port is walked: the user's word beats the
	// declaration.
	r = analyzeMesh(t, "declared-protocol", Options{SkipRemediations: true, ServerFirstPorts: []int{587}})
	if len(r.Findings) == 0 {
		t.Errorf("--server-first-ports 587 names the port: want its hazard reported")
	}
}
