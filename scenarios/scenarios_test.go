package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCatalogueValid(t *testing.T) {
	all := Catalogue()
	if len(all) < 60 {
		t.Fatalf("catalogue has %d scenarios", len(all))
	}
	if err := CheckUnique(all); err != nil {
		t.Fatal(err)
	}
	type key struct {
		p    Protocol
		wk   bool
		coll string
		rem  RemediationKind
	}
	have := map[key]Expectation{}
	for _, s := range all {
		if s.Why == "" || s.ID == "" {
			t.Errorf("%s: missing why or id", s.Source)
		}
		// The first row of a key is the plain case; later ones vary the
		// mesh or the remediation's form (REGISTRY_ONLY, a ServiceEntry's
		// resolution, a 500ms timeout).
		k := key{s.Protocol, s.Port == s.Protocol.WellKnownPort(), s.Collider.String(), s.Remediation.Kind}
		if _, seen := have[k]; s.Placement == External && !seen {
			have[k] = s.Expect
		}
	}
	// Every DESIGN.md §1 fact, for MySQL and SMTP, on 10000 and the
	// well-known port.
	hang, connect := Expectation{Outcome: Hung}, Expectation{Outcome: Connected}
	for _, p := range []Protocol{MySQL, SMTP} {
		for _, wk := range []bool{false, true} {
			for _, f := range []struct {
				coll string
				rem  RemediationKind
				want Expectation
			}{
				{"http", NoRemediation, hang},
				{"web/appProtocol:http", NoRemediation, hang},
				{"tcp", NoRemediation, connect},
				{"web", NoRemediation, connect},
				{"web/appProtocol:tcp", NoRemediation, connect},
				{"http", ServiceEntryTCP, connect},
				{"http", ServiceEntryTCPWithoutAddresses, hang},
				{"http", ProtocolDetectionTimeout, Expectation{Outcome: Connected, After: time.Second}},
				{"http", SidecarEgress, connect},
				{"http", ExcludeIPRanges, connect},
				{"http", ExcludePorts, connect},
				{"http", PortSeparation, connect},
				{"http", ColliderPortTCP, connect},
			} {
				k := key{p, wk, f.coll, f.rem}
				got, ok := have[k]
				if !ok {
					t.Errorf("catalogue lacks %+v", k)
				} else if got != f.want {
					t.Errorf("%+v: expect %s, want %s", k, got, f.want)
				}
			}
		}
	}
	// The controls: mongo connects through an http collider; the in-mesh
	// unclassified port hangs MySQL.
	for id, want := range map[string]Expectation{
		"mongo-10000-http":                      connect,
		"mysql-mesh-10000-db":                   hang,
		"mysql-mesh-3306-db":                    connect,
		"mysql-mesh-10000-tcp":                  connect,
		"smtp-mesh-10000-smtp":                  hang,
		"mongo-mesh-10000-db":                   connect,
		"mysql-10000-no-collider-registry-only": {Outcome: Reset},
	} {
		s, ok := Lookup(all, id)
		if !ok || s.Expect != want {
			t.Errorf("%s: found=%v expect %s, want %s", id, ok, s.Expect, want)
		}
	}
}

func TestExamplesLoad(t *testing.T) {
	files, _ := filepath.Glob("examples/*.yaml")
	if len(files) < 2 {
		t.Fatalf("want at least two examples, have %v", files)
	}
	for _, f := range files {
		got, err := LoadFile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := CheckUnique(append(Catalogue(), got...)); err != nil {
			t.Errorf("%s clashes with the catalogue: %v", f, err)
		}
	}
	s, err := LoadFile("examples/smtp-relay-detection-timeout.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r := s[1].Remediation; r.Kind != ProtocolDetectionTimeout || r.Timeout != 2*time.Second {
		t.Errorf("remediation %+v", r)
	}
	if m := s[1].EffectiveMesh(); m.ProtocolDetectionTimeout == nil || *m.ProtocolDetectionTimeout != 2*time.Second || m.OutboundTrafficPolicy != AllowAny {
		t.Errorf("effective mesh %+v", m)
	}
	if s[0].Family != ServerPort || s[0].ServerPort.Name != "relay" || !strings.HasSuffix(s[0].Source, ":5") {
		t.Errorf("first scenario %+v", s[0])
	}
}

const good = `  - id: ok
    why: fine
    protocol: mysql
    placement: external
    port: 10000
    collider: http
    expect: hangs
`

// Each bad-input class of the loader, with every problem it reports: all
// of them at once, by line.
func TestLoaderErrors(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"unknown protocol", "scenarios:\n" + strings.Replace(good, "mysql", "postgres", 1), []string{
			`f.yaml:4: protocol: unknown protocol "postgres" (want one of [dns mongo mysql smtp])`,
		}},
		{"port out of range", "scenarios:\n" + strings.Replace(good, "10000", "70000", 1), []string{
			`f.yaml:6: port: 70000 is out of range: want a port between 1 and 65535`,
		}},
		{"port not a number", "scenarios:\n" + strings.Replace(good, "10000", "mysql", 1), []string{
			`f.yaml:6: port: "mysql" is not a number: want a port between 1 and 65535`,
		}},
		{"remediation does not fit placement", "scenarios:\n" + strings.Replace(strings.Replace(good, "external", "in-mesh\n    serverPort: {portName: db}", 1), "collider: http", "remediation: serviceentry-tcp", 1), []string{
			`f.yaml:8: remediation: serviceentry-tcp does not fit placement in-mesh (it fits [external])`,
		}},
		{"remediation needs a collider", "scenarios:\n" + strings.Replace(good, "collider: http", "remediation: port-separation", 1), []string{
			`f.yaml:7: remediation: port-separation changes the collider, but the scenario has none: add a collider or pick another remediation`,
		}},
		{"duplicate ids", "scenarios:\n" + good + good, []string{
			`f.yaml:9: id: duplicate id "ok" (first defined at line 2): ids must be unique`,
		}},
		{"unknown remediation", "scenarios:\n" + strings.Replace(good, "collider: http", "collider: http\n    remediation: retry-harder", 1), []string{
			`f.yaml:8: remediation: unknown remediation "retry-harder" (want one of [collider-port-tcp exclude-ip-ranges exclude-ports none port-separation protocol-detection-timeout serviceentry-tcp serviceentry-tcp-without-addresses sidecar-egress sidecar-outbound-policy])`,
		}},
		{"unknown collider", "scenarios:\n" + strings.Replace(good, "collider: http", "collider: grpc-ish", 1), []string{
			`f.yaml:7: collider: unknown collider "grpc-ish" (want one of [appprotocol-http appprotocol-tcp http http-web none tcp web], or a mapping {portName, appProtocol})`,
		}},
		{"bad port name", "scenarios:\n" + strings.Replace(good, "collider: http", "collider: {portName: HTTP_Admin}", 1), []string{
			`f.yaml:7: collider.portName: "HTTP_Admin" is not a valid Kubernetes port name: must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`,
		}},
		{"unknown field", "scenarios:\n" + strings.Replace(good, "port: 10000", "prot: 10000", 1), []string{
			`f.yaml:2: port: missing: want the port number the client dials`,
			`f.yaml:6: prot: unknown field (known: authorizationPolicy, client, clientSidecar, collider, destinationRuleTLS, dial, dnsCapture, expect, family, id, mesh, mode, peerAuthentication, placement, port, protocol, remediation, serverPort, serverSidecar, serverWaypoint, waypoint, why)`,
		}},
		{"bad expectation", "scenarios:\n" + strings.Replace(good, "expect: hangs", "expect: works", 1), []string{
			`f.yaml:8: expect: unknown expectation "works": want "connects", "hangs", "connects-after <duration>", "fails <reset|refused|protocol-error>" or "fails <reset|protocol-error> after <duration>"`,
		}},
		{"bad duration", "scenarios:\n" + strings.Replace(good, "expect: hangs", "expect: hangs\n    mesh: {protocolDetectionTimeout: soon}", 1), []string{
			`f.yaml:9: mesh.protocolDetectionTimeout: "soon" is not a duration: want a Go duration such as 1s or 500ms`,
		}},
		{"bad outbound policy", "scenarios:\n" + strings.Replace(good, "expect: hangs", "expect: hangs\n    mesh: {outboundTrafficPolicy: DENY}", 1), []string{
			`f.yaml:9: mesh.outboundTrafficPolicy: "DENY": want ALLOW_ANY, REGISTRY_ONLY or ALLOW_ANY_DYNAMIC_DNS`,
		}},
		{"server port on external", "scenarios:\n" + strings.Replace(good, "collider: http", "serverPort: {portName: db}", 1), []string{
			`f.yaml:7: serverPort: only in-mesh servers have a Service port: remove it or set placement: in-mesh`,
		}},
		{"in-mesh without server port", "scenarios:\n" + strings.Replace(good, "external", "in-mesh", 1), []string{
			`f.yaml:5: serverPort: missing: an in-mesh server needs its Service port declaration, e.g. {portName: db}; write {} for an unnamed port`,
		}},
		{"timeout twice", "scenarios:\n" + strings.Replace(good, "collider: http", "remediation: protocol-detection-timeout\n    mesh: {protocolDetectionTimeout: 1s}", 1), []string{
			`f.yaml:8: mesh.protocolDetectionTimeout: conflicts with remediation protocol-detection-timeout, which sets it: keep one`,
		}},
		{"bad id", "scenarios:\n" + strings.Replace(good, "id: ok", "id: My Case", 1), []string{
			`f.yaml:2: id: "My Case": want lowercase letters, digits and '-', at most 63 characters`,
		}},
		{"inbound setting on an external server", "scenarios:\n" + strings.Replace(good, "collider: http", "peerAuthentication: STRICT", 1), []string{
			`f.yaml:7: peerAuthentication: inbound settings need the server in the mesh: set placement: in-mesh with a serverPort`,
		}},
		{"policy without a server sidecar", "scenarios:\n" + strings.Replace(strings.Replace(good, "external", "in-mesh\n    serverPort: {portName: tcp}", 1), "collider: http", "authorizationPolicy: deny-client", 1), []string{
			`f.yaml:8: authorizationPolicy: is enforced by the server's sidecar: add serverSidecar: true`,
		}},
		{"bad mTLS mode", "scenarios:\n" + strings.Replace(strings.Replace(good, "external", "in-mesh\n    serverPort: {portName: tcp}", 1), "collider: http", "serverSidecar: true\n    peerAuthentication: strict", 1), []string{
			`f.yaml:9: peerAuthentication: "strict": want one of [DISABLE PERMISSIVE STRICT]`,
		}},
		{"DestinationRule without a client sidecar", "scenarios:\n" + strings.Replace(strings.Replace(good, "external", "in-mesh\n    serverPort: {portName: tcp}", 1), "collider: http", "clientSidecar: false\n    destinationRuleTLS: ISTIO_MUTUAL", 1), []string{
			`f.yaml:9: destinationRuleTLS: is applied by the client's sidecar, and clientSidecar is false: remove one of them`,
		}},
		{"not a boolean", "scenarios:\n" + strings.Replace(strings.Replace(good, "external", "in-mesh\n    serverPort: {portName: tcp}", 1), "collider: http", "serverSidecar: yes-please", 1), []string{
			`f.yaml:8: serverSidecar: "yes-please": want true or false`,
		}},
		{"not yaml", "scenarios: [\n", []string{
			`f.yaml:1: (yaml): sequence end token ']' not found: check the indentation and quoting there`,
		}},
		{"no scenarios key", "cases: []\n", []string{
			`f.yaml:1: cases: unknown field (known: scenarios)`,
		}},
		{"empty list", "scenarios: []\n", []string{
			`f.yaml:1: scenarios: the list is empty: add at least one scenario`,
		}},
		{"every problem at once", "scenarios:\n" + strings.Replace(strings.Replace(good, "mysql", "pg", 1), "10000", "0", 1), []string{
			`f.yaml:4: protocol: unknown protocol "pg" (want one of [dns mongo mysql smtp])`,
			`f.yaml:6: port: 0 is out of range: want a port between 1 and 65535`,
		}},
		{"blank why", "scenarios:\n" + strings.Replace(good, "why: fine", "why: ' '", 1), []string{
			`f.yaml:3: why: is empty: want one line saying why you expect this outcome`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if d := cmp.Diff(c.want, problems(t, c.body)); d != "" {
				t.Errorf("problems (-want +got):\n%s", d)
			}
		})
	}
}

// problems is what Parse says about body, one problem a line; each is a
// *FieldError.
func problems(t *testing.T, body string) []string {
	t.Helper()
	list, err := Parse("f.yaml", []byte(body))
	if err == nil {
		t.Fatalf("accepted %d scenarios:\n%s", len(list), body)
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		if _, ok := e.(*FieldError); !ok {
			t.Errorf("not a FieldError: %T %v", e, e)
		}
	}
	return strings.Split(err.Error(), "\n")
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestExpectationMatch(t *testing.T) {
	late := Expectation{Outcome: Connected, After: time.Second}
	for _, c := range []struct {
		e    Expectation
		o    Outcome
		fb   time.Duration
		want bool
	}{
		{Expectation{Outcome: Connected}, Connected, 3 * time.Millisecond, true},
		{Expectation{Outcome: Connected}, Connected, time.Second, false},
		{Expectation{Outcome: Connected}, Hung, 0, false},
		{late, Connected, 1010 * time.Millisecond, true},
		{late, Connected, 100 * time.Millisecond, false},
		{late, Connected, 3 * time.Second, false},
		{Expectation{Outcome: Hung}, Hung, 0, true},
		{Expectation{Outcome: Reset}, Refused, 0, false},
	} {
		if got, why := c.e.Match(c.o, c.fb); got != c.want {
			t.Errorf("%s vs %s@%s: got %v (%s)", c.e, c.o, c.fb, got, why)
		}
	}
	if b := late.Budget(time.Second); b <= 1500*time.Millisecond {
		t.Errorf("late-connect budget %s cannot see the connect land", b)
	}
}

func TestParseExpectationRoundTrip(t *testing.T) {
	for _, s := range []string{"connects", "hangs", "connects-after 1s", "fails reset", "fails refused", "fails protocol-error"} {
		e, err := ParseExpectation(s)
		if err != nil || e.String() != s {
			t.Errorf("%q → %v %v", s, e, err)
		}
	}
	for _, s := range []string{"fails hung", "connects-after", "connects-after -1s", ""} {
		if _, err := ParseExpectation(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestLabels(t *testing.T) {
	s, _ := Lookup(Catalogue(), "mongo-10000-http")
	for _, l := range []string{"protocol:mongo", "family:collision", "remediation:none", "control", "expect:connects"} {
		if !s.HasLabel(l) {
			t.Errorf("mongo control lacks label %s: %v", l, s.Labels())
		}
	}
}
