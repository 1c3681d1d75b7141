package scenarios

import (
	"fmt"
	"slices"

	"github.com/goccy/go-yaml/ast"
)

// A rule is one check across the fields of a scenario. For every scenario
// it applies to, check must hold; when it does not, the error names field
// and says message, at the line of the field at (field itself when at is
// empty). A field that is not given is reported at the nearest given field
// on its path, or at the scenario's own line.
type rule struct {
	field   string
	at      string
	applies func(r row) bool
	check   func(r row) bool
	message func(r row) string
}

// row is what a rule sees: the scenario as read, with its defaults, and
// the item as written.
type row struct {
	Scenario
	doc  *scenarioDoc
	item ast.Node
}

// given reports whether the item gives a field ("remediation.timeout").
func (r row) given(path string) bool {
	_, found := lookup(r.item, path)
	return found
}

// rules are the cross-field checks, in the order they are reported for
// one line.
var rules = slices.Concat(
	[]rule{
		{field: "remediation.timeout", applies: given("remediation.timeout"), check: is(ProtocolDetectionTimeout),
			message: says("only protocol-detection-timeout takes a timeout")},
	},
	each([]string{"addresses", "endpoints", "resolution"}, func(key string) rule {
		return rule{field: "remediation." + key, applies: given("remediation." + key),
			check:   func(r row) bool { return DefaultServiceEntry(r.Remediation.Kind) != nil },
			message: says("only the serviceentry-tcp remediations take a ServiceEntry " + key)}
	}),
	serviceEntryRules,
	each([]string{"id", "why", "protocol", "placement", "port", "expect"}, func(key string) rule {
		return rule{field: key, applies: always, check: given(key), message: says("missing: want " + requiredHints[key])}
	}),
	[]rule{
		{field: "serverPort", at: "placement", applies: placed(InMesh), check: given("serverPort"),
			message: says("missing: an in-mesh server needs its Service port declaration, e.g. {portName: db}; write {} for an unnamed port")},
		{field: "serverPort", applies: both(placed(External), sidecarMode), check: not(given("serverPort")),
			message: says("only in-mesh servers have a Service port: remove it or set placement: in-mesh")},
		{field: "remediation", applies: knownRemediation, check: func(r row) bool { return slices.Contains(remediationRules[r.Remediation.Kind].placements, r.Placement) },
			message: func(r row) string {
				return fmt.Sprintf("%s does not fit placement %s (it fits %v)", r.Remediation.Kind, r.Placement, remediationRules[r.Remediation.Kind].placements)
			}},
		{field: "remediation", applies: both(knownRemediation, func(r row) bool { return remediationRules[r.Remediation.Kind].needsCollider }),
			check: func(r row) bool { return r.Collider.Present },
			message: func(r row) string {
				return fmt.Sprintf("%s changes the collider, but the scenario has none: add a collider or pick another remediation", r.Remediation.Kind)
			}},
	},
	inboundRules,
	dnsRules,
	ambientRules,
	[]rule{
		{field: "mesh.protocolDetectionTimeout", at: "mesh", applies: is(ProtocolDetectionTimeout), check: func(r row) bool { return r.Mesh.ProtocolDetectionTimeout == nil },
			message: says("conflicts with remediation protocol-detection-timeout, which sets it: keep one")},
	},
)

var requiredHints = map[string]string{
	"id":        "a stable lowercase name such as my-mysql-hang",
	"why":       "one line saying why you expect this outcome",
	"protocol":  fmt.Sprintf("one of %v", Protocols()),
	"placement": fmt.Sprintf("one of %v", Placements),
	"port":      "the port number the client dials",
	"expect":    `"connects", "hangs", "connects-after 1s" or "fails reset"`,
}

// serviceEntryRules report ServiceEntry forms that cannot run. The first
// two are Istio's own ServiceEntry validation
// (pkg/config/validation/validation.go, ValidateServiceEntry); predict's
// tests run that validation over every form the loader accepts.
var serviceEntryRules = []rule{
	{field: "remediation.addresses", applies: both(hasServiceEntry, is(ServiceEntryTCPWithoutAddresses)), check: func(r row) bool { return len(r.Remediation.ServiceEntry.Addresses) == 0 },
		message: says("serviceentry-tcp-without-addresses is the control without addresses: use kind serviceentry-tcp to give addresses")},
	{field: "remediation.endpoints", applies: both(hasServiceEntry, resolution(ResolutionNone)), check: func(r row) bool { return len(r.Remediation.ServiceEntry.Endpoints) == 0 },
		message: says("Istio rejects endpoints for resolution NONE (\"no endpoints should be provided for resolution type none\"): write endpoints: [] or pick STATIC or DNS")},
	{field: "remediation.addresses", applies: both(hasServiceEntry, not(either(resolution(ResolutionNone), resolution(ResolutionStatic)))),
		check: func(r row) bool { return !slices.Contains(r.Remediation.ServiceEntry.Addresses, AddressCIDR) },
		message: func(r row) string {
			return fmt.Sprintf("Istio allows CIDR addresses only for resolution NONE or STATIC, not %s: give the server's IP or pick another resolution", r.Remediation.ServiceEntry.Resolution)
		}},
	// Without endpoints Envoy resolves the ServiceEntry's host, a test name
	// that resolves nowhere: the outcome would be the cluster's DNS, not
	// Istio's.
	{field: "remediation.endpoints", applies: both(hasServiceEntry, resolution(ResolutionDNS)), check: func(r row) bool { return len(r.Remediation.ServiceEntry.Endpoints) > 0 },
		message: says("resolution DNS without endpoints resolves the ServiceEntry's host, a test name that resolves nowhere: give endpoints: [server]")},
}

// inbound says, for each Security field, whether the scenario sets it.
var inbound = map[string]func(Security) bool{
	"serverSidecar":       func(s Security) bool { return s.ServerSidecar },
	"clientSidecar":       func(s Security) bool { return s.NoClientSidecar },
	"peerAuthentication":  func(s Security) bool { return s.PeerAuthentication != "" },
	"destinationRuleTLS":  func(s Security) bool { return s.DestinationRuleTLS != "" },
	"authorizationPolicy": func(s Security) bool { return s.AuthorizationPolicy != "" },
}

// inboundRules report inbound settings that do not fit the scenario.
var inboundRules = slices.Concat(
	each([]string{"serverSidecar", "clientSidecar", "peerAuthentication", "destinationRuleTLS", "authorizationPolicy"}, func(key string) rule {
		return rule{field: key, applies: placed(External), check: not(inboundSet(key)),
			message: says("inbound settings need the server in the mesh: set placement: in-mesh with a serverPort")}
	}),
	each([]string{"peerAuthentication", "authorizationPolicy"}, func(key string) rule {
		return rule{field: key, applies: both(placed(InMesh), not(inboundSet("serverSidecar"))), check: not(inboundSet(key)),
			message: says("is enforced by the server's sidecar: add serverSidecar: true")}
	}),
	[]rule{
		{field: "destinationRuleTLS", applies: both(placed(InMesh), inboundSet("clientSidecar")), check: not(inboundSet("destinationRuleTLS")),
			message: says("is applied by the client's sidecar, and clientSidecar is false: remove one of them")},
		{field: "remediation", applies: both(placed(InMesh), inboundSet("clientSidecar")), check: is(NoRemediation),
			message: says("remediations act on the client's sidecar, and clientSidecar is false: remove one of them")},
	},
)

// dnsRules report dial and dnsCapture settings that do not fit the
// scenario. The name an external client dials is the remediation
// ServiceEntry's host, so dial: name needs one; DNS capture is the client
// sidecar's, so it needs the client's sidecar.
var dnsRules = []rule{
	{field: "dial", applies: dialsName, check: not(placed(InMesh)),
		message: says("an in-mesh client already dials the server Service's name (server.<namespace>.svc.cluster.local): remove dial or set placement: external")},
	{field: "dial", applies: both(dialsName, placed(External)), check: hasServiceEntry,
		message: says("name dials the remediation ServiceEntry's host (<protocol>.external.firstbyte.test), and the scenario has none: use remediation serviceentry-tcp or serviceentry-tcp-without-addresses, or dial: ip")},
	{field: "dnsCapture", applies: func(r row) bool { return r.DNSCapture }, check: not(inboundSet("clientSidecar")),
		message: says("DNS capture is the client sidecar's, and clientSidecar is false: remove one of them")},
}

// ambientRules: the ambient dimensions (mode, waypoint, client) need mode:
// ambient; ambient scenarios run without the sidecar-only settings
// (remediations that act on a client sidecar, inbound security), their
// collider is a Service behind the server's waypoint or a ServiceEntry
// bound to the egress waypoint (no other type), and an external server in
// ambient mode is reached through an egress ServiceEntry whose port
// serverPort declares.
var ambientRules = slices.Concat(
	each([]string{"waypoint", "client", "serverWaypoint"}, func(key string) rule {
		return rule{field: key, applies: sidecarMode, check: not(given(key)), message: says("is an ambient dimension: add mode: ambient")}
	}),
	[]rule{
		{field: "family", applies: both(sidecarMode, familyGiven), check: func(r row) bool { return r.Family != AmbientFamily },
			message: says("the ambient family needs mode: ambient")},
		{field: "family", applies: both(ambientMode, familyGiven), check: func(r row) bool { return r.Family == AmbientFamily },
			message: func(r row) string {
				return fmt.Sprintf("mode: ambient scenarios are family %s, not %s: remove family or set it to %s", AmbientFamily, r.Family, AmbientFamily)
			}},
		{field: "collider.type", applies: both(ambientMode, given("collider.type")), check: func(r row) bool { return r.Collider.Type == "" },
			message: says("an ambient collider is a ClusterIP Service in the server's namespace (in-mesh) or a ServiceEntry bound to the egress waypoint (external): remove type")},
		{field: "remediation", applies: ambientMode, check: func(r row) bool { return slices.Contains(AmbientRemediations, r.Remediation.Kind) },
			message: func(r row) string {
				return fmt.Sprintf("%s acts on a client sidecar and does not apply in mode: ambient: use one of %v, or another waypoint binding (waypoint: none|service|workload|all)", r.Remediation.Kind, AmbientRemediations)
			}},
	},
	each([]string{"serverSidecar", "clientSidecar", "peerAuthentication", "destinationRuleTLS", "authorizationPolicy", "mesh", "dial", "dnsCapture"}, func(key string) rule {
		return rule{field: key, applies: ambientMode, check: not(given(key)),
			message: says("is a sidecar-mode setting and does not apply in mode: ambient (the client is set with client: ambient|sidecar|outside): remove it")}
	}),
	[]rule{
		{field: "serverPort", at: "placement", applies: both(ambientMode, placed(External)), check: given("serverPort"),
			message: says("missing: an external server in mode: ambient is reached through an egress ServiceEntry; declare its port, e.g. {portName: tcp, appProtocol: TCP}, or {portName: db} to leave the protocol to detection")},
		{field: "serverWaypoint", applies: both(ambientMode, given("serverWaypoint")), check: func(r row) bool {
			return r.Ambient.Waypoint == WaypointService || r.Ambient.Waypoint == WaypointAll
		}, message: says("overrides the binding of the server's Service (or ServiceEntry) to the scenario's waypoint, which serves no services here: set waypoint: service or all")},
		{field: "waypoint", applies: both(ambientMode, placed(External)), check: func(r row) bool { return r.Ambient.Waypoint != WaypointWorkload },
			message: says("a ServiceEntry binds only to a waypoint that serves services: want none, service or all")},
	},
)

// Building blocks of the rules above.

func each(keys []string, r func(key string) rule) []rule {
	out := make([]rule, len(keys))
	for i, k := range keys {
		out[i] = r(k)
	}
	return out
}

func says(message string) func(row) string { return func(row) string { return message } }

func always(row) bool { return true }

func given(path string) func(row) bool { return func(r row) bool { return r.given(path) } }

func not(f func(row) bool) func(row) bool { return func(r row) bool { return !f(r) } }

func both(f, g func(row) bool) func(row) bool { return func(r row) bool { return f(r) && g(r) } }

func either(f, g func(row) bool) func(row) bool { return func(r row) bool { return f(r) || g(r) } }

func placed(p Placement) func(row) bool { return func(r row) bool { return r.Placement == p } }

func is(k RemediationKind) func(row) bool { return func(r row) bool { return r.Remediation.Kind == k } }

func resolution(res string) func(row) bool {
	return func(r row) bool { return r.Remediation.ServiceEntry.Resolution == res }
}

func hasServiceEntry(r row) bool { return r.Remediation.ServiceEntry != nil }

func knownRemediation(r row) bool {
	_, ok := remediationRules[r.Remediation.Kind]
	return ok && r.Placement != ""
}

func inboundSet(key string) func(row) bool {
	return func(r row) bool { return inbound[key](r.Security) }
}

func dialsName(r row) bool { return r.DialsName() }

func sidecarMode(r row) bool { return r.Ambient == nil }

func ambientMode(r row) bool { return r.Ambient != nil }

// familyGiven: the file names a family (a single value).
func familyGiven(r row) bool { return r.doc.Family.ok }
