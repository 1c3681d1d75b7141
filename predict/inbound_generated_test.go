package predict

import (
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/envoy"
	"istio.io/istio/pkg/wellknown"
)

// The listener evidence behind the inbound family, straight from Istio's
// generator: what the inbound verdicts rest on.
func TestGeneratedInboundEvidence(t *testing.T) {
	waiting := func(id string) []string {
		in, err := envoy.Inspect(serverSidecarFor(t, shared, id).Listener("virtualInbound"), 10000)
		if err != nil {
			t.Fatal(err)
		}
		if in.Timeout != 0 || !in.ContinueOnTimeout {
			t.Errorf("%s: virtualInbound timeout %s continue %v, want 0s (meshConfig.protocolDetectionTimeout) and true", id, in.Timeout, in.ContinueOnTimeout)
		}
		return in.Waiting
	}
	for id, want := range map[string]string{
		"mysql-inbound-tcp-pa-permissive-dr-disable":         wellknown.TLSInspector,
		"mysql-inbound-tcp-pa-strict-dr-disable":             wellknown.TLSInspector,
		"mysql-inbound-tcp-pa-disable-dr-disable":            "",
		"mysql-inbound-unnamed-pa-disable-no-client-sidecar": wellknown.HTTPInspector,
	} {
		if got := strings.Join(waiting(id), ","); got != want {
			t.Errorf("%s: inspectors active on port 10000: %q, want %q", id, got, want)
		}
	}

	// Auto mTLS keys on the endpoint's tlsMode, which the server pod gets
	// from Istio's injector; a DestinationRule with TLS DISABLE drops it.
	leg := func(id string) envoy.Leg {
		cfg := sidecarFor(t, shared, id)
		l, err := cfg.UpstreamLeg("outbound|10000||server.fb-server.svc.cluster.local", netipPort("198.51.100.7:10000"))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := leg("mysql-inbound-tcp-pa-permissive"); l.TLS != "mtls" || !strings.Contains(l.Socket, "tlsMode-istio") {
		t.Errorf("auto mTLS to a server with a sidecar: %s (%s)", l.TLS, l.Socket)
	}
	if l := leg("mysql-inbound-tcp-pa-permissive-dr-disable"); l.TLS != "plaintext" {
		t.Errorf("DestinationRule DISABLE: %s (%s)", l.TLS, l.Socket)
	}
	if l := leg("mysql-inbound-tcp-pa-disable-dr-mtls"); l.TLS != "mtls" || !strings.Contains(l.Socket, "cluster's transport_socket") {
		t.Errorf("DestinationRule ISTIO_MUTUAL: %s (%s)", l.TLS, l.Socket)
	}

	// The AuthorizationPolicy is a network RBAC filter before tcp_proxy on
	// the port's mTLS chain.
	deny := serverSidecarFor(t, shared, "mysql-inbound-tcp-pa-strict-authz-deny").Listener("virtualInbound")
	found := false
	for _, fc := range deny.GetFilterChains() {
		if fc.GetFilterChainMatch().GetDestinationPort().GetValue() != 10000 {
			continue
		}
		var names []string
		for _, f := range fc.GetFilters() {
			names = append(names, f.GetName())
		}
		got := strings.Join(names, ",")
		found = strings.Contains(got, wellknown.RoleBasedAccessControl+","+wellknown.TCPProxy)
		if !found {
			t.Errorf("deny policy: chain %s has filters %s, want RBAC right before tcp_proxy", fc.GetName(), got)
		}
	}
	if !found {
		t.Error("deny policy: no chain for port 10000 carries the RBAC filter")
	}
}
