package predict

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict/capture"
	"github.com/firstbyte/firstbyte/scenarios"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/istio/pilot/pkg/features"
)

func dnsBundle(t *testing.T, p *Predictor, id string) *fixtures.Bundle {
	t.Helper()
	s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
	if !ok {
		t.Fatalf("no scenario %s", id)
	}
	b, err := p.Render(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Istio's IP allocator controller gives a STATIC or DNS ServiceEntry
// without addresses an address from its prefix, and a NONE one nothing;
// the client sidecar uses it (a listener, a name-table entry) only with
// DNS capture on.
func TestAutoAllocatedAddressNeedsDNSCapture(t *testing.T) {
	p := NewPredictor()
	prefix := netip.MustParsePrefix(features.IPAutoallocateIPv4Prefix)
	host := "mysql.external.firstbyte.test"
	for _, c := range []struct {
		id        string
		allocated bool
		capture   bool
	}{
		{"mysql-10000-http-dns-capture-on-static-dial-name", true, true},
		{"mysql-10000-http-dns-capture-on-dns-dial-name", true, true},
		{"mysql-10000-http-dns-capture-on-none-dial-name", false, true},
		{"mysql-10000-http-dns-capture-off-static-dial-name", true, false},
	} {
		t.Run(c.id, func(t *testing.T) {
			b := dnsBundle(t, p, c.id)
			var ses []*networkingv1.ServiceEntry
			for _, o := range b.Final {
				if se, ok := o.Decoded.(*networkingv1.ServiceEntry); ok {
					ses = append(ses, se)
				}
			}
			got, err := allocatedServiceEntries(ses)
			if err != nil {
				t.Fatal(err)
			}
			var addr netip.Addr
			for _, a := range got[0].Status.GetAddresses() {
				if v, err := netip.ParseAddr(a.GetValue()); err == nil && v.Is4() && a.GetHost() == host {
					addr = v
				}
			}
			if c.allocated != addr.IsValid() || addr.IsValid() && !prefix.Contains(addr) {
				t.Fatalf("status.addresses = %v: want an IPv4 address in %s: %v", got[0].Status.GetAddresses(), prefix, c.allocated)
			}
			cfg, err := p.Sidecar(b)
			if err != nil {
				t.Fatal(err)
			}
			listener := addr.String() + "_10000"
			hasListener := false
			for _, l := range cfg.Listeners {
				hasListener = hasListener || l.GetName() == listener
			}
			inTable := c.allocated && len(cfg.NameTable[host]) > 0 && cfg.NameTable[host][0] == addr.String()
			if want := c.allocated && c.capture; hasListener != want || inTable != want {
				t.Errorf("listener %s: %v, name table %s → %v: want both %v", listener, hasListener, host, cfg.NameTable[host], want)
			}
		})
	}
}

// ISTIO_META_DNS_CAPTURE in the pod's proxyMetadata reaches istio-iptables
// through istio-init's environment: its rules redirect DNS to the pod's
// nameserver to the agent on 15053; without it, or without a known
// nameserver, they do not, and the latter is an error naming the fix.
func TestDNSCaptureRules(t *testing.T) {
	on := map[string]string{fixtures.AnnotationProxyConfig: fixtures.DNSCaptureProxyConfig}
	ns := []netip.Addr{fixtures.WorldDNSServerIP}
	rules, err := capture.RestoreRules(capture.CapturePod{Annotations: on, IP: fixtures.WorldClientPodIP, Nameservers: ns})
	if err != nil {
		t.Fatal(err)
	}
	want := "-A ISTIO_OUTPUT_DNS -p udp --dport 53 -d 198.18.6.10/32 -j REDIRECT --to-port 15053"
	if !strings.Contains(rules, want) {
		t.Errorf("DNS capture rules lack %q:\n%s", want, rules)
	}
	rules, err = capture.RestoreRules(capture.CapturePod{IP: fixtures.WorldClientPodIP, Nameservers: ns})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rules, "15053") {
		t.Errorf("without DNS capture the rules still redirect to 15053:\n%s", rules)
	}
	if _, err := capture.RestoreRules(capture.CapturePod{Annotations: on, IP: fixtures.WorldClientPodIP}); err == nil || !strings.Contains(err.Error(), "Topology.DNSServerIP") {
		t.Errorf("DNS capture without nameservers: err = %v, want one naming Topology.DNSServerIP", err)
	}
}

// The explain trace of a name-dialling row goes name → address →
// listener.
func TestResolveTrace(t *testing.T) {
	p := NewPredictor()
	pr, err := p.PredictBundle(dnsBundle(t, p, "mysql-10000-http-dns-capture-on-dns-dial-name"))
	if err != nil {
		t.Fatal(err)
	}
	text := pr.String()
	for _, want := range []string{"REDIRECT --to-port 15053", "the agent answers 240.240.", "240.240.0.1_10000 matches"} {
		if !strings.Contains(text, want) {
			t.Errorf("trace lacks %q:\n%s", want, text)
		}
	}
	pr, err = p.PredictBundle(dnsBundle(t, p, "mysql-10000-http-dns-capture-off-dns-dial-name"))
	if err != nil {
		t.Fatal(err)
	}
	if text := pr.String(); !strings.Contains(text, "the cluster's DNS answers mysql.external.firstbyte.test → 198.18.1.7") {
		t.Errorf("capture off: trace lacks the cluster DNS answer:\n%s", text)
	}
}

// BenchmarkIPAllocator measures one run of Istio's IP allocator
// controller on a fake API server over one ServiceEntry (uncached), the
// price a dns-capture scenario's first generator input pays.
func BenchmarkIPAllocator(b *testing.B) {
	p := NewPredictor()
	s, _ := scenarios.Lookup(scenarios.Catalogue(), "mysql-10000-http-dns-capture-on-static-dial-name")
	bundle, err := p.Render(s)
	if err != nil {
		b.Fatal(err)
	}
	var ses []*networkingv1.ServiceEntry
	for _, o := range bundle.Final {
		if se, ok := o.Decoded.(*networkingv1.ServiceEntry); ok {
			ses = append(ses, se)
		}
	}
	for b.Loop() {
		if _, err := runIPAllocator(ses); err != nil {
			b.Fatal(err)
		}
	}
}
