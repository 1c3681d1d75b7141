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
)

// Families lists the valid families.
var Families = []Family{Collision, ServerPort, Inbound}

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
}

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
}

// Negative reports whether this remediation is a control that must not fix
// the hang.
func (r Remediation) Negative() bool { return remediationRules[r.Kind].negative }

func (r Remediation) String() string {
	if r.Kind == ProtocolDetectionTimeout {
		return fmt.Sprintf("%s=%s", r.Kind, r.Timeout)
	}
	return string(r.Kind)
}

// Outbound traffic policy modes of meshConfig.outboundTrafficPolicy.
const (
	AllowAny     = "ALLOW_ANY"
	RegistryOnly = "REGISTRY_ONLY"
)

// MeshOptions are the meshConfig fields a scenario may set.
type MeshOptions struct {
	// ProtocolDetectionTimeout is meshConfig.protocolDetectionTimeout; nil
	// keeps Istio's default (0s, wait forever).
	ProtocolDetectionTimeout *time.Duration `json:"protocolDetectionTimeout,omitempty"`
	// OutboundTrafficPolicy is ALLOW_ANY (default) or REGISTRY_ONLY.
	OutboundTrafficPolicy string `json:"outboundTrafficPolicy,omitempty"`
}

// Expectation is the outcome a scenario states up front, before any run.
type Expectation struct {
	Outcome Outcome `json:"outcome"`
	// After is set for "connects-after D": the connection succeeds, but
	// only once the listener filter timeout D has passed.
	After time.Duration `json:"after,omitempty"`
}

// LateConnect is the first-byte latency above which a connect counts as
// late. A prompt connect on loopback or in a cluster is a few ms; the
// smallest detection timeout the catalogue uses is 1s. What it guards
// against, with the other timing thresholds: thresholds.go.
const LateConnect = 500 * time.Millisecond

// Budget returns the first-byte budget a probe needs to tell this
// expectation apart from a hang: the base budget, or for a late connect
// enough time to see it land.
func (e Expectation) Budget(base time.Duration) time.Duration {
	if e.After > 0 {
		return max(base, e.After+e.After/2+LateConnect)
	}
	return base
}

// Match reports whether an observed (or predicted) outcome with its
// first-byte time satisfies the expectation, and why not.
func (e Expectation) Match(o Outcome, firstByte time.Duration) (bool, string) {
	if o != e.Outcome {
		return false, fmt.Sprintf("expected %s, observed %s", e, o)
	}
	if o != Connected {
		return true, ""
	}
	switch {
	case e.After == 0 && firstByte > LateConnect:
		return false, fmt.Sprintf("expected a prompt connect, first byte after %s (> %s)", firstByte.Round(time.Millisecond), LateConnect)
	case e.After > 0 && firstByte < e.After*8/10:
		return false, fmt.Sprintf("expected a connect after about %s, first byte after only %s", e.After, firstByte.Round(time.Millisecond))
	case e.After > 0 && firstByte > e.After+e.After/2+LateConnect:
		return false, fmt.Sprintf("expected a connect after about %s, first byte after %s", e.After, firstByte.Round(time.Millisecond))
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
	default:
		return "fails " + string(e.Outcome)
	}
}

// ParseExpectation reads the scenario-file form: "connects", "hangs",
// "connects-after 1s", "fails reset", "fails refused", "fails protocol-error".
func ParseExpectation(s string) (Expectation, error) {
	f := strings.Fields(s)
	const want = `want "connects", "hangs", "connects-after <duration>" or "fails <reset|refused|protocol-error>"`
	switch {
	case len(f) == 1 && f[0] == "connects":
		return Expectation{Outcome: Connected}, nil
	case len(f) == 1 && f[0] == "hangs":
		return Expectation{Outcome: Hung}, nil
	case len(f) == 2 && f[0] == "connects-after":
		d, err := time.ParseDuration(f[1])
		if err != nil || d <= 0 {
			return Expectation{}, fmt.Errorf("bad duration %q in %q: want a positive Go duration such as 1s", f[1], s)
		}
		return Expectation{Outcome: Connected, After: d}, nil
	case len(f) == 2 && f[0] == "fails":
		o, err := ParseOutcome(f[1])
		if err != nil || o == Connected || o == Hung {
			return Expectation{}, fmt.Errorf("%q: fails takes reset, refused or protocol-error", s)
		}
		return Expectation{Outcome: o}, nil
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
	Expect      Expectation `json:"expect"`
	// Source is "catalogue" or the scenario file and line it came from.
	Source string `json:"source"`
}

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
	if !s.Protocol.ServerFirst() || s.Remediation.Negative() {
		l = append(l, "control")
	}
	return l
}

// HasLabel reports whether the scenario carries the label.
func (s Scenario) HasLabel(label string) bool { return slices.Contains(s.Labels(), label) }
