package predict

import (
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/spf13/pflag"
	istiolog "istio.io/istio/pkg/log"
	"istio.io/istio/tools/common/config"
	"istio.io/istio/tools/istio-iptables/pkg/cmd"
)

var pod = CapturePod{IP: ClientPodIP}

func withAnnotations(a map[string]string) CapturePod {
	p := pod
	p.Annotations = a
	return p
}

func TestRestoreRules(t *testing.T) {
	for _, c := range []struct {
		name string
		pod  CapturePod
		want []string
	}{
		{"defaults", pod, []string{
			"* nat", "-A OUTPUT -j ISTIO_OUTPUT", "-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001",
			"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN", "-A ISTIO_OUTPUT -j ISTIO_REDIRECT", "COMMIT",
		}},
		{"excludeOutboundIPRanges", withAnnotations(map[string]string{fixtures.AnnotationExcludeOutboundIPRanges: "198.51.100.7/32"}),
			[]string{"-A ISTIO_OUTPUT -d 198.51.100.7/32 -j RETURN"}},
		{"excludeOutboundPorts", withAnnotations(map[string]string{fixtures.AnnotationExcludeOutboundPorts: "10000"}),
			[]string{"-A ISTIO_OUTPUT -p tcp --dport 10000 -j RETURN"}},
		{"proxy uid for the local target", CapturePod{IP: ClientPodIP, ProxyUID: "1500", ProxyGID: "1500"},
			[]string{"-A ISTIO_OUTPUT -m owner --uid-owner 1500 -j RETURN", "-A ISTIO_OUTPUT -m owner --gid-owner 1500 -j RETURN"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			text, err := RestoreRules(c.pod)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(text, w+"\n") {
					t.Errorf("rules lack %q:\n%s", w, text)
				}
			}
			if _, err := ParseRestore(text); err != nil {
				t.Errorf("cannot read istio-iptables' own rules back: %v", err)
			}
		})
	}
}

func TestCaptureOutbound(t *testing.T) {
	excludeIP := withAnnotations(map[string]string{fixtures.AnnotationExcludeOutboundIPRanges: "198.51.100.7/32"})
	excludePort := withAnnotations(map[string]string{fixtures.AnnotationExcludeOutboundPorts: "10000"})
	for _, c := range []struct {
		name     string
		pod      CapturePod
		dst      string
		uid      uint32
		redirect bool
	}{
		{"app traffic is captured", pod, "198.51.100.7:10000", AppUID, true},
		{"excluded IP range", excludeIP, "198.51.100.7:10000", AppUID, false},
		{"another IP with the exclusion", excludeIP, "198.51.100.8:10000", AppUID, true},
		{"excluded port", excludePort, "198.51.100.7:10000", AppUID, false},
		{"another port with the exclusion", excludePort, "198.51.100.7:3306", AppUID, true},
		{"the proxy's own traffic", pod, "198.51.100.7:10000", 1337, false},
		{"localhost", pod, "127.0.0.1:10000", AppUID, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := CaptureOutbound(c.pod, netip.MustParseAddrPort(c.dst), c.uid)
			if err != nil {
				t.Fatal(err)
			}
			if got.Redirected != c.redirect || (c.redirect && got.ToPort != 15001) {
				t.Errorf("redirected %v to %d, want %v", got.Redirected, got.ToPort, c.redirect)
			}
			var trace []string
			for _, s := range got.Trace {
				trace = append(trace, s.Decision)
			}
			if !strings.Contains(strings.Join(trace, "\n"), "rule \"-A") {
				t.Errorf("trace names no rule:\n%s", strings.Join(trace, "\n"))
			}
		})
	}
}

func TestCaptureRejectsBadAnnotations(t *testing.T) {
	_, err := RestoreRules(withAnnotations(map[string]string{fixtures.AnnotationExcludeOutboundIPRanges: "not-a-cidr"}))
	if err == nil || !strings.Contains(err.Error(), fixtures.AnnotationExcludeOutboundIPRanges) {
		t.Errorf("want an error naming the annotation, got %v", err)
	}
	if _, err := RestoreRules(CapturePod{}); err == nil || !strings.Contains(err.Error(), "pod IP") {
		t.Errorf("want an error naming the pod IP, got %v", err)
	}
}

// configFlags must route every flag of istio-iptables' command to the
// field it binds: a flag Istio adds or renames fails here first.
func TestIptablesFlagsMatchIstio(t *testing.T) {
	logOpts := istiolog.DefaultOptions()
	c := cmd.GetCommand(logOpts)
	logOpts.AttachCobraFlags(c)
	logFlags := map[string]bool{}
	c.PersistentFlags().VisitAll(func(f *pflag.Flag) { logFlags[f.Name] = true })
	ours := configFlags(config.DefaultConfig())
	var missing []string
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if logFlags[f.Name] {
			return
		}
		if _, ok := ours[f.Name]; !ok {
			missing = append(missing, f.Name)
		}
		delete(ours, f.Name)
	})
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("istio-iptables flags predict does not map: %v", missing)
	}
	if len(ours) > 0 {
		t.Errorf("predict maps flags istio-iptables no longer has: %v", ours)
	}
}

func TestParseRestoreRejectsUnknown(t *testing.T) {
	r, err := ParseRestore("* nat\n-N X\n-A OUTPUT -m statistic --probability 0.5 -j X\nCOMMIT\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Output(Packet{Dst: server, Protocol: "tcp"})
	if err == nil || !strings.Contains(err.Error(), "--probability") {
		t.Errorf("want an error naming the unknown matcher, got %v", err)
	}
	if _, err := ParseRestore("-A OUTPUT -j X\n"); err == nil {
		t.Error("a rule outside a table was accepted")
	}
}
