// Package sidecarsync decides when a client sidecar has caught up with the
// mesh: from the objects a scenario state should have (Services,
// ServiceEntries, a Sidecar, meshConfig) it derives the listeners and
// clusters the sidecar's Envoy must show, and Wait polls the sidecar's
// config_dump until it does. The kind and cluster targets use it after
// deploy, remediation and revert instead of sleeping.
//
// The expectations are the stable, version-independent parts of Istio's
// outbound listener layout: one cluster outbound|<port>||<host> per visible
// service port; a port declared HTTP (name http/http-*/grpc..., or
// appProtocol) shares the wildcard listener 0.0.0.0_<port>; any other port
// gets <ClusterIP>_<port>; a TCP ServiceEntry with addresses gets
// <address>_<port>; listeners that sniff carry listener_filters_timeout =
// meshConfig.protocolDetectionTimeout; virtualOutbound passes through to
// PassthroughCluster under ALLOW_ANY and not under REGISTRY_ONLY.
package sidecarsync

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	meshconfig "istio.io/api/mesh/v1alpha1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// State is the mesh as the client sidecar should see it.
type State struct {
	// ClientNamespace is where the client (and its Sidecar resource) runs.
	ClientNamespace string
	// Port is the port the probe dials.
	Port int
	// Ports are every port a wildcard listener may have been made for in
	// this run (the scenario port, a separated collider port): a
	// 0.0.0.0_<port> listener that should be gone is checked on these.
	Ports []int
	// OwnedNamespaces are the run's namespaces; OwnedHosts the hosts of
	// the run's ServiceEntries. Clusters for them are compared exactly.
	OwnedNamespaces []string
	OwnedHosts      []string
	// OwnedIPs are addresses of the run outside its Services (the external
	// server's pod IP): a listener for them that the state does not
	// explain must be gone.
	OwnedIPs       []string
	Services       []Service
	ServiceEntries []ServiceEntry
	// Egress are the hosts of the client namespace's Sidecar resource
	// ("ns/*", "./*", "*/*"); nil when there is none (all visible).
	Egress []string
	// DetectionTimeout is meshConfig.protocolDetectionTimeout (0 waits
	// forever, Istio's default).
	DetectionTimeout time.Duration
	RegistryOnly     bool
	// DestinationRules maps a host to the TLS mode its DestinationRule
	// sets (ISTIO_MUTUAL, DISABLE).
	DestinationRules map[string]string
	// Server is the in-mesh server's own sidecar, when it has one.
	Server ServerSidecar
	// ForeignHTTPPorts are ports that Services outside the run declare
	// HTTP: their wildcard listener stays whatever the run does.
	ForeignHTTPPorts []int
}

// ServerSidecar is what the server's own sidecar should show on its inbound
// side (inbound family).
type ServerSidecar struct {
	// Present: the server pod has a sidecar.
	Present bool
	// PeerAuthentication is the mTLS mode of the server's
	// PeerAuthentication (DISABLE, PERMISSIVE, STRICT); empty when the
	// scenario sets none.
	PeerAuthentication string
	// AuthorizationAction is ALLOW or DENY when an AuthorizationPolicy
	// selects the server; empty when none does.
	AuthorizationAction string
}

// Service is a Kubernetes Service as the sidecar sees it.
type Service struct {
	Namespace, Name string
	// ClusterIP is the assigned address; empty when not known yet.
	ClusterIP string
	Ports     []Port
}

// Host is the service's cluster-local host name.
func (s Service) Host() string { return s.Name + "." + s.Namespace + ".svc.cluster.local" }

// Port is a service port and how it declares its protocol.
type Port struct {
	Number      int
	Name        string
	AppProtocol string
	// Protocol is a ServiceEntry port's protocol (TCP, HTTP, ...).
	Protocol string
}

// ServiceEntry is an Istio ServiceEntry as the sidecar sees it.
type ServiceEntry struct {
	Namespace string
	Hosts     []string
	Addresses []string
	Ports     []Port
}

// Declared is how Istio classifies a port: "http" for ports that share the
// wildcard listener, "tls" for TLS/HTTPS (not asserted), "tcp" for the rest
// (explicit TCP, MySQL, Mongo, Redis, or left to auto-detection, which
// gets a ClusterIP listener).
func (p Port) Declared() string {
	proto := p.Protocol
	if proto == "" {
		proto = p.AppProtocol
	}
	if proto == "" {
		proto, _, _ = strings.Cut(p.Name, "-")
	}
	switch strings.ToLower(strings.TrimPrefix(proto, "kubernetes.io/")) {
	case "http", "http2", "grpc", "grpc-web", "http_proxy", "h2c":
		return "http"
	case "https", "tls", "wss":
		return "tls"
	}
	return "tcp"
}

// FromObjects builds the state from a scenario's rendered objects (Base or
// Final), the meshConfig they run under and the ClusterIPs the cluster
// assigned ("namespace/name" → IP; a Service that pins its clusterIP needs
// no entry).
func FromObjects(objs []fixtures.Object, mesh *meshconfig.MeshConfig, clusterIPs map[string]string, t fixtures.Topology, port int) (State, error) {
	s := State{
		ClientNamespace: t.ClientNamespace,
		Port:            port,
		Ports:           []int{port},
		OwnedNamespaces: []string{t.ClientNamespace, t.ServerNamespace, t.ColliderNamespace},
	}
	if t.ServerIP != "" {
		s.OwnedIPs = []string{t.ServerIP}
	}
	if mesh != nil {
		s.DetectionTimeout = mesh.GetProtocolDetectionTimeout().AsDuration()
		s.RegistryOnly = mesh.GetOutboundTrafficPolicy().GetMode() == meshconfig.MeshConfig_OutboundTrafficPolicy_REGISTRY_ONLY
	}
	for _, o := range objs {
		switch obj := o.Decoded.(type) {
		case *corev1.Service:
			svc := Service{Namespace: obj.Namespace, Name: obj.Name, ClusterIP: obj.Spec.ClusterIP}
			if ip := clusterIPs[obj.Namespace+"/"+obj.Name]; ip != "" {
				svc.ClusterIP = ip
			}
			for _, p := range obj.Spec.Ports {
				ap := ""
				if p.AppProtocol != nil {
					ap = *p.AppProtocol
				}
				svc.Ports = append(svc.Ports, Port{Number: int(p.Port), Name: p.Name, AppProtocol: ap})
				if !slices.Contains(s.Ports, int(p.Port)) {
					s.Ports = append(s.Ports, int(p.Port))
				}
			}
			s.Services = append(s.Services, svc)
		case *networkingv1.ServiceEntry:
			se := ServiceEntry{Namespace: obj.Namespace, Hosts: obj.Spec.GetHosts(), Addresses: obj.Spec.GetAddresses()}
			for _, p := range obj.Spec.GetPorts() {
				se.Ports = append(se.Ports, Port{Number: int(p.GetNumber()), Name: p.GetName(), Protocol: p.GetProtocol()})
			}
			s.ServiceEntries = append(s.ServiceEntries, se)
			s.OwnedHosts = append(s.OwnedHosts, se.Hosts...)
		case *networkingv1.DestinationRule:
			if mode := obj.Spec.GetTrafficPolicy().GetTls().GetMode(); mode != 0 {
				if s.DestinationRules == nil {
					s.DestinationRules = map[string]string{}
				}
				s.DestinationRules[obj.Spec.GetHost()] = mode.String()
			}
		case *securityv1.PeerAuthentication:
			if obj.Namespace == t.ServerNamespace {
				s.Server.PeerAuthentication = obj.Spec.GetMtls().GetMode().String()
			}
		case *securityv1.AuthorizationPolicy:
			if obj.Namespace == t.ServerNamespace {
				s.Server.AuthorizationAction = obj.Spec.GetAction().String()
			}
		case *appsv1.Deployment:
			if obj.Namespace == t.ServerNamespace && obj.Name == "server" {
				s.Server.Present = obj.Spec.Template.Labels["sidecar.istio.io/inject"] == "true"
			}
		case *networkingv1.Sidecar:
			if obj.Namespace != t.ClientNamespace || obj.Spec.GetWorkloadSelector() != nil {
				continue
			}
			for _, e := range obj.Spec.GetEgress() {
				s.Egress = append(s.Egress, e.GetHosts()...)
			}
			if s.Egress == nil {
				s.Egress = []string{}
			}
		}
	}
	return s, nil
}

// visible reports whether a host in a namespace is imported by the client
// namespace's Sidecar egress hosts.
func (s State) visible(namespace, host string) bool {
	if s.Egress == nil {
		return true
	}
	for _, h := range s.Egress {
		ns, name, ok := strings.Cut(h, "/")
		if !ok {
			ns, name = "*", h
		}
		if ns == "." {
			ns = s.ClientNamespace
		}
		if ns != "*" && ns != namespace {
			continue
		}
		if name == "*" || name == host || (strings.HasPrefix(name, "*.") && strings.HasSuffix(host, name[1:])) {
			return true
		}
	}
	return false
}

func (s State) owned(host string) bool {
	for _, ns := range s.OwnedNamespaces {
		if strings.HasSuffix(host, "."+ns+".svc.cluster.local") {
			return true
		}
	}
	return slices.Contains(s.OwnedHosts, host)
}

func listenerName(ip string, port int) string { return fmt.Sprintf("%s_%d", ip, port) }

func clusterName(port int, host string) string { return fmt.Sprintf("outbound|%d||%s", port, host) }

// ForBundle is the state of a rendered scenario with (fixtures.Remediated)
// or without (fixtures.Base) its remediation. Hosts, addresses and ports of
// the other state count as the run's too, so a revert waits until the
// remediation's listeners and clusters are gone.
func ForBundle(b *fixtures.Bundle, phase fixtures.Phase, clusterIPs map[string]string) (State, error) {
	objs, mesh, other, otherMesh := b.Base, b.BaseMesh, b.Final, b.Mesh
	if phase == fixtures.Remediated {
		objs, mesh, other, otherMesh = b.Final, b.Mesh, b.Base, b.BaseMesh
	}
	s, err := FromObjects(objs, mesh, clusterIPs, b.Topology, b.Scenario.Port)
	if err != nil {
		return State{}, err
	}
	o, err := FromObjects(other, otherMesh, clusterIPs, b.Topology, b.Scenario.Port)
	if err != nil {
		return State{}, err
	}
	for _, h := range o.OwnedHosts {
		if !slices.Contains(s.OwnedHosts, h) {
			s.OwnedHosts = append(s.OwnedHosts, h)
		}
	}
	for _, p := range o.Ports {
		if !slices.Contains(s.Ports, p) {
			s.Ports = append(s.Ports, p)
		}
	}
	for _, svc := range o.Services {
		if svc.ClusterIP != "" && svc.ClusterIP != "None" && !slices.Contains(s.OwnedIPs, svc.ClusterIP) {
			s.OwnedIPs = append(s.OwnedIPs, svc.ClusterIP)
		}
	}
	for _, se := range o.ServiceEntries {
		for _, a := range se.Addresses {
			if !strings.Contains(a, "/") && !slices.Contains(s.OwnedIPs, a) {
				s.OwnedIPs = append(s.OwnedIPs, a)
			}
		}
	}
	return s, nil
}
