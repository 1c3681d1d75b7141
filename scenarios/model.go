// Package scenarios is the model of firstbyte: protocols, placements,
// colliders, remediations, mesh options and expectations, the built-in
// catalogue of scenarios (a YAML data file) and the loader for user scenario
// files with file:line:field errors.
//
// A Scenario is one row of the conformance table: protocol × placement ×
// port × collider × remediation (+ mesh options) → expected outcome. Every
// target (kind, cluster, local, predict) consumes the same Scenario values.
package scenarios

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Placement says where the protocol server sits relative to the mesh.
type Placement string

const (
	// External: no sidecar, not in the service registry, reached by IP
	// through ALLOW_ANY passthrough (the seed's mysql-ip-2).
	External Placement = "external"
	// InMesh: the server is behind a Kubernetes Service in the mesh
	// registry, so the client sidecar builds a listener for its port.
	InMesh Placement = "in-mesh"
)

// Placements lists the valid placements.
var Placements = []Placement{External, InMesh}

// Family groups scenarios by the mechanism they exercise.
type Family string

const (
	// Collision: an unrelated mesh Service declares the server's port
	// number, so the client sidecar sniffs every connection to that port.
	Collision Family = "collision"
	// ServerPort: the server's own Service port is one Istio sniffs.
	ServerPort Family = "server-port"
	// Inbound: the server has its own sidecar; PeerAuthentication,
	// DestinationRule TLS and AuthorizationPolicy decide what its inbound
	// listener waits for.
	Inbound Family = "inbound"
	// DNSCaptureFamily: the client dials the ServiceEntry's hostname, and
	// the client sidecar's DNS capture (ISTIO_META_DNS_CAPTURE) decides
	// whether the name resolves to the address Istio auto-allocated.
	DNSCaptureFamily Family = "dns-capture"
)

// Families lists the valid families.
var Families = []Family{Collision, ServerPort, Inbound, DNSCaptureFamily, AmbientFamily}

// How the client names the server it dials.
const (
	// DialIP: the client dials the server's address (the default).
	DialIP = "ip"
	// DialName: the client dials a hostname and resolves it through its
	// pod's resolver (for an external server, the remediation
	// ServiceEntry's host).
	DialName = "name"
)

// Dials lists the valid dial forms.
var Dials = []string{DialIP, DialName}

// PeerAuthentication mTLS modes and DestinationRule TLS modes.
const (
	MTLSDisable    = "DISABLE"
	MTLSPermissive = "PERMISSIVE"
	MTLSStrict     = "STRICT"
	TLSIstioMutual = "ISTIO_MUTUAL"
)

// AuthorizationPolicy variants on the server-first port.
const (
	// AllowClient: an ALLOW policy for the client's identity only.
	AllowClient = "allow-client"
	// DenyClient: a DENY policy for the client's identity.
	DenyClient = "deny-client"
)

// Security is the mesh security around an in-mesh server (inbound family).
// The zero value is the outbound families' setting: no server sidecar, a
// client sidecar, no policies.
type Security struct {
	// ServerSidecar puts a sidecar on the server pod.
	ServerSidecar bool `json:"serverSidecar,omitempty"`
	// NoClientSidecar runs the client pod without a sidecar.
	NoClientSidecar bool `json:"noClientSidecar,omitempty"`
	// PeerAuthentication is the server workload's mTLS mode: DISABLE,
	// PERMISSIVE or STRICT; empty means none (the mesh default,
	// PERMISSIVE).
	PeerAuthentication string `json:"peerAuthentication,omitempty"`
	// DestinationRuleTLS is the client-side TLS mode for the server's
	// host: DISABLE or ISTIO_MUTUAL; empty means no DestinationRule (auto
	// mTLS).
	DestinationRuleTLS string `json:"destinationRuleTLS,omitempty"`
	// AuthorizationPolicy is allow-client or deny-client; empty means
	// none.
	AuthorizationPolicy string `json:"authorizationPolicy,omitempty"`
}

// IsZero reports whether no inbound setting is made.
func (s Security) IsZero() bool { return s == Security{} }

func (s Security) String() string {
	var parts []string
	if s.ServerSidecar {
		parts = append(parts, "server sidecar")
	}
	if s.NoClientSidecar {
		parts = append(parts, "client without sidecar")
	}
	if s.PeerAuthentication != "" {
		parts = append(parts, "PeerAuthentication "+s.PeerAuthentication)
	}
	if s.DestinationRuleTLS != "" {
		parts = append(parts, "DestinationRule "+s.DestinationRuleTLS)
	}
	if s.AuthorizationPolicy != "" {
		parts = append(parts, "AuthorizationPolicy "+s.AuthorizationPolicy)
	}
	return strings.Join(parts, ", ")
}

// PortSpec is how a Kubernetes Service port declares its protocol: the
// port name (Istio reads its prefix) and the optional appProtocol field.
// Istio, not this package, decides what a PortSpec means; fixtures render it
// verbatim.
type PortSpec struct {
	Name        string `json:"name,omitempty"`
	AppProtocol string `json:"appProtocol,omitempty"`
}

func (p PortSpec) String() string {
	switch {
	case p.AppProtocol != "" && p.Name != "":
		return fmt.Sprintf("%s/appProtocol:%s", p.Name, p.AppProtocol)
	case p.AppProtocol != "":
		return "appProtocol:" + p.AppProtocol
	case p.Name == "":
		return "unnamed"
	default:
		return p.Name
	}
}

// Collider is an in-mesh HTTP service (Service + HTTP backend) that shares
// the server's port number. The zero value means "no collider".
type Collider struct {
	Port PortSpec `json:"port"`
	// Present is false for the "none" collider.
	Present bool `json:"present"`
	// Type is the collider Service's form: empty for a ClusterIP Service,
	// Headless (clusterIP: None) or ExternalName.
	Type string `json:"type,omitempty"`
}

// Collider Service forms besides the default ClusterIP Service.
const (
	// Headless: clusterIP None; Istio builds listeners for its endpoints'
	// pod IPs and, for HTTP ports, the port's wildcard listener.
	Headless = "Headless"
	// ExternalName: an alias of a DNS name, with no endpoints of its own.
	ExternalName = "ExternalName"
)

// ColliderTypes lists the forms a scenario file may give as collider.type.
var ColliderTypes = []string{"ClusterIP", Headless, ExternalName}

// Collider variants the catalogue uses, by the name a scenario file may
// write as a shorthand. A file may also spell out {portName, appProtocol}.
var colliderVariants = map[string]Collider{
	"none":             {},
	"http":             {Present: true, Port: PortSpec{Name: "http"}},
	"http-web":         {Present: true, Port: PortSpec{Name: "http-web"}},
	"tcp":              {Present: true, Port: PortSpec{Name: "tcp"}},
	"web":              {Present: true, Port: PortSpec{Name: "web"}},
	"appprotocol-http": {Present: true, Port: PortSpec{Name: "web", AppProtocol: "http"}},
	"appprotocol-tcp":  {Present: true, Port: PortSpec{Name: "web", AppProtocol: "tcp"}},
}

// ColliderVariants lists the shorthand names in a stable order.
func ColliderVariants() []string {
	out := make([]string, 0, len(colliderVariants))
	for k := range colliderVariants {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ColliderVariant returns the collider a shorthand name stands for.
func ColliderVariant(name string) (Collider, error) {
	c, ok := colliderVariants[name]
	if !ok {
		return Collider{}, fmt.Errorf("unknown collider %q (want one of %v, or a mapping {portName, appProtocol})", name, ColliderVariants())
	}
	return c, nil
}

func (c Collider) String() string {
	if !c.Present {
		return "none"
	}
	if c.Type != "" {
		return c.Port.String() + " (" + c.Type + ")"
	}
	return c.Port.String()
}

// RemediationKind names a change that should (or, for negative controls,
// should not) restore connectivity.
type RemediationKind string

const (
	NoRemediation RemediationKind = "none"
	// ServiceEntryTCP: a MESH_EXTERNAL ServiceEntry, protocol TCP, with the
	// server's IP in addresses → an IP-specific tcp_proxy listener.
	ServiceEntryTCP RemediationKind = "serviceentry-tcp"
	// ServiceEntryTCPWithoutAddresses is the negative control: the same
	// ServiceEntry without addresses adds no IP listener and fixes nothing.
	ServiceEntryTCPWithoutAddresses RemediationKind = "serviceentry-tcp-without-addresses"
	// PortSeparation moves the collider to another port number.
	PortSeparation RemediationKind = "port-separation"
	// ExcludeIPRanges annotates the client pod with
	// traffic.sidecar.istio.io/excludeOutboundIPRanges: <server IP>/32.
	ExcludeIPRanges RemediationKind = "exclude-ip-ranges"
	// ColliderPortTCP renames the collider's port to "tcp".
	ColliderPortTCP RemediationKind = "collider-port-tcp"
	// ExcludePorts annotates the client pod with
	// traffic.sidecar.istio.io/excludeOutboundPorts: <port>.
	ExcludePorts RemediationKind = "exclude-ports"
	// ProtocolDetectionTimeout sets meshConfig.protocolDetectionTimeout so
	// the inspector gives up and falls through to the default chain.
	ProtocolDetectionTimeout RemediationKind = "protocol-detection-timeout"
	// SidecarEgress adds a Sidecar resource whose egress hosts do not import
	// the collider's namespace.
	SidecarEgress RemediationKind = "sidecar-egress"
	// SidecarOutboundPolicy adds a Sidecar resource in the client's
	// namespace whose own outboundTrafficPolicy (mode ALLOW_ANY) overrides
	// the mesh's mode for that namespace (Istio's SidecarScope takes the
	// Sidecar's policy over meshConfig's: pilot/pkg/model/sidecar.go).
	SidecarOutboundPolicy RemediationKind = "sidecar-outbound-policy"
)

// remediationRules is data: what each remediation needs to make sense.
var remediationRules = map[RemediationKind]struct {
	needsCollider bool
	placements    []Placement
	negative      bool
}{
	NoRemediation:                   {placements: Placements},
	ServiceEntryTCP:                 {placements: []Placement{External}},
	ServiceEntryTCPWithoutAddresses: {placements: []Placement{External}, negative: true},
	PortSeparation:                  {needsCollider: true, placements: Placements},
	ExcludeIPRanges:                 {placements: []Placement{External}},
	ColliderPortTCP:                 {needsCollider: true, placements: Placements},
	ExcludePorts:                    {placements: Placements},
	ProtocolDetectionTimeout:        {placements: Placements},
	SidecarEgress:                   {needsCollider: true, placements: Placements},
	SidecarOutboundPolicy:           {placements: Placements},
}

// RemediationKinds lists the valid kinds in a stable order.
func RemediationKinds() []RemediationKind {
	out := make([]RemediationKind, 0, len(remediationRules))
	for k := range remediationRules {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// DefaultDetectionTimeout is what the protocol-detection-timeout remediation
// sets when the scenario does not say.
const DefaultDetectionTimeout = time.Second

// Remediation is a RemediationKind with its parameter.
type Remediation struct {
	Kind RemediationKind `json:"kind"`
	// Timeout is meshConfig.protocolDetectionTimeout for the
	// protocol-detection-timeout remediation.
	Timeout time.Duration `json:"timeout,omitempty"`
	// ServiceEntry is the form of the serviceentry-* remediations'
	// ServiceEntry; nil for other kinds.
	ServiceEntry *ServiceEntryForm `json:"serviceEntry,omitempty"`
}

// ServiceEntry resolutions a scenario may give (networking.istio.io
// ServiceEntry.resolution).
const (
	ResolutionNone   = "NONE"
	ResolutionStatic = "STATIC"
	ResolutionDNS    = "DNS"
)

// Resolutions lists the valid ServiceEntry resolutions.
var Resolutions = []string{ResolutionNone, ResolutionStatic, ResolutionDNS}

// What a ServiceEntry's addresses and endpoints may name.
const (
	// AddressServer is the external server's IP.
	AddressServer = "server"
	// AddressCIDR is a CIDR that contains the server's IP (its /24).
	AddressCIDR = "cidr"
)

// ServiceEntryForm is how the remediation's ServiceEntry registers the
// external server: its resolution, its addresses (the server's IP, a
// CIDR containing it, or none) and its endpoints (the server, or none).
// Istio decides what each form does; fixtures render it verbatim.
type ServiceEntryForm struct {
	Resolution string   `json:"resolution"`
	Addresses  []string `json:"addresses"`
	Endpoints  []string `json:"endpoints"`
}

// DefaultServiceEntry is the form a serviceentry-* remediation has when
// the scenario does not say: STATIC, endpoint the server, and the server's
// IP as address (none for the -without-addresses control).
func DefaultServiceEntry(k RemediationKind) *ServiceEntryForm {
	switch k {
	case ServiceEntryTCP:
		return &ServiceEntryForm{Resolution: ResolutionStatic, Addresses: []string{AddressServer}, Endpoints: []string{AddressServer}}
	case ServiceEntryTCPWithoutAddresses:
		return &ServiceEntryForm{Resolution: ResolutionStatic, Addresses: []string{}, Endpoints: []string{AddressServer}}
	}
	return nil
}

func (f ServiceEntryForm) String() string {
	list := func(l []string) string {
		if len(l) == 0 {
			return "none"
		}
		return strings.Join(l, "+")
	}
	return fmt.Sprintf("%s, addresses %s, endpoints %s", f.Resolution, list(f.Addresses), list(f.Endpoints))
}

// Negative reports whether this remediation is a control that must not fix
// the hang.
func (r Remediation) Negative() bool { return remediationRules[r.Kind].negative }

func (r Remediation) String() string {
	if r.Kind == ProtocolDetectionTimeout {
		return fmt.Sprintf("%s=%s", r.Kind, r.Timeout)
	}
	if f := r.ServiceEntry; f != nil && f.String() != DefaultServiceEntry(r.Kind).String() {
		return fmt.Sprintf("%s(%s)", r.Kind, f)
	}
	return string(r.Kind)
}

// Outbound traffic policy modes of meshConfig.outboundTrafficPolicy.
const (
	AllowAny     = "ALLOW_ANY"
	RegistryOnly = "REGISTRY_ONLY"
	// AllowAnyDynamicDNS (Istio 1.31) puts an http_inspector on
	// virtualOutbound so plaintext HTTP to unknown hosts goes through a
	// dynamic forward proxy; everything else still passes through.
	AllowAnyDynamicDNS = "ALLOW_ANY_DYNAMIC_DNS"
)

// MeshOptions are the meshConfig fields a scenario may set.
type MeshOptions struct {
	// ProtocolDetectionTimeout is meshConfig.protocolDetectionTimeout; nil
	// keeps Istio's default (0s, wait forever).
	ProtocolDetectionTimeout *time.Duration `json:"protocolDetectionTimeout,omitempty"`
	// OutboundTrafficPolicy is ALLOW_ANY (default), REGISTRY_ONLY or
	// ALLOW_ANY_DYNAMIC_DNS.
	OutboundTrafficPolicy string `json:"outboundTrafficPolicy,omitempty"`
}

// Expectation is the outcome a scenario states up front, before any run.
type Expectation struct {
	Outcome Outcome `json:"outcome"`
	// After is set for "connects-after D" and "fails <outcome> after D":
	// the connection is held for D (a listener filter timeout) before the
	// server's first byte arrives, or before the connection is closed.
	After time.Duration `json:"after,omitempty"`
}

// LateConnect is the first-byte latency above which a connect counts as
// late. A prompt connect on loopback or in a cluster is a few ms; the
// smallest detection timeout the catalogue uses is 1s. What it guards
// against, with the other timing thresholds: thresholds.go.
const LateConnect = 500 * time.Millisecond

// Budget returns the first-byte budget a probe needs to tell this
// expectation apart from a hang: the base budget, or for a connection held
// for After (a late connect, a late close) enough time to see the hold end.
func (e Expectation) Budget(base time.Duration) time.Duration {
	if e.After > 0 {
		return max(base, e.Latest())
	}
	return base
}

// Earliest and Latest bound when a held connection may be released
// (first server byte, or close) for an expectation with After: not before
// 0.8·After, not after 1.5·After + LateConnect. Without After, Latest is
// LateConnect (a prompt connect or close) and Earliest zero.
func (e Expectation) Earliest() time.Duration { return e.After * 8 / 10 }

// Latest: see Earliest.
func (e Expectation) Latest() time.Duration { return e.After + e.After/2 + LateConnect }

// TimedOutcome reports whether the expectation asserts when the outcome
// happened: every form but "hangs". Without After the outcome must be
// prompt (within LateConnect): a connection held for a listener filter
// timeout and then closed is "fails reset after D", not "fails reset".
func (e Expectation) TimedOutcome() bool { return e.Outcome != Hung }

// Match reports whether an observed (or predicted) outcome satisfies the
// expectation, and why not. released is when the connection's hold ended
// (Timings.Released): the first server byte, or the close when no byte
// came.
func (e Expectation) Match(o Outcome, released time.Duration) (bool, string) {
	if o != e.Outcome {
		return false, fmt.Sprintf("expected %s, observed %s", e, o)
	}
	if !e.TimedOutcome() {
		return true, ""
	}
	what, prompt := "close", "prompt "+string(o)
	if o == Connected {
		what, prompt = "first byte", "prompt connect"
	}
	switch {
	case e.After == 0 && released > LateConnect:
		return false, fmt.Sprintf("expected a %s, %s after %s (> %s): a connection held that long is %q", prompt, what, released.Round(time.Millisecond), LateConnect, Expectation{Outcome: o, After: released.Round(100 * time.Millisecond)})
	case e.After > 0 && released < e.Earliest():
		return false, fmt.Sprintf("expected %s after about %s, %s after only %s", o, e.After, what, released.Round(time.Millisecond))
	case e.After > 0 && released > e.Latest():
		return false, fmt.Sprintf("expected %s after about %s, %s after %s (> %s)", o, e.After, what, released.Round(time.Millisecond), e.Latest())
	}
	return true, ""
}

func (e Expectation) String() string {
	switch {
	case e.Outcome == Connected && e.After > 0:
		return "connects-after " + e.After.String()
	case e.Outcome == Connected:
		return "connects"
	case e.Outcome == Hung:
		return "hangs"
	case e.After > 0:
		return "fails " + string(e.Outcome) + " after " + e.After.String()
	default:
		return "fails " + string(e.Outcome)
	}
}

// ParseExpectation reads the scenario-file form: "connects", "hangs",
// "connects-after 1s", "fails reset", "fails refused", "fails
// protocol-error", and "fails reset after 1s" (the connection is held for
// about 1s, then closed; also protocol-error, whose bytes come after D).
func ParseExpectation(s string) (Expectation, error) {
	f := strings.Fields(s)
	const want = `want "connects", "hangs", "connects-after <duration>", "fails <reset|refused|protocol-error>" or "fails <reset|protocol-error> after <duration>"`
	after := func(v string) (time.Duration, error) {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("bad duration %q in %q: want a positive Go duration such as 1s or 500ms", v, s)
		}
		return d, nil
	}
	switch {
	case len(f) == 1 && f[0] == "connects":
		return Expectation{Outcome: Connected}, nil
	case len(f) == 1 && f[0] == "hangs":
		return Expectation{Outcome: Hung}, nil
	case len(f) == 2 && f[0] == "connects-after":
		d, err := after(f[1])
		return Expectation{Outcome: Connected, After: d}, err
	case (len(f) == 2 || len(f) == 4 && f[2] == "after") && f[0] == "fails":
		o, err := ParseOutcome(f[1])
		if err != nil || o == Connected || o == Hung {
			return Expectation{}, fmt.Errorf("%q: fails takes reset, refused or protocol-error", s)
		}
		e := Expectation{Outcome: o}
		if len(f) == 4 {
			if o == Refused {
				return Expectation{}, fmt.Errorf("%q: a refusal happens at the TCP connect, before anything can hold the connection: write \"fails refused\"", s)
			}
			e.After, err = after(f[3])
		}
		return e, err
	}
	return Expectation{}, fmt.Errorf("unknown expectation %q: %s", s, want)
}

// Scenario is one row of the conformance table.
type Scenario struct {
	// ID is stable across releases: reports and label filters use it.
	ID string `json:"id"`
	// Why is the one-line reason for the expectation.
	Why       string    `json:"why"`
	Family    Family    `json:"family"`
	Protocol  Protocol  `json:"protocol"`
	Placement Placement `json:"placement"`
	// Port is the port number the client dials.
	Port int `json:"port"`
	// ServerPort is the in-mesh server's Service port declaration; unused
	// for external servers.
	ServerPort  PortSpec    `json:"serverPort,omitzero"`
	Collider    Collider    `json:"collider"`
	Remediation Remediation `json:"remediation"`
	Mesh        MeshOptions `json:"mesh,omitzero"`
	Security    Security    `json:"security,omitzero"`
	// Dial is how the client names the server: DialIP (empty means the
	// same) or DialName.
	Dial string `json:"dial,omitempty"`
	// DNSCapture turns the client sidecar's DNS capture on: the client
	// pod's proxy.istio.io/config annotation sets proxyMetadata
	// ISTIO_META_DNS_CAPTURE "true", so istio-iptables redirects the pod's
	// DNS to the agent (port 15053), the agent answers from the name
	// table istiod sends, and istiod gives the sidecar listeners on
	// auto-allocated ServiceEntry addresses.
	DNSCapture bool `json:"dnsCapture,omitempty"`
	// Ambient is set for a scenario in ambient mode (mode: ambient); nil
	// for the sidecar mode of every other family.
	Ambient *AmbientSpec `json:"ambient,omitempty"`
	Expect  Expectation  `json:"expect"`
	// Source is "catalogue" or the scenario file and line it came from.
	Source string `json:"source"`
}

// DialsName reports whether the client dials a hostname.
func (s Scenario) DialsName() bool { return s.Dial == DialName }

// EffectiveMesh is the meshConfig the scenario runs under: its own options
// with the remediation applied on top.
func (s Scenario) EffectiveMesh() MeshOptions {
	m := s.Mesh
	if m.OutboundTrafficPolicy == "" {
		m.OutboundTrafficPolicy = AllowAny
	}
	if s.Remediation.Kind == ProtocolDetectionTimeout {
		t := s.Remediation.Timeout
		m.ProtocolDetectionTimeout = &t
	}
	return m
}

// Labels are the Ginkgo labels of the scenario, so --label-filter can pick
// a slice: protocol, placement, family, remediation, and "control" for
// client-first protocols and negative remediations.
func (s Scenario) Labels() []string {
	l := []string{
		"protocol:" + string(s.Protocol),
		"placement:" + string(s.Placement),
		"family:" + string(s.Family),
		"remediation:" + string(s.Remediation.Kind),
		"expect:" + strings.Fields(s.Expect.String())[0],
		"mode:" + string(s.Mode()),
	}
	if a := s.Ambient; a != nil {
		l = append(l, "waypoint:"+a.Waypoint, "client:"+a.Client)
	}
	if m := s.Security.PeerAuthentication; m != "" {
		l = append(l, "mtls:"+strings.ToLower(m))
	}
	if a := s.Security.AuthorizationPolicy; a != "" {
		l = append(l, "authz:"+a)
	}
	if s.Security.NoClientSidecar {
		l = append(l, "client:no-sidecar")
	}
	if s.DialsName() {
		l = append(l, "dial:name")
	}
	if s.DNSCapture {
		l = append(l, "dns-capture")
	}
	// A ServiceEntry without addresses is the negative control, except
	// where DNS capture and a dialled name make it the fix.
	fix := s.DNSCapture && s.DialsName()
	if !s.Protocol.ServerFirst() || s.Remediation.Negative() && !fix {
		l = append(l, "control")
	}
	return l
}

// HasLabel reports whether the scenario carries the label.
func (s Scenario) HasLabel(label string) bool { return slices.Contains(s.Labels(), label) }
