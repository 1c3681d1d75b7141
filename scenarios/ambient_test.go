package scenarios

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const ambientGood = `scenarios:
  - id: amb
    why: fine
    mode: ambient
    waypoint: all
    protocol: mysql
    placement: in-mesh
    port: 10000
    serverPort: {portName: tcp}
    expect: fails reset after 15s
`

// The ambient dimensions parse into AmbientSpec, default to an ambient
// client, and every row is labelled with its mode.
func TestAmbientScenario(t *testing.T) {
	list, err := Parse("f.yaml", []byte(ambientGood))
	if err != nil {
		t.Fatal(err)
	}
	s := list[0]
	if s.Family != AmbientFamily || s.Ambient == nil || *s.Ambient != (AmbientSpec{Waypoint: WaypointAll, Client: ClientAmbient}) {
		t.Fatalf("parsed %+v (ambient %+v)", s, s.Ambient)
	}
	if !s.Security.NoClientSidecar || !s.HasLabel("mode:ambient") || !s.HasLabel("waypoint:all") || !s.HasLabel("client:ambient") {
		t.Errorf("labels %v, security %+v", s.Labels(), s.Security)
	}
	var ambient int
	for _, c := range Catalogue() {
		if c.HasLabel("mode:ambient") == c.HasLabel("mode:sidecar") {
			t.Errorf("%s: labels %v carry neither or both modes", c.ID, c.Labels())
		}
		if c.Mode() == ModeAmbient {
			ambient++
			if !strings.Contains(c.ID, "ambient") && !strings.Contains(c.ID, "waypoint") || c.Why == "" {
				t.Errorf("%s: an ambient row needs ambient or waypoint in its id and a why", c.ID)
			}
		}
	}
	if ambient < 8 {
		t.Errorf("%d ambient rows, want at least 8", ambient)
	}
}

// What does not fit ambient mode is reported at its line, with the fix.
func TestAmbientLoaderErrors(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"waypoint without mode", strings.Replace(ambientGood, "    mode: ambient\n", "", 1), []string{
			`f.yaml:4: waypoint: is an ambient dimension: add mode: ambient`,
		}},
		{"unknown waypoint", strings.Replace(ambientGood, "waypoint: all", "waypoint: namespace", 1), []string{
			`f.yaml:5: waypoint: "namespace": want one of [none service workload all]`,
		}},
		{"unknown client", strings.Replace(ambientGood, "waypoint: all", "waypoint: all\n    client: vm", 1), []string{
			`f.yaml:6: client: "vm": want one of [ambient sidecar outside]`,
		}},
		{"collider type", strings.Replace(ambientGood, "port: 10000", "port: 10000\n    collider: {portName: http, type: Headless}", 1), []string{
			`f.yaml:9: collider.type: an ambient collider is a ClusterIP Service in the server's namespace (in-mesh) or a ServiceEntry bound to the egress waypoint (external): remove type`,
		}},
		{"remediation", strings.Replace(ambientGood, "port: 10000", "port: 10000\n    remediation: exclude-ports", 1), []string{
			`f.yaml:9: remediation: exclude-ports acts on a client sidecar and does not apply in mode: ambient: use one of [none collider-port-tcp port-separation], or another waypoint binding (waypoint: none|service|workload|all)`,
		}},
		{"sidecar setting", strings.Replace(ambientGood, "port: 10000", "port: 10000\n    peerAuthentication: STRICT", 1), []string{
			`f.yaml:9: peerAuthentication: is enforced by the server's sidecar: add serverSidecar: true`,
			`f.yaml:9: peerAuthentication: is a sidecar-mode setting and does not apply in mode: ambient (the client is set with client: ambient|sidecar|outside): remove it`,
		}},
		{"workload waypoint for an external server", strings.Replace(strings.Replace(ambientGood, "in-mesh", "external", 1), "waypoint: all", "waypoint: workload", 1), []string{
			`f.yaml:5: waypoint: a ServiceEntry binds only to a waypoint that serves services: want none, service or all`,
		}},
		{"external without its ServiceEntry port", strings.Replace(strings.Replace(ambientGood, "in-mesh", "external", 1), "    serverPort: {portName: tcp}\n", "", 1), []string{
			`f.yaml:7: serverPort: missing: an external server in mode: ambient is reached through an egress ServiceEntry; declare its port, e.g. {portName: tcp, appProtocol: TCP}, or {portName: db} to leave the protocol to detection`,
		}},
		{"server waypoint without a waypoint for services", strings.Replace(ambientGood, "waypoint: all", "waypoint: workload\n    serverWaypoint: none", 1), []string{
			`f.yaml:6: serverWaypoint: overrides the binding of the server's Service (or ServiceEntry) to the scenario's waypoint, which serves no services here: set waypoint: service or all`,
		}},
		{"unknown server waypoint", strings.Replace(ambientGood, "waypoint: all", "waypoint: all\n    serverWaypoint: other", 1), []string{
			`f.yaml:6: serverWaypoint: "other": want one of [none own]`,
		}},
		{"wrong family", strings.Replace(ambientGood, "mode: ambient", "mode: ambient\n    family: inbound", 1), []string{
			`f.yaml:5: family: mode: ambient scenarios are family ambient, not inbound: remove family or set it to ambient`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if d := cmp.Diff(c.want, problems(t, c.body)); d != "" {
				t.Errorf("problems (-want +got):\n%s", d)
			}
		})
	}
}
