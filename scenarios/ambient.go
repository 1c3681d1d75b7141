package scenarios

import "fmt"

// Ambient mode (issue 14): the server runs in a namespace labelled
// istio.io/dataplane-mode=ambient, so ztunnel (L4, HBONE) carries its
// traffic, and a waypoint (an Envoy with listeners istiod builds) may sit
// in front of it. The dimensions are data here; Istio's generator decides
// what they mean (predict).

// Mode is the data-plane mode a scenario runs in.
type Mode string

const (
	// ModeSidecar: Envoy sidecars (every family but ambient).
	ModeSidecar Mode = "sidecar"
	// ModeAmbient: ztunnel and, optionally, a waypoint.
	ModeAmbient Mode = "ambient"
)

// Modes lists the valid modes.
var Modes = []Mode{ModeSidecar, ModeAmbient}

// AmbientFamily groups the ambient-mode scenarios.
const AmbientFamily Family = "ambient"

// Waypoint bindings: which traffic the server's waypoint serves, the
// Gateway's istio.io/waypoint-for label; WaypointNone means no waypoint
// is deployed or bound.
const (
	WaypointNone     = "none"
	WaypointService  = "service"
	WaypointWorkload = "workload"
	WaypointAll      = "all"
)

// Waypoints lists the valid waypoint bindings.
var Waypoints = []string{WaypointNone, WaypointService, WaypointWorkload, WaypointAll}

// Server waypoint overrides: the server's own istio.io/use-waypoint label
// (on its Service, or on the egress ServiceEntry), which wins over its
// namespace's. Unset, the server uses the scenario's waypoint like every
// other Service of the namespace (an in-mesh collider included).
const (
	// ServerWaypointNone: istio.io/use-waypoint: none, the server opts
	// out of the namespace's waypoint.
	ServerWaypointNone = "none"
	// ServerWaypointOwn: a second waypoint for services only
	// (server-waypoint), and istio.io/use-waypoint: server-waypoint on the
	// server: it no longer shares a waypoint with the collider.
	ServerWaypointOwn = "own"
	// ServerWaypointName names the own waypoint's Gateway.
	ServerWaypointName = "server-waypoint"
)

// ServerWaypoints lists the valid server waypoint overrides.
var ServerWaypoints = []string{ServerWaypointNone, ServerWaypointOwn}

// Ambient clients: where the probe's pod sits.
const (
	// ClientAmbient: the client namespace is ambient too (its ztunnel
	// captures the connection).
	ClientAmbient = "ambient"
	// ClientSidecar: the client pod runs an Envoy sidecar.
	ClientSidecar = "sidecar"
	// ClientOutside: the client is outside the mesh (no sidecar, not
	// ambient).
	ClientOutside = "outside"
)

// AmbientClients lists the valid clients of an ambient scenario.
var AmbientClients = []string{ClientAmbient, ClientSidecar, ClientOutside}

// AmbientRemediations are the remediations that apply in ambient mode:
// they change the collider, not a client sidecar. (The waypoint binding,
// the other fix in ambient mode, is a dimension of its own.)
var AmbientRemediations = []RemediationKind{NoRemediation, ColliderPortTCP, PortSeparation}

// AmbientSpec is an ambient scenario's dimensions. The server's port
// declaration is Scenario.ServerPort (for an external server: the egress
// ServiceEntry's port, whose appProtocol is rendered as the ServiceEntry
// port's protocol).
type AmbientSpec struct {
	// Waypoint is none, service, workload or all. It is deployed in the
	// server's namespace and bound with istio.io/use-waypoint on that
	// namespace (in-mesh) or on the egress ServiceEntry (external).
	Waypoint string `json:"waypoint"`
	// Client is ambient, sidecar or outside.
	Client string `json:"client"`
	// ServerWaypoint is "" (the scenario's waypoint), none or own: the
	// server's own istio.io/use-waypoint.
	ServerWaypoint string `json:"serverWaypoint,omitempty"`
}

func (a AmbientSpec) String() string {
	if a.ServerWaypoint != "" {
		return fmt.Sprintf("waypoint %s, server waypoint %s, client %s", a.Waypoint, a.ServerWaypoint, a.Client)
	}
	return fmt.Sprintf("waypoint %s, client %s", a.Waypoint, a.Client)
}

// Mode is the scenario's data-plane mode.
func (s Scenario) Mode() Mode {
	if s.Ambient != nil {
		return ModeAmbient
	}
	return ModeSidecar
}
