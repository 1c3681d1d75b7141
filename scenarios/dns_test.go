package scenarios

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The dial and dnsCapture fields: what they accept, and every misfit
// reported at its field and line.
func TestDNSCaptureFields(t *testing.T) {
	se := strings.Replace(good, "collider: http", "collider: http\n    remediation: {kind: serviceentry-tcp-without-addresses, resolution: DNS, endpoints: [server]}", 1)
	ok := "scenarios:\n" + strings.Replace(se, "expect: hangs", "dial: name\n    dnsCapture: true\n    expect: connects", 1)
	list, err := Parse("f.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	s := list[0]
	if !s.DialsName() || !s.DNSCapture || s.Dial != DialName {
		t.Errorf("dial/dnsCapture not read: %+v", s)
	}
	if !s.HasLabel("dial:name") || !s.HasLabel("dns-capture") {
		t.Errorf("labels %v lack dial:name and dns-capture", s.Labels())
	}
	// With DNS capture and a dialled name the ServiceEntry without
	// addresses is the fix, not the negative control.
	if s.HasLabel("control") {
		t.Errorf("labels %v: a DNS-capture row that dials the name is no control", s.Labels())
	}
	ip, err := Parse("f.yaml", []byte("scenarios:\n"+strings.Replace(se, "expect: hangs", "dnsCapture: true\n    expect: hangs", 1)))
	if err != nil || !ip[0].HasLabel("control") {
		t.Errorf("dial ip with DNS capture: labels %v, %v; want control", ip, err)
	}
	// dial: ip is the default and reads as such.
	list, err = Parse("f.yaml", []byte("scenarios:\n"+strings.Replace(good, "expect: hangs", "dial: ip\n    expect: hangs", 1)))
	if err != nil || list[0].DialsName() || list[0].Dial != "" {
		t.Errorf("dial: ip = %+v, %v; want the default", list, err)
	}
	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"unknown dial", strings.Replace(good, "expect: hangs", "dial: hostname\n    expect: hangs", 1), []string{
			`f.yaml:8: dial: "hostname": want one of [ip name]`,
		}},
		{"name without a ServiceEntry", strings.Replace(good, "expect: hangs", "dial: name\n    expect: hangs", 1), []string{
			`f.yaml:8: dial: name dials the remediation ServiceEntry's host (<protocol>.external.firstbyte.test), and the scenario has none: use remediation serviceentry-tcp or serviceentry-tcp-without-addresses, or dial: ip`,
		}},
		{"name in the mesh", strings.Replace(strings.Replace(good, "external", "in-mesh\n    serverPort: {portName: db}", 1), "expect: hangs", "dial: name\n    expect: hangs", 1), []string{
			`f.yaml:9: dial: an in-mesh client already dials the server Service's name (server.<namespace>.svc.cluster.local): remove dial or set placement: external`,
		}},
		{"capture without a client sidecar", strings.Replace(strings.Replace(good, "external", "in-mesh\n    serverPort: {portName: tcp}", 1), "expect: hangs", "clientSidecar: false\n    dnsCapture: true\n    expect: hangs", 1), []string{
			`f.yaml:10: dnsCapture: DNS capture is the client sidecar's, and clientSidecar is false: remove one of them`,
		}},
		{"capture not a boolean", strings.Replace(good, "expect: hangs", "dnsCapture: on\n    expect: hangs", 1), []string{
			`f.yaml:8: dnsCapture: "on": want true or false`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if d := cmp.Diff(c.want, problems(t, "scenarios:\n"+c.body)); d != "" {
				t.Errorf("problems (-want +got):\n%s", d)
			}
		})
	}
}

// The dns-capture family covers the grid the issue asks for: DNS capture
// on and off × resolution DNS/STATIC/NONE × dial name and IP, for MySQL,
// each with a why.
func TestDNSCaptureGrid(t *testing.T) {
	type cell struct {
		capture bool
		res     string
		name    bool
	}
	have := map[cell]bool{}
	for _, s := range Catalogue() {
		if s.Family != DNSCaptureFamily {
			continue
		}
		if !strings.Contains(s.ID, "dns-capture") || s.Why == "" {
			t.Errorf("%s: a dns-capture row needs dns-capture in its id and a why", s.ID)
		}
		if s.Protocol == MySQL && s.Remediation.ServiceEntry != nil && len(s.Remediation.ServiceEntry.Addresses) == 0 {
			have[cell{s.DNSCapture, s.Remediation.ServiceEntry.Resolution, s.DialsName()}] = true
		}
	}
	for _, capture := range []bool{true, false} {
		for _, res := range Resolutions {
			for _, name := range []bool{true, false} {
				if c := (cell{capture, res, name}); !have[c] {
					t.Errorf("no MySQL row for DNS capture %v, resolution %s, dial name %v", capture, res, name)
				}
			}
		}
	}
}
