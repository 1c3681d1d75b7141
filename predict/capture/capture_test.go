package capture_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/predict/capture"
)

var pod = capture.CapturePod{IP: fixtures.WorldClientPodIP}

func withAnnotations(a map[string]string) capture.CapturePod {
	p := pod
	p.Annotations = a
	return p
}

func TestRestoreRules(t *testing.T) {
	for _, c := range []struct {
		name string
		pod  capture.CapturePod
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
		{"proxy uid for the local target", capture.CapturePod{IP: fixtures.WorldClientPodIP, ProxyUID: "1500", ProxyGID: "1500"},
			[]string{"-A ISTIO_OUTPUT -m owner --uid-owner 1500 -j RETURN", "-A ISTIO_OUTPUT -m owner --gid-owner 1500 -j RETURN"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			text, err := capture.RestoreRules(c.pod)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(text, w+"\n") {
					t.Errorf("rules lack %q:\n%s", w, text)
				}
			}
			if _, err := capture.ParseRestore(text); err != nil {
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
		pod      capture.CapturePod
		dst      string
		uid      uint32
		redirect bool
	}{
		{"app traffic is captured", pod, "198.51.100.7:10000", predict.AppUID, true},
		{"excluded IP range", excludeIP, "198.51.100.7:10000", predict.AppUID, false},
		{"another IP with the exclusion", excludeIP, "198.51.100.8:10000", predict.AppUID, true},
		{"excluded port", excludePort, "198.51.100.7:10000", predict.AppUID, false},
		{"another port with the exclusion", excludePort, "198.51.100.7:3306", predict.AppUID, true},
		{"the proxy's own traffic", pod, "198.51.100.7:10000", 1337, false},
		{"localhost", pod, "127.0.0.1:10000", predict.AppUID, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := capture.CaptureOutbound(c.pod, netip.MustParseAddrPort(c.dst), c.uid)
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
	_, err := capture.RestoreRules(withAnnotations(map[string]string{fixtures.AnnotationExcludeOutboundIPRanges: "not-a-cidr"}))
	if err == nil || !strings.Contains(err.Error(), fixtures.AnnotationExcludeOutboundIPRanges) {
		t.Errorf("want an error naming the annotation, got %v", err)
	}
	if _, err := capture.RestoreRules(capture.CapturePod{}); err == nil || !strings.Contains(err.Error(), "pod IP") {
		t.Errorf("want an error naming the pod IP, got %v", err)
	}
}

func TestParseRestoreRejectsUnknown(t *testing.T) {
	r, err := capture.ParseRestore("* nat\n-N X\n-A OUTPUT -m statistic --probability 0.5 -j X\nCOMMIT\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Output(capture.Packet{Dst: netip.AddrPortFrom(fixtures.WorldServerIP, 10000), Protocol: "tcp"})
	if err == nil || !strings.Contains(err.Error(), "--probability") {
		t.Errorf("want an error naming the unknown matcher, got %v", err)
	}
	if _, err := capture.ParseRestore("-A OUTPUT -j X\n"); err == nil {
		t.Error("a rule outside a table was accepted")
	}
}
