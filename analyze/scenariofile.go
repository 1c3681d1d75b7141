package analyze

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/scenarios"
	"go.yaml.in/yaml/v3"
)

// scenarioDoc is one scenario in the scenario-file form (README,
// "Scenario files").
type scenarioDoc struct {
	ID          string         `yaml:"id"`
	Why         string         `yaml:"why"`
	Protocol    string         `yaml:"protocol"`
	Placement   string         `yaml:"placement"`
	Port        int            `yaml:"port"`
	ServerPort  *portDoc       `yaml:"serverPort,omitempty"`
	Collider    any            `yaml:"collider"`
	Remediation any            `yaml:"remediation,omitempty"`
	Mesh        map[string]any `yaml:"mesh,omitempty"`
	// The ambient family (ambient.go): mode ambient and its waypoints.
	Mode           string `yaml:"mode,omitempty"`
	Waypoint       string `yaml:"waypoint,omitempty"`
	ServerWaypoint string `yaml:"serverWaypoint,omitempty"`
	// The inbound family: a server with its own sidecar.
	ServerSidecar      bool   `yaml:"serverSidecar,omitempty"`
	ClientSidecar      *bool  `yaml:"clientSidecar,omitempty"`
	PeerAuthentication string `yaml:"peerAuthentication,omitempty"`
	Expect             string `yaml:"expect"`
}

type portDoc struct {
	PortName    string `yaml:"portName,omitempty"`
	AppProtocol string `yaml:"appProtocol,omitempty"`
}

// Emitted is what EmitScenarios wrote and what it left out, and why.
type Emitted struct {
	Written int
	Skipped []string
}

// EmitScenarios writes a scenario file that reproduces each finding in
// the suite's scenario model, with one scenario per checked remediation
// the model knows. Each scenario is predicted first (Istio's generator
// on the scenario's fixtures); one whose prediction differs from the
// expectation is left out and named, never written to fail.
func EmitScenarios(r *Report, path string) (Emitted, error) {
	var em Emitted
	var docs []scenarioDoc
	p := predict.NewPredictor()
	seen := map[string]bool{}
	for _, f := range r.Findings {
		cands, why := scenariosFor(f)
		if why != "" {
			em.Skipped = append(em.Skipped, fmt.Sprintf("%s (%s): %s", f.ID, f.Where, why))
			continue
		}
		for _, d := range cands {
			if seen[d.ID] {
				continue
			}
			s, err := scenarios.Parse("analyze", mustYAML(map[string]any{"scenarios": []scenarioDoc{d}}))
			if err != nil {
				em.Skipped = append(em.Skipped, fmt.Sprintf("%s: %s: the scenario model rejects it: %v", f.ID, d.ID, err))
				continue
			}
			pr, err := p.Predict(s[0])
			if err != nil {
				em.Skipped = append(em.Skipped, fmt.Sprintf("%s: %s: predict cannot run it: %v", f.ID, d.ID, err))
				continue
			}
			if ok, why := s[0].Expect.Match(pr.Outcome, pr.After); !ok {
				em.Skipped = append(em.Skipped, fmt.Sprintf("%s: %s: not reproduced in the scenario model (%s)", f.ID, d.ID, why))
				continue
			}
			seen[d.ID] = true
			docs = append(docs, d)
			f.Scenarios = append(f.Scenarios, d.ID)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by firstbyte analyze (%s): each finding as scenarios, with the\n# remediations analyze checked. Run: make e2e TARGET=predict SCENARIOS=<this file>\n# (or on kind with your Istio version: make e2e SCENARIOS=<this file>).\n", r.Istio)
	b.Write(mustYAML(map[string]any{"scenarios": docs}))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return em, fmt.Errorf("writing scenario file: %w", err)
	}
	em.Written = len(docs)
	return em, nil
}

func mustYAML(v any) []byte {
	out, err := yaml.Marshal(v)
	if err != nil {
		panic(err)
	}
	return out
}

var nonID = regexp.MustCompile(`[^a-z0-9-]+`)

func scenarioID(parts ...string) string {
	id := strings.Trim(nonID.ReplaceAllString(strings.ToLower(strings.Join(parts, "-")), "-"), "-")
	id = regexp.MustCompile(`-+`).ReplaceAllString(id, "-")
	if len(id) > 63 {
		id = strings.TrimRight(id[:63], "-")
	}
	return id
}

// scenariosFor maps a finding onto the scenario model: an external
// server behind a colliding Service port (collision family), or an
// in-mesh server behind its own unclassified port (server-port family).
func scenariosFor(f *Finding) ([]scenarioDoc, string) {
	if f.Class == PortCapture {
		return nil, "the scenario model has no ServiceEntry that captures another server's port (its ServiceEntry points at the server itself)"
	}
	if f.server != nil {
		return inboundScenarios(f)
	}
	if f.waypoint != nil {
		return ambientScenarios(f)
	}
	var svc *Cause
	for i, c := range f.Causes {
		if strings.HasPrefix(c.Object, "Service/") {
			svc = &f.Causes[i]
			break
		}
	}
	if svc == nil {
		return nil, "the cause is not a Service port, and the scenario model's collider is a Service"
	}
	hit := f.Hits[0].Destination
	proto := hit.Protocol
	if proto != "smtp" {
		proto = "mysql"
	}
	mesh := map[string]any{}
	if f.meshTimeout > 0 {
		mesh["protocolDetectionTimeout"] = f.meshTimeout.String()
	}
	if f.registryOnly {
		mesh["outboundTrafficPolicy"] = scenarios.RegistryOnly
	}
	if len(mesh) == 0 {
		mesh = nil
	}
	name := strings.Split(svc.Object, "/")
	base := scenarioDoc{Protocol: proto, Port: f.Port, Mesh: mesh, Expect: expectText(f.outcome, f.after)}
	port := &portDoc{PortName: svc.PortName, AppProtocol: svc.AppProtocol}
	var out []scenarioDoc
	if f.vipOwner != "" {
		base.Placement = string(scenarios.InMesh)
		base.ServerPort = port
		base.Collider = "none"
		base.ID = scenarioID("analyze", proto, "mesh", fmt.Sprint(f.Port), name[1], name[2])
		base.Why = fmt.Sprintf("%s (found by firstbyte analyze as %s): %s", svc.Text, f.ID, f.Meets)
	} else {
		if !hit.External {
			return nil, "the server-first destination is in the mesh, and the collision family's server is external"
		}
		base.Placement = string(scenarios.External)
		base.Collider = port
		base.ID = scenarioID("analyze", proto, fmt.Sprint(f.Port), name[1], name[2])
		base.Why = fmt.Sprintf("%s collides with a server-first destination (%s; found by firstbyte analyze as %s): %s", svc.Text, hit.Name, f.ID, f.Meets)
	}
	out = append(out, base)
	for _, rr := range f.Remediations {
		kind := scenarios.RemediationKind(rr.Kind)
		switch kind {
		case scenarios.ServiceEntryTCP, scenarios.PortSeparation, scenarios.ExcludeIPRanges, scenarios.ColliderPortTCP, scenarios.ExcludePorts, scenarios.ProtocolDetectionTimeout, scenarios.SidecarEgress:
		default:
			continue
		}
		s := base
		s.ID = scenarioID(base.ID, rr.Kind)
		s.Why = fmt.Sprintf("%s, checked by firstbyte analyze on the mesh: %s", rr.Change, rr.Verdict)
		s.Remediation = rr.Kind
		if kind == scenarios.ProtocolDetectionTimeout {
			s.Remediation = map[string]string{"kind": rr.Kind, "timeout": rr.after.String()}
			if rr.after == 0 {
				continue
			}
			s.Mesh = nil
			if f.registryOnly {
				s.Mesh = map[string]any{"outboundTrafficPolicy": scenarios.RegistryOnly}
			}
		}
		s.Expect = remediationExpect(rr)
		if s.Expect == "" {
			continue
		}
		out = append(out, s)
	}
	return out, ""
}

func expectText(o scenarios.Outcome, after time.Duration) string {
	switch {
	case o == scenarios.Connected && after > 0:
		return "connects-after " + after.String()
	case o == scenarios.Connected:
		return "connects"
	case o == scenarios.Hung:
		return "hangs"
	default:
		return "fails " + string(o)
	}
}

// remediationExpect is the expectation a checked remediation gives its
// scenario: its first hit's outcome.
func remediationExpect(rr RemediationResult) string {
	switch rr.Verdict {
	case Fixes:
		return "connects"
	case FixesLate:
		return "connects-after " + rr.after.String()
	}
	if len(rr.Outcomes) == 0 {
		return ""
	}
	o := strings.Fields(rr.Outcomes[0])[0]
	switch o {
	case string(scenarios.Hung):
		return "hangs"
	case string(scenarios.Reset), string(scenarios.Refused), string(scenarios.ProtocolError):
		return "fails " + o
	}
	return ""
}

// inboundScenarios maps an inbound finding onto the inbound family: an
// in-mesh server with its own sidecar, a client without one (plaintext),
// the server's port as declared and the PeerAuthentication mode that
// applies; each checked remediation the family can state becomes one
// more scenario. Emission predicts each and keeps only those that
// reproduce.
// inboundSlug shortens remediation kinds in ids, which stop at 63
// characters.
var inboundSlug = map[string]string{"peerauthentication-disable": "pa-disable", "server-port-tcp": "port-tcp", "server-port-tcp+peerauthentication-disable": "port-tcp-pa-disable"}

func inboundScenarios(f *Finding) ([]scenarioDoc, string) {
	s := f.server
	if s.target != int(s.port.Port) {
		return nil, fmt.Sprintf("the Service maps port %d to pod port %d, and the inbound family's server listens on the Service's port", s.port.Port, s.target)
	}
	proto := f.Hits[0].Destination.Protocol
	if proto != "smtp" && proto != "mongo" {
		proto = "mysql"
	}
	mode := "PERMISSIVE"
	for _, c := range f.Causes {
		if strings.HasPrefix(c.Object, "PeerAuthentication/") {
			if i := strings.Index(c.Text, "(mode "); i >= 0 {
				mode = strings.FieldsFunc(c.Text[i+len("(mode "):], func(r rune) bool { return r == ';' || r == ')' })[0]
			}
		}
	}
	if mode == "UNSET" {
		mode = "PERMISSIVE"
	}
	no := false
	port := &portDoc{PortName: s.port.Name}
	if s.port.AppProtocol != nil {
		port.AppProtocol = *s.port.AppProtocol
	}
	mesh := map[string]any(nil)
	if f.meshTimeout > 0 {
		mesh = map[string]any{"protocolDetectionTimeout": f.meshTimeout.String()}
	}
	base := scenarioDoc{
		ID:       scenarioID("analyze", proto, "inbound", s.svc.Namespace, s.svc.Name, fmt.Sprint(s.port.Port)),
		Why:      fmt.Sprintf("%s (found by firstbyte analyze as %s): a plaintext client %s", f.Causes[0].Text, f.ID, f.Meets),
		Protocol: proto, Placement: string(scenarios.InMesh), Port: int(s.port.Port), ServerPort: port, Collider: "none",
		Mesh: mesh, ServerSidecar: true, ClientSidecar: &no, PeerAuthentication: mode, Expect: expectText(f.outcome, f.after),
	}
	out := []scenarioDoc{base}
	for _, rr := range f.Remediations {
		x := base
		x.ID = scenarioID(base.ID, inboundSlug[rr.Kind])
		x.Why = fmt.Sprintf("%s, checked by firstbyte analyze on the mesh: %s", rr.Change, rr.Verdict)
		switch rr.Kind {
		case "peerauthentication-disable":
			x.PeerAuthentication = "DISABLE"
		case "server-port-tcp":
			x.ServerPort = &portDoc{PortName: tcpName(s.port.Name)}
		case "server-port-tcp+peerauthentication-disable":
			x.PeerAuthentication, x.ServerPort = "DISABLE", &portDoc{PortName: tcpName(s.port.Name)}
		default:
			continue
		}
		if x.Expect = remediationExpect(rr); x.Expect == "" {
			continue
		}
		out = append(out, x)
	}
	return out, ""
}
