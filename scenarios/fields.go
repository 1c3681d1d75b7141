package scenarios

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The scenario file's schema: what each key holds. The loader decodes each
// mapping strictly into one of the *Doc structs below (keys by yaml tag);
// each field's type decodes its own node and reports what is wrong with
// that value alone. What does not fit across fields is in rules.go.

// fileDoc is the whole file.
type fileDoc struct {
	Scenarios pos `yaml:"scenarios"`
}

// scenarioDoc is one item of the scenarios list, as written.
type scenarioDoc struct {
	ID                  id             `yaml:"id"`
	Why                 why            `yaml:"why"`
	Family              family         `yaml:"family"`
	Protocol            protocol       `yaml:"protocol"`
	Placement           placement      `yaml:"placement"`
	Port                port           `yaml:"port"`
	ServerPort          portSpecDoc    `yaml:"serverPort"`
	Collider            colliderDoc    `yaml:"collider"`
	Remediation         remediationDoc `yaml:"remediation"`
	Mesh                meshDoc        `yaml:"mesh"`
	ServerSidecar       boolean        `yaml:"serverSidecar"`
	ClientSidecar       boolean        `yaml:"clientSidecar"`
	PeerAuthentication  choice         `yaml:"peerAuthentication"`
	DestinationRuleTLS  choice         `yaml:"destinationRuleTLS"`
	AuthorizationPolicy choice         `yaml:"authorizationPolicy"`
	Dial                choice         `yaml:"dial"`
	DNSCapture          boolean        `yaml:"dnsCapture"`
	Mode                choice         `yaml:"mode"`
	Waypoint            choice         `yaml:"waypoint"`
	Client              choice         `yaml:"client"`
	ServerWaypoint      choice         `yaml:"serverWaypoint"`
	Expect              expectation    `yaml:"expect"`
}

// choices lists the names a choice field may take, by field.
var choices = map[string][]string{
	"peerAuthentication":     {MTLSDisable, MTLSPermissive, MTLSStrict},
	"destinationRuleTLS":     {MTLSDisable, TLSIstioMutual},
	"authorizationPolicy":    {AllowClient, DenyClient},
	"dial":                   Dials,
	"mode":                   {string(ModeSidecar), string(ModeAmbient)},
	"waypoint":               Waypoints,
	"client":                 AmbientClients,
	"serverWaypoint":         ServerWaypoints,
	"collider.type":          ColliderTypes,
	"remediation.resolution": Resolutions,
	"remediation.addresses":  {AddressServer, AddressCIDR},
	"remediation.endpoints":  {AddressServer},
}

// pos is where a field was given; the zero value means not given.
type pos struct{ node ast.Node }

func (p *pos) given() bool                            { return p.node != nil }
func (p *pos) decode(_ *loader, n ast.Node, _ string) { p.node = n }

// text is any single value.
type text struct {
	pos
	v  string
	ok bool // a single value, not a list or mapping
}

// scalar is the text of a single value; anything else is a problem.
func (l *loader) scalar(n ast.Node, field string) (string, bool) {
	v, ok := scalar(n)
	if !ok {
		l.fail(n, field, "want a single value, not a list or mapping")
	}
	return v, ok
}

func (t *text) read(l *loader, n ast.Node, field string) bool {
	t.node = n
	t.v, t.ok = l.scalar(n, field)
	return t.ok
}

func (t *text) decode(l *loader, n ast.Node, field string) { t.read(l, n, field) }

type why struct{ text }

func (t *why) decode(l *loader, n ast.Node, field string) {
	if t.read(l, n, field) && strings.TrimSpace(t.v) == "" {
		l.fail(n, field, "is empty: want one line saying why you expect this outcome")
	}
}

var idPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

type id struct{ text }

func (t *id) decode(l *loader, n ast.Node, field string) {
	if t.read(l, n, field) && (!idPattern.MatchString(t.v) || len(t.v) > 63) {
		l.fail(n, field, fmt.Sprintf("%q: want lowercase letters, digits and '-', at most 63 characters", t.v))
	}
}

type family struct{ text }

func (t *family) decode(l *loader, n ast.Node, field string) {
	if t.read(l, n, field) && !slices.Contains(Families, Family(t.v)) {
		l.fail(n, field, fmt.Sprintf("unknown family %q (want one of %v)", t.v, Families))
	}
}

type placement struct{ text }

func (t *placement) decode(l *loader, n ast.Node, field string) {
	if t.read(l, n, field) && !slices.Contains(Placements, Placement(t.v)) {
		l.fail(n, field, fmt.Sprintf("unknown placement %q (want one of %v)", t.v, Placements))
	}
}

// choice is one of the names choices lists for the field.
type choice struct{ text }

func (t *choice) decode(l *loader, n ast.Node, field string) { t.among(l, n, field, choices[field]) }

func (t *choice) among(l *loader, n ast.Node, field string, valid []string) {
	if t.read(l, n, field) && !slices.Contains(valid, t.v) {
		l.fail(n, field, fmt.Sprintf("%q: want one of %v", t.v, valid))
	}
}

type protocol struct {
	pos
	v Protocol
}

func (t *protocol) decode(l *loader, n ast.Node, field string) {
	t.node = n
	if x, ok := l.scalar(n, field); ok {
		var err error
		if t.v, err = ParseProtocol(x); err != nil {
			l.fail(n, field, err.Error())
		}
	}
}

type port struct {
	pos
	v int
}

func (t *port) decode(l *loader, n ast.Node, field string) {
	t.node = n
	x, ok := l.scalar(n, field)
	if !ok {
		return
	}
	var err error
	t.v, err = strconv.Atoi(x)
	switch {
	case err != nil:
		l.fail(n, field, fmt.Sprintf("%q is not a number: want a port between 1 and 65535", x))
	case t.v < 1 || t.v > 65535:
		l.fail(n, field, fmt.Sprintf("%d is out of range: want a port between 1 and 65535", t.v))
	}
}

type boolean struct {
	pos
	v, ok bool
}

func (t *boolean) decode(l *loader, n ast.Node, field string) {
	t.node = n
	switch x, ok := l.scalar(n, field); {
	case !ok:
	case x == "true" || x == "false":
		t.v, t.ok = x == "true", true
	default:
		l.fail(n, field, fmt.Sprintf("%q: want true or false", x))
	}
}

type duration struct {
	pos
	v  time.Duration
	ok bool
}

func (t *duration) decode(l *loader, n ast.Node, field string) {
	t.node = n
	x, ok := l.scalar(n, field)
	if !ok {
		return
	}
	d, err := time.ParseDuration(x)
	if err != nil || d < 0 {
		l.fail(n, field, fmt.Sprintf("%q is not a duration: want a Go duration such as 1s or 500ms", x))
		return
	}
	t.v, t.ok = d, true
}

type expectation struct {
	pos
	v Expectation
}

func (t *expectation) decode(l *loader, n ast.Node, field string) {
	t.node = n
	if x, ok := l.scalar(n, field); ok {
		var err error
		if t.v, err = ParseExpectation(x); err != nil {
			l.fail(n, field, err.Error())
		}
	}
}

// names is a list of distinct names, each one of the field's choices; []
// is none.
type names struct {
	pos
	v []string
}

func (t *names) decode(l *loader, n ast.Node, field string) {
	t.node, t.v = n, []string{}
	list, ok := unwrap(n).(*ast.SequenceNode)
	if !ok {
		l.fail(n, field, fmt.Sprintf("want a list of %v, or [] for none", choices[field]))
		return
	}
	for i, x := range list.Values {
		var c choice
		at := fmt.Sprintf("%s[%d]", field, i)
		c.among(l, x, at, choices[field])
		switch {
		case slices.Contains(t.v, c.v):
			l.fail(x, at, fmt.Sprintf("%q is given twice", c.v))
		case slices.Contains(choices[field], c.v):
			t.v = append(t.v, c.v)
		}
	}
}

// portSpecDoc is a Service port declaration, {portName, appProtocol}.
type portSpecDoc struct {
	pos
	v PortSpec
}

type portSpecFields struct {
	PortName    text `yaml:"portName"`
	AppProtocol text `yaml:"appProtocol"`
}

func (t *portSpecDoc) decode(l *loader, n ast.Node, field string) {
	var f portSpecFields
	t.node = n
	l.decode(n, field+".", &f)
	t.v = l.portSpec(n, field, f.PortName, f.AppProtocol)
}

// portSpec checks a port declaration by Kubernetes' own rules, for Service
// port names and for appProtocol (a label-style name, optionally
// domain-prefixed).
func (l *loader) portSpec(n ast.Node, field string, name, appProtocol text) PortSpec {
	ps := PortSpec{Name: name.v, AppProtocol: appProtocol.v}
	if errs := validation.IsValidPortName(ps.Name); ps.Name != "" && len(errs) > 0 {
		l.fail(n, field+".portName", fmt.Sprintf("%q is not a valid Kubernetes port name: %s", ps.Name, strings.Join(errs, "; ")))
	}
	if errs := validation.IsQualifiedName(ps.AppProtocol); ps.AppProtocol != "" && len(errs) > 0 {
		l.fail(n, field+".appProtocol", fmt.Sprintf("%q is not a valid appProtocol: %s", ps.AppProtocol, strings.Join(errs, "; ")))
	}
	return ps
}

// colliderDoc is a shorthand name (http, tcp, …) or a mapping.
type colliderDoc struct {
	pos
	v Collider
}

func (t *colliderDoc) decode(l *loader, n ast.Node, field string) {
	t.node = n
	if x, ok := scalar(n); ok {
		var err error
		if t.v, err = ColliderVariant(x); err != nil {
			l.fail(n, field, err.Error())
		}
		return
	}
	var f struct {
		PortName    text   `yaml:"portName"`
		AppProtocol text   `yaml:"appProtocol"`
		Type        choice `yaml:"type"`
	}
	l.decode(n, field+".", &f)
	t.v = Collider{Present: true, Port: l.portSpec(n, field, f.PortName, f.AppProtocol)}
	if f.Type.v != "ClusterIP" {
		t.v.Type = f.Type.v
	}
}

// remediationDoc is a kind, or a mapping of the kind and its parameters.
type remediationDoc struct {
	pos
	Kind       remediationKind `yaml:"kind"`
	Timeout    duration        `yaml:"timeout"`
	Resolution choice          `yaml:"resolution"`
	Addresses  names           `yaml:"addresses"`
	Endpoints  names           `yaml:"endpoints"`
}

type remediationKind struct{ text }

func (t *remediationKind) decode(l *loader, n ast.Node, field string) {
	if t.read(l, n, field) {
		if _, known := remediationRules[RemediationKind(t.v)]; !known {
			l.fail(n, field, fmt.Sprintf("unknown remediation %q (want one of %v)", t.v, RemediationKinds()))
		}
	}
}

func (t *remediationDoc) decode(l *loader, n ast.Node, field string) {
	t.node = n
	if _, ok := scalar(n); ok {
		t.Kind.decode(l, n, field)
		return
	}
	l.decode(n, field+".", t)
}

// remediation is the Remediation the file asks for, with the defaults of
// its kind.
func (t *remediationDoc) remediation() Remediation {
	r := Remediation{Kind: RemediationKind(t.Kind.v), Timeout: t.Timeout.v}
	if r.Kind == ProtocolDetectionTimeout && r.Timeout == 0 {
		r.Timeout = DefaultDetectionTimeout
	}
	if def := DefaultServiceEntry(r.Kind); def != nil {
		form := ServiceEntryForm{Resolution: cmp.Or(t.Resolution.v, def.Resolution), Addresses: def.Addresses, Endpoints: def.Endpoints}
		if t.Addresses.given() {
			form.Addresses = t.Addresses.v
		}
		if t.Endpoints.given() {
			form.Endpoints = t.Endpoints.v
		}
		r.ServiceEntry = &form
	}
	r.Kind = cmp.Or(r.Kind, NoRemediation)
	return r
}

// meshDoc is the meshConfig a scenario sets.
type meshDoc struct {
	pos
	ProtocolDetectionTimeout duration       `yaml:"protocolDetectionTimeout"`
	OutboundTrafficPolicy    outboundPolicy `yaml:"outboundTrafficPolicy"`
}

func (t *meshDoc) decode(l *loader, n ast.Node, field string) {
	t.node = n
	l.decode(n, field+".", t)
}

func (t *meshDoc) mesh() MeshOptions {
	m := MeshOptions{OutboundTrafficPolicy: t.OutboundTrafficPolicy.v}
	if d := t.ProtocolDetectionTimeout; d.ok {
		m.ProtocolDetectionTimeout = &d.v
	}
	return m
}

type outboundPolicy struct{ text }

func (t *outboundPolicy) decode(l *loader, n ast.Node, field string) {
	if t.read(l, n, field) && t.v != AllowAny && t.v != RegistryOnly && t.v != AllowAnyDynamicDNS {
		l.fail(n, field, fmt.Sprintf("%q: want %s, %s or %s", t.v, AllowAny, RegistryOnly, AllowAnyDynamicDNS))
	}
}

// scenario is the Scenario the item describes, with the defaults of its
// placement and mode. source is where it came from (file:line).
func (d *scenarioDoc) scenario(source string) Scenario {
	s := Scenario{
		ID: d.ID.v, Why: strings.TrimSpace(d.Why.v), Family: Family(d.Family.v), Protocol: d.Protocol.v,
		Placement: Placement(d.Placement.v), Port: d.Port.v, ServerPort: d.ServerPort.v,
		Collider: d.Collider.v, Remediation: d.Remediation.remediation(), Mesh: d.Mesh.mesh(),
		Security: Security{
			ServerSidecar:       d.ServerSidecar.v,
			NoClientSidecar:     d.ClientSidecar.ok && !d.ClientSidecar.v,
			PeerAuthentication:  d.PeerAuthentication.v,
			DestinationRuleTLS:  d.DestinationRuleTLS.v,
			AuthorizationPolicy: d.AuthorizationPolicy.v,
		},
		DNSCapture: d.DNSCapture.v, Expect: d.Expect.v, Source: source,
	}
	if d.Dial.v != DialIP {
		s.Dial = d.Dial.v
	}
	if d.Mode.v == string(ModeAmbient) {
		s.Ambient = &AmbientSpec{Waypoint: WaypointNone, Client: ClientAmbient}
		if d.Waypoint.given() {
			s.Ambient.Waypoint = d.Waypoint.v
		}
		if d.Client.given() {
			s.Ambient.Client = d.Client.v
		}
		s.Ambient.ServerWaypoint = d.ServerWaypoint.v
	}
	if !d.Family.ok {
		s.Family = defaultFamily(s)
	}
	return s
}

// defaultFamily is the family of a scenario that does not name one.
func defaultFamily(s Scenario) Family {
	switch {
	case s.Ambient != nil:
		return AmbientFamily
	case s.Placement == InMesh && s.Security.IsZero():
		return ServerPort
	case s.Placement == InMesh:
		return Inbound
	case s.Placement == External:
		return Collision
	}
	return ""
}
