// The loader as it was before issue 22 (scenarios/loader.go at 41e06c4),
// kept under test-only names while the new loader is proven identical.
package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"
)

func parseOld(name string, data []byte) ([]Scenario, error) {
	p := &oldParser{file: name}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, syntaxErrorOld(name, data, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &FieldError{File: name, Line: max(doc.Line, 1), Field: "(document)", Problem: "want a mapping with a \"scenarios\" list"}
	}
	var list *yaml.Node
	p.fields(doc.Content[0], "", map[string]func(*yaml.Node){
		"scenarios": func(v *yaml.Node) { list = v },
	})
	switch {
	case list == nil && len(p.errs) == 0:
		p.fail(doc.Content[0], "scenarios", "missing: the file needs a top-level \"scenarios:\" list")
	case list != nil && list.Kind != yaml.SequenceNode:
		p.fail(list, "scenarios", "want a list of scenarios")
		list = nil
	}
	var out []Scenario
	seen := map[string]int{}
	if list != nil {
		for i, n := range list.Content {
			s, ok := p.scenario(n, fmt.Sprintf("scenarios[%d]", i))
			if !ok {
				continue
			}
			if first, dup := seen[s.ID]; dup {
				p.fail(n, "id", fmt.Sprintf("duplicate id %q (first defined at line %d): ids must be unique", s.ID, first))
				continue
			}
			seen[s.ID] = n.Line
			out = append(out, s)
		}
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	if len(out) == 0 {
		return nil, &FieldError{File: name, Line: list.Line, Field: "scenarios", Problem: "the list is empty: add at least one scenario"}
	}
	return out, nil
}

var yamlLineOld = regexp.MustCompile(`line (\d+)`)

// syntaxErrorOld places a YAML syntax error at the line of the fault. yaml.v3
// reports the line where the enclosing block began (a mis-indented key on
// line 5 of a list that starts on line 2 comes out as "line 2"), so the
// position comes from goccy/go-yaml's parser, which points at the token
// it choked on; yaml.v3's own line is the fallback.
func syntaxErrorOld(name string, data []byte, err error) *FieldError {
	var located goccy.Error
	if _, perr := goccyparser.ParseBytes(data, 0); errors.As(perr, &located) && located.GetToken() != nil {
		return &FieldError{File: name, Line: max(located.GetToken().Position.Line, 1), Field: "(yaml)",
			Problem: located.GetMessage() + ": check the indentation and quoting there"}
	}
	line := 1
	if m := yamlLineOld.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	return &FieldError{File: name, Line: max(line, 1), Field: "(yaml)", Problem: err.Error()}
}

type oldParser struct {
	file string
	errs []error
}

func (p *oldParser) fail(n *yaml.Node, field, problem string) {
	p.errs = append(p.errs, &FieldError{File: p.file, Line: n.Line, Field: field, Problem: problem})
}

// fields walks a mapping, calling the handler of each known key and
// reporting unknown and repeated keys. prefix qualifies field names in
// errors ("collider." for nested mappings).
func (p *oldParser) fields(m *yaml.Node, prefix string, handlers map[string]func(*yaml.Node)) {
	if m.Kind != yaml.MappingNode {
		p.fail(m, strings.TrimSuffix(prefix, "."), "want a mapping")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		h, ok := handlers[k.Value]
		switch {
		case !ok:
			p.fail(k, prefix+k.Value, fmt.Sprintf("unknown field (known: %s)", strings.Join(sortedKeysOld(handlers), ", ")))
		case seen[k.Value]:
			p.fail(k, prefix+k.Value, "given twice")
		default:
			seen[k.Value] = true
			h(v)
		}
	}
}

func sortedKeysOld[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (p *oldParser) scalar(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.fail(n, field, "want a single value, not a list or mapping")
		return "", false
	}
	return n.Value, true
}

func (p *oldParser) duration(n *yaml.Node, field string) (time.Duration, bool) {
	v, ok := p.scalar(n, field)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		p.fail(n, field, fmt.Sprintf("%q is not a duration: want a Go duration such as 1s or 500ms", v))
		return 0, false
	}
	return d, true
}

var idPatternOld = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// scenario parses one list item. It returns ok=false when the item had
// errors (already recorded).
func (p *oldParser) scenario(n *yaml.Node, where string) (Scenario, bool) {
	before := len(p.errs)
	s := Scenario{Source: fmt.Sprintf("%s:%d", p.file, n.Line)}
	nodes := map[string]*yaml.Node{}
	keep := func(key string, f func(*yaml.Node)) func(*yaml.Node) {
		return func(v *yaml.Node) { nodes[key] = v; f(v) }
	}
	var serverPortSet, familySet bool
	var waypoint, client *string // set only when the file gives them
	p.fields(n, "", map[string]func(*yaml.Node){
		"id": keep("id", func(v *yaml.Node) {
			if id, ok := p.scalar(v, "id"); ok {
				if !idPatternOld.MatchString(id) || len(id) > 63 {
					p.fail(v, "id", fmt.Sprintf("%q: want lowercase letters, digits and '-', at most 63 characters", id))
				}
				s.ID = id
			}
		}),
		"why": keep("why", func(v *yaml.Node) {
			if w, ok := p.scalar(v, "why"); ok {
				s.Why = strings.TrimSpace(w)
			}
		}),
		"family": keep("family", func(v *yaml.Node) {
			if f, ok := p.scalar(v, "family"); ok {
				s.Family, familySet = Family(f), true
				if !slices.Contains(Families, s.Family) {
					p.fail(v, "family", fmt.Sprintf("unknown family %q (want one of %v)", f, Families))
				}
			}
		}),
		"protocol": keep("protocol", func(v *yaml.Node) {
			if x, ok := p.scalar(v, "protocol"); ok {
				pr, err := ParseProtocol(x)
				if err != nil {
					p.fail(v, "protocol", err.Error())
				}
				s.Protocol = pr
			}
		}),
		"placement": keep("placement", func(v *yaml.Node) {
			if x, ok := p.scalar(v, "placement"); ok {
				s.Placement = Placement(x)
				if !slices.Contains(Placements, s.Placement) {
					p.fail(v, "placement", fmt.Sprintf("unknown placement %q (want one of %v)", x, Placements))
				}
			}
		}),
		"port": keep("port", func(v *yaml.Node) {
			if x, ok := p.scalar(v, "port"); ok {
				port, err := strconv.Atoi(x)
				switch {
				case err != nil:
					p.fail(v, "port", fmt.Sprintf("%q is not a number: want a port between 1 and 65535", x))
				case port < 1 || port > 65535:
					p.fail(v, "port", fmt.Sprintf("%d is out of range: want a port between 1 and 65535", port))
				}
				s.Port = port
			}
		}),
		"serverPort": keep("serverPort", func(v *yaml.Node) {
			serverPortSet = true
			s.ServerPort = p.portSpec(v, "serverPort")
		}),
		"collider":    keep("collider", func(v *yaml.Node) { s.Collider = p.collider(v) }),
		"remediation": keep("remediation", func(v *yaml.Node) { s.Remediation = p.remediation(v) }),
		"mesh":        keep("mesh", func(v *yaml.Node) { s.Mesh = p.mesh(v) }),
		"serverSidecar": keep("serverSidecar", func(v *yaml.Node) {
			s.Security.ServerSidecar, _ = p.boolean(v, "serverSidecar")
		}),
		"clientSidecar": keep("clientSidecar", func(v *yaml.Node) {
			b, ok := p.boolean(v, "clientSidecar")
			s.Security.NoClientSidecar = ok && !b
		}),
		"peerAuthentication": keep("peerAuthentication", func(v *yaml.Node) {
			s.Security.PeerAuthentication = p.oneOf(v, "peerAuthentication", MTLSDisable, MTLSPermissive, MTLSStrict)
		}),
		"destinationRuleTLS": keep("destinationRuleTLS", func(v *yaml.Node) {
			s.Security.DestinationRuleTLS = p.oneOf(v, "destinationRuleTLS", MTLSDisable, TLSIstioMutual)
		}),
		"authorizationPolicy": keep("authorizationPolicy", func(v *yaml.Node) {
			s.Security.AuthorizationPolicy = p.oneOf(v, "authorizationPolicy", AllowClient, DenyClient)
		}),
		"dial": keep("dial", func(v *yaml.Node) {
			if d := p.oneOf(v, "dial", Dials...); d != DialIP {
				s.Dial = d
			}
		}),
		"dnsCapture": keep("dnsCapture", func(v *yaml.Node) {
			s.DNSCapture, _ = p.boolean(v, "dnsCapture")
		}),
		// Ambient mode (issue 14): checkAmbient says what fits together.
		"mode": keep("mode", func(v *yaml.Node) {
			s.Ambient = nil
			if p.oneOf(v, "mode", string(ModeSidecar), string(ModeAmbient)) == string(ModeAmbient) {
				s.Ambient = &AmbientSpec{Waypoint: WaypointNone, Client: ClientAmbient}
			}
		}),
		"waypoint": keep("waypoint", func(v *yaml.Node) { waypoint = ptrOld(p.oneOf(v, "waypoint", Waypoints...)) }),
		"client":   keep("client", func(v *yaml.Node) { client = ptrOld(p.oneOf(v, "client", AmbientClients...)) }),
		"expect": keep("expect", func(v *yaml.Node) {
			if x, ok := p.scalar(v, "expect"); ok {
				e, err := ParseExpectation(x)
				if err != nil {
					p.fail(v, "expect", err.Error())
				}
				s.Expect = e
			}
		}),
	})
	if n.Kind != yaml.MappingNode {
		return s, false
	}
	for _, req := range []struct{ key, hint string }{
		{"id", "a stable lowercase name such as my-mysql-hang"},
		{"why", "one line saying why you expect this outcome"},
		{"protocol", fmt.Sprintf("one of %v", Protocols())},
		{"placement", fmt.Sprintf("one of %v", Placements)},
		{"port", "the port number the client dials"},
		{"expect", `"connects", "hangs", "connects-after 1s" or "fails reset"`},
	} {
		if nodes[req.key] == nil {
			p.fail(n, req.key, "missing: want "+req.hint)
		}
	}
	if s.Remediation.Kind == "" {
		s.Remediation.Kind = NoRemediation
	}
	// Cross-field checks, reported at the field that does not fit.
	at := func(key string) *yaml.Node {
		if nodes[key] != nil {
			return nodes[key]
		}
		return n
	}
	switch s.Placement {
	case InMesh:
		if !serverPortSet {
			p.fail(at("placement"), "serverPort", "missing: an in-mesh server needs its Service port declaration, e.g. {portName: db}; write {} for an unnamed port")
		}
		if !familySet {
			s.Family = ServerPort
			if !s.Security.IsZero() {
				s.Family = Inbound
			}
		}
	case External:
		if serverPortSet && s.Ambient == nil {
			p.fail(at("serverPort"), "serverPort", "only in-mesh servers have a Service port: remove it or set placement: in-mesh")
		}
		if !familySet {
			s.Family = Collision
		}
	}
	if rule, ok := remediationRules[s.Remediation.Kind]; ok && s.Placement != "" {
		if !slices.Contains(rule.placements, s.Placement) {
			p.fail(at("remediation"), "remediation", fmt.Sprintf("%s does not fit placement %s (it fits %v)", s.Remediation.Kind, s.Placement, rule.placements))
		}
		if rule.needsCollider && !s.Collider.Present {
			p.fail(at("remediation"), "remediation", fmt.Sprintf("%s changes the collider, but the scenario has none: add a collider or pick another remediation", s.Remediation.Kind))
		}
	}
	p.checkSecurity(s, at)
	p.checkDNS(s, at)
	p.checkAmbient(&s, at, nodes, waypoint, client, serverPortSet, familySet)
	if s.Remediation.Kind == ProtocolDetectionTimeout && s.Mesh.ProtocolDetectionTimeout != nil {
		p.fail(at("mesh"), "mesh.protocolDetectionTimeout", "conflicts with remediation protocol-detection-timeout, which sets it: keep one")
	}
	return s, len(p.errs) == before
}

func (p *oldParser) portSpec(v *yaml.Node, field string) PortSpec {
	return p.portSpecWith(v, field, nil)
}

// portSpecWith parses {portName, appProtocol} plus the extra fields the
// caller handles (a collider's type).
func (p *oldParser) portSpecWith(v *yaml.Node, field string, extra map[string]func(*yaml.Node)) PortSpec {
	var ps PortSpec
	handlers := map[string]func(*yaml.Node){
		"portName":    func(x *yaml.Node) { ps.Name, _ = p.scalar(x, field+".portName") },
		"appProtocol": func(x *yaml.Node) { ps.AppProtocol, _ = p.scalar(x, field+".appProtocol") },
	}
	maps.Copy(handlers, extra)
	p.fields(v, field+".", handlers)
	if ps.Name != "" {
		// Kubernetes' own rule for Service port names.
		if errs := validation.IsValidPortName(ps.Name); len(errs) > 0 {
			p.fail(v, field+".portName", fmt.Sprintf("%q is not a valid Kubernetes port name: %s", ps.Name, strings.Join(errs, "; ")))
		}
	}
	if ps.AppProtocol != "" {
		// Kubernetes' rule for appProtocol: a label-style name, optionally
		// domain-prefixed.
		if errs := validation.IsQualifiedName(ps.AppProtocol); len(errs) > 0 {
			p.fail(v, field+".appProtocol", fmt.Sprintf("%q is not a valid appProtocol: %s", ps.AppProtocol, strings.Join(errs, "; ")))
		}
	}
	return ps
}

func (p *oldParser) collider(v *yaml.Node) Collider {
	if v.Kind == yaml.ScalarNode {
		c, err := ColliderVariant(v.Value)
		if err != nil {
			p.fail(v, "collider", err.Error())
		}
		return c
	}
	c := Collider{Present: true}
	c.Port = p.portSpecWith(v, "collider", map[string]func(*yaml.Node){
		"type": func(x *yaml.Node) {
			if t := p.oneOf(x, "collider.type", ColliderTypes...); t != "ClusterIP" {
				c.Type = t
			}
		},
	})
	return c
}

func (p *oldParser) remediation(v *yaml.Node) Remediation {
	var r Remediation
	parseKind := func(x *yaml.Node, field string) {
		k, ok := p.scalar(x, field)
		if !ok {
			return
		}
		r.Kind = RemediationKind(k)
		if _, known := remediationRules[r.Kind]; !known {
			p.fail(x, field, fmt.Sprintf("unknown remediation %q (want one of %v)", k, RemediationKinds()))
		}
	}
	var timeoutNode *yaml.Node
	var form ServiceEntryForm
	formNodes := map[string]*yaml.Node{}
	if v.Kind == yaml.ScalarNode {
		parseKind(v, "remediation")
	} else {
		p.fields(v, "remediation.", map[string]func(*yaml.Node){
			"kind": func(x *yaml.Node) { parseKind(x, "remediation.kind") },
			"timeout": func(x *yaml.Node) {
				timeoutNode = x
				r.Timeout, _ = p.duration(x, "remediation.timeout")
			},
			"resolution": func(x *yaml.Node) {
				formNodes["resolution"] = x
				form.Resolution = p.oneOf(x, "remediation.resolution", Resolutions...)
			},
			"addresses": func(x *yaml.Node) {
				formNodes["addresses"] = x
				form.Addresses = p.names(x, "remediation.addresses", AddressServer, AddressCIDR)
			},
			"endpoints": func(x *yaml.Node) {
				formNodes["endpoints"] = x
				form.Endpoints = p.names(x, "remediation.endpoints", AddressServer)
			},
		})
	}
	if r.Kind == ProtocolDetectionTimeout && r.Timeout == 0 {
		r.Timeout = DefaultDetectionTimeout
	}
	if timeoutNode != nil && r.Kind != ProtocolDetectionTimeout {
		p.fail(timeoutNode, "remediation.timeout", "only protocol-detection-timeout takes a timeout")
	}
	def := DefaultServiceEntry(r.Kind)
	if def == nil {
		for _, key := range sortedKeysOld(formNodes) {
			p.fail(formNodes[key], "remediation."+key, "only the serviceentry-tcp remediations take a ServiceEntry "+key)
		}
		return r
	}
	if form.Resolution == "" {
		form.Resolution = def.Resolution
	}
	if formNodes["addresses"] == nil {
		form.Addresses = def.Addresses
	}
	if formNodes["endpoints"] == nil {
		form.Endpoints = def.Endpoints
	}
	r.ServiceEntry = &form
	p.checkServiceEntry(r.Kind, form, func(key string) *yaml.Node {
		if n := formNodes[key]; n != nil {
			return n
		}
		return v
	})
	return r
}

// checkServiceEntry reports ServiceEntry forms that cannot run. The first
// two rules are Istio's own ServiceEntry validation
// (pkg/config/validation/validation.go, ValidateServiceEntry); predict's
// tests run that validation over every form the loader accepts.
func (p *oldParser) checkServiceEntry(k RemediationKind, f ServiceEntryForm, at func(string) *yaml.Node) {
	if k == ServiceEntryTCPWithoutAddresses && len(f.Addresses) > 0 {
		p.fail(at("addresses"), "remediation.addresses", "serviceentry-tcp-without-addresses is the control without addresses: use kind serviceentry-tcp to give addresses")
	}
	if f.Resolution == ResolutionNone && len(f.Endpoints) > 0 {
		p.fail(at("endpoints"), "remediation.endpoints", "Istio rejects endpoints for resolution NONE (\"no endpoints should be provided for resolution type none\"): write endpoints: [] or pick STATIC or DNS")
	}
	if f.Resolution != ResolutionNone && f.Resolution != ResolutionStatic && slices.Contains(f.Addresses, AddressCIDR) {
		p.fail(at("addresses"), "remediation.addresses", fmt.Sprintf("Istio allows CIDR addresses only for resolution NONE or STATIC, not %s: give the server's IP or pick another resolution", f.Resolution))
	}
	if f.Resolution == ResolutionDNS && len(f.Endpoints) == 0 {
		// Without endpoints Envoy resolves the ServiceEntry's host, a
		// test name that resolves nowhere: the outcome would be the
		// cluster's DNS, not Istio's.
		p.fail(at("endpoints"), "remediation.endpoints", "resolution DNS without endpoints resolves the ServiceEntry's host, a test name that resolves nowhere: give endpoints: [server]")
	}
}

// names parses a list of distinct names, each one of valid; [] is none.
func (p *oldParser) names(v *yaml.Node, field string, valid ...string) []string {
	out := []string{}
	if v.Kind != yaml.SequenceNode {
		p.fail(v, field, fmt.Sprintf("want a list of %v, or [] for none", valid))
		return out
	}
	for i, x := range v.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		n := p.oneOf(x, f, valid...)
		if slices.Contains(out, n) {
			p.fail(x, f, fmt.Sprintf("%q is given twice", n))
			continue
		}
		if slices.Contains(valid, n) {
			out = append(out, n)
		}
	}
	return out
}

func (p *oldParser) mesh(v *yaml.Node) MeshOptions {
	var m MeshOptions
	p.fields(v, "mesh.", map[string]func(*yaml.Node){
		"protocolDetectionTimeout": func(x *yaml.Node) {
			if d, ok := p.duration(x, "mesh.protocolDetectionTimeout"); ok {
				m.ProtocolDetectionTimeout = &d
			}
		},
		"outboundTrafficPolicy": func(x *yaml.Node) {
			if s, ok := p.scalar(x, "mesh.outboundTrafficPolicy"); ok {
				if s != AllowAny && s != RegistryOnly && s != AllowAnyDynamicDNS {
					p.fail(x, "mesh.outboundTrafficPolicy", fmt.Sprintf("%q: want %s, %s or %s", s, AllowAny, RegistryOnly, AllowAnyDynamicDNS))
				}
				m.OutboundTrafficPolicy = s
			}
		},
	})
	return m
}

func (p *oldParser) boolean(v *yaml.Node, field string) (bool, bool) {
	x, ok := p.scalar(v, field)
	if !ok {
		return false, false
	}
	switch x {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	p.fail(v, field, fmt.Sprintf("%q: want true or false", x))
	return false, false
}

func (p *oldParser) oneOf(v *yaml.Node, field string, valid ...string) string {
	x, ok := p.scalar(v, field)
	if ok && !slices.Contains(valid, x) {
		p.fail(v, field, fmt.Sprintf("%q: want one of %v", x, valid))
	}
	return x
}

// checkSecurity reports inbound settings that do not fit the scenario.
func (p *oldParser) checkSecurity(s Scenario, at func(string) *yaml.Node) {
	sec := s.Security
	if sec.IsZero() {
		return
	}
	set := []struct {
		key string
		on  bool
	}{
		{"serverSidecar", sec.ServerSidecar}, {"clientSidecar", sec.NoClientSidecar},
		{"peerAuthentication", sec.PeerAuthentication != ""}, {"destinationRuleTLS", sec.DestinationRuleTLS != ""},
		{"authorizationPolicy", sec.AuthorizationPolicy != ""},
	}
	if s.Placement == External {
		for _, f := range set {
			if f.on {
				p.fail(at(f.key), f.key, "inbound settings need the server in the mesh: set placement: in-mesh with a serverPort")
			}
		}
		return
	}
	if s.Placement != InMesh {
		return
	}
	if !sec.ServerSidecar {
		for _, f := range set[2:] {
			if f.on && f.key != "destinationRuleTLS" {
				p.fail(at(f.key), f.key, "is enforced by the server's sidecar: add serverSidecar: true")
			}
		}
	}
	if sec.NoClientSidecar && sec.DestinationRuleTLS != "" {
		p.fail(at("destinationRuleTLS"), "destinationRuleTLS", "is applied by the client's sidecar, and clientSidecar is false: remove one of them")
	}
	if sec.NoClientSidecar && s.Remediation.Kind != NoRemediation {
		p.fail(at("remediation"), "remediation", "remediations act on the client's sidecar, and clientSidecar is false: remove one of them")
	}
}

// checkDNS reports dial and dnsCapture settings that do not fit the
// scenario. The name an external client dials is the remediation
// ServiceEntry's host, so dial: name needs one; DNS capture is the client
// sidecar's, so it needs the client's sidecar.
func (p *oldParser) checkDNS(s Scenario, at func(string) *yaml.Node) {
	if s.DialsName() {
		switch {
		case s.Placement == InMesh:
			p.fail(at("dial"), "dial", "an in-mesh client already dials the server Service's name (server.<namespace>.svc.cluster.local): remove dial or set placement: external")
		case s.Placement == External && s.Remediation.ServiceEntry == nil:
			p.fail(at("dial"), "dial", "name dials the remediation ServiceEntry's host (<protocol>.external.firstbyte.test), and the scenario has none: use remediation serviceentry-tcp or serviceentry-tcp-without-addresses, or dial: ip")
		}
	}
	if s.DNSCapture && s.Security.NoClientSidecar {
		p.fail(at("dnsCapture"), "dnsCapture", "DNS capture is the client sidecar's, and clientSidecar is false: remove one of them")
	}
}

// checkAmbient applies the ambient dimensions (mode, waypoint, client) and
// reports what does not fit them: ambient scenarios run without the
// sidecar-only settings (collider, remediation, inbound security), and an
// external server in ambient mode is reached through an egress
// ServiceEntry whose port serverPort declares.
func (p *oldParser) checkAmbient(s *Scenario, at func(string) *yaml.Node, given map[string]*yaml.Node, waypoint, client *string, serverPortSet, familySet bool) {
	if s.Ambient == nil {
		for key, v := range map[string]*string{"waypoint": waypoint, "client": client} {
			if v != nil {
				p.fail(at(key), key, "is an ambient dimension: add mode: ambient")
			}
		}
		if familySet && s.Family == AmbientFamily {
			p.fail(at("family"), "family", "the ambient family needs mode: ambient")
		}
		return
	}
	if waypoint != nil {
		s.Ambient.Waypoint = *waypoint
	}
	if client != nil {
		s.Ambient.Client = *client
	}
	// Only a sidecar client runs a sidecar: the targets' client-side walk
	// reads Security like for any other family.
	s.Security.NoClientSidecar = s.Ambient.Client != ClientSidecar
	if !familySet {
		s.Family = AmbientFamily
	} else if s.Family != AmbientFamily {
		p.fail(at("family"), "family", fmt.Sprintf("mode: ambient scenarios are family %s, not %s: remove family or set it to %s", AmbientFamily, s.Family, AmbientFamily))
	}
	if s.Collider.Present {
		p.fail(at("collider"), "collider", "ambient scenarios take no collider (ztunnel does not sniff; a waypoint builds listeners only for what it serves): write collider: none")
	}
	if s.Remediation.Kind != NoRemediation {
		p.fail(at("remediation"), "remediation", "the remediations act on a client sidecar and do not apply in mode: ambient: remove it")
	}
	for _, key := range []string{"serverSidecar", "clientSidecar", "peerAuthentication", "destinationRuleTLS", "authorizationPolicy", "mesh", "dial", "dnsCapture"} {
		if given[key] != nil {
			p.fail(given[key], key, "is a sidecar-mode setting and does not apply in mode: ambient (the client is set with client: ambient|sidecar|outside): remove it")
		}
	}
	if s.Placement == External {
		if !serverPortSet {
			p.fail(at("placement"), "serverPort", "missing: an external server in mode: ambient is reached through an egress ServiceEntry; declare its port, e.g. {portName: tcp, appProtocol: TCP}, or {portName: db} to leave the protocol to detection")
		}
		if s.Ambient.Waypoint == WaypointWorkload {
			p.fail(at("waypoint"), "waypoint", "a ServiceEntry binds only to a waypoint that serves services: want none, service or all")
		}
	}
}

func ptrOld(s string) *string { return &s }
