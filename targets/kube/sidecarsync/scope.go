// Package sidecarsync decides when a live sidecar has caught up with the
// mesh. It knows none of Istio's rules: what a sidecar must show comes
// from Istio's own generator (predict.ExpectedConfigDumps, wired in by the
// e2e suite as kube.Config.Expect), which renders the expected config_dump
// of the state the run just applied, for the ClusterIPs the cluster
// assigned. Expect and ExpectServer turn that expected dump into
// conditions on the live one, and Wait polls the live dump until they
// hold. The kind and cluster targets use it after deploy, remediation and
// revert instead of sleeping.
//
// The conditions compare the part of the configuration that belongs to
// the run (Scope: its namespaces, hosts, addresses and ports; a live
// sidecar also carries everything else in the cluster) on what decides a
// scenario: which listeners and clusters exist, whether a listener waits
// for client bytes (http/tls inspector) and for how long
// (listener_filters_timeout), how a cluster connects (TLS), where
// virtualOutbound sends unmatched traffic, and on the server's inbound
// side which transports and authorization actions a port's chains carry.
package sidecarsync

import (
	"slices"
	"strings"

	"github.com/firstbyte/firstbyte/fixtures"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
)

// Scope is the part of a sidecar's configuration that belongs to a run,
// read from the scenario's objects (both states, so a revert waits until
// the remediation's listeners and clusters are gone).
type Scope struct {
	// Namespaces are the run's namespaces; Hosts the hosts of its
	// ServiceEntries. Clusters for them are the run's.
	Namespaces []string
	Hosts      []string
	// IPs are the run's addresses: its Services' ClusterIPs, its
	// ServiceEntries' addresses and the external server's IP. Listeners on
	// them are the run's.
	IPs []string
	// Ports are the ports the run's Services and ServiceEntries declare
	// and the port the probe dials: a wildcard listener 0.0.0.0_<port> on
	// them is the run's, unless ForeignPorts has the port.
	Ports []int
	// ForeignPorts are ports Services outside the run declare: Istio may
	// build a wildcard listener on them for those, whatever the run does.
	ForeignPorts []int
}

// ScopeOf reads a bundle's scope with the ClusterIPs the cluster assigned
// ("namespace/name" → IP; a Service that pins its clusterIP needs none).
func ScopeOf(b *fixtures.Bundle, clusterIPs map[string]string) Scope {
	t := b.Topology
	s := Scope{Namespaces: []string{t.ClientNamespace, t.ServerNamespace, t.ColliderNamespace}, Ports: []int{b.Scenario.Port}}
	add := func(list *[]string, v string) {
		if v != "" && v != "None" && !slices.Contains(*list, v) {
			*list = append(*list, v)
		}
	}
	addPort := func(p int) {
		if !slices.Contains(s.Ports, p) {
			s.Ports = append(s.Ports, p)
		}
	}
	add(&s.IPs, t.ServerIP)
	for _, o := range append(slices.Clone(b.Base), b.Final...) {
		switch obj := o.Decoded.(type) {
		case *corev1.Service:
			ip := obj.Spec.ClusterIP
			if live := clusterIPs[obj.Namespace+"/"+obj.Name]; live != "" {
				ip = live
			}
			add(&s.IPs, ip)
			for _, p := range obj.Spec.Ports {
				addPort(int(p.Port))
			}
		case *networkingv1.ServiceEntry:
			for _, h := range obj.Spec.GetHosts() {
				add(&s.Hosts, h)
			}
			for _, a := range obj.Spec.GetAddresses() {
				if !strings.Contains(a, "/") { // a CIDR's listener is not one address
					add(&s.IPs, a)
				}
			}
			for _, p := range obj.Spec.GetPorts() {
				addPort(int(p.GetNumber()))
			}
		}
	}
	return s
}

// ownsCluster reports whether a cluster is the run's: an outbound cluster
// (outbound|<port>|<subset>|<host>, Envoy's name for an Istio service
// port) of a host in the run's namespaces or ServiceEntries.
func (s Scope) ownsCluster(name string) bool {
	parts := strings.Split(name, "|")
	if len(parts) != 4 || parts[0] != "outbound" {
		return false
	}
	host := parts[3]
	for _, ns := range s.Namespaces {
		if ns != "" && strings.HasSuffix(host, "."+ns+".svc.cluster.local") {
			return true
		}
	}
	return slices.Contains(s.Hosts, host)
}

// wildcard is the address of Istio's per-port wildcard listeners.
const wildcard = "0.0.0.0"

// ownsListener reports whether a listener (by address and port) is the
// run's: on one of its addresses, or a wildcard listener on one of its
// ports.
func (s Scope) ownsListener(address string, port int) bool {
	return slices.Contains(s.IPs, address) || (address == wildcard && slices.Contains(s.Ports, port))
}

// mayStay reports whether a listener the expected state lacks may still
// be on the live sidecar: a wildcard listener on a port a foreign Service
// declares.
func (s Scope) mayStay(address string, port int) bool {
	return address == wildcard && slices.Contains(s.ForeignPorts, port)
}
