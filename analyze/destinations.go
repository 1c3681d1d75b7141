package analyze

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"istio.io/istio/pkg/config/kube"
	"istio.io/istio/pkg/config/protocol"
	corev1 "k8s.io/api/core/v1"
)

// Destination is a server-first destination a client may dial.
type Destination struct {
	// Name says what it is: "203.0.113.7:10000", "any address on port
	// 3306", "Service db/orders port 5000".
	Name string `json:"name"`
	// Addr is what the walk dials. For Any it is ProbeIP on the port.
	Addr netip.AddrPort `json:"address"`
	// Any stands for every address on the port that has no listener of
	// its own.
	Any bool `json:"any,omitempty"`
	// Source is "named" (--server-first, --server-first-ports) or
	// "declared" (the mesh says so).
	Source string `json:"source"`
	// Protocol is mysql, smtp, mongo or tcp.
	Protocol string `json:"protocol"`
	// External is true for an address outside the Kubernetes registry
	// (not a Service VIP): the exclusion and ServiceEntry remediations
	// fit only those.
	External bool `json:"external,omitempty"`
	// Owner is the ServiceEntry or Service that declares it
	// (kind/namespace/name), if any.
	Owner string `json:"owner,omitempty"`
	// ownerSE is the ServiceEntry without addresses it was declared by.
	ownerSE string
}

// ProbeIP stands for "any address" on a port: TEST-NET-1 (RFC 5737),
// which no mesh registers.
var ProbeIP = netip.MustParseAddr("192.0.2.1")

// wellKnownServerFirst are ports whose protocols speak first, by
// IANA assignment: ftp, ssh, smtp, pop3, imap, submission, mysql.
var wellKnownServerFirst = map[int]string{21: "tcp", 22: "tcp", 25: "smtp", 110: "tcp", 143: "tcp", 587: "smtp", 3306: "mysql"}

// clientFirst reports whether a connection of this protocol opens with the
// client's bytes: analyze walks it as such (MongoDB's hello).
func (d Destination) clientFirst() bool { return d.Protocol == "mongo" }

// destinations lists the server-first destinations: named by the user
// (hosts and ports) and declared by the mesh.
func (m *Mesh) destinations(named []string, namedPorts []int) ([]Destination, error) {
	var out []Destination
	seen := map[string]bool{}
	add := func(d Destination) {
		k := d.Addr.String() + "|" + d.Name
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	for _, hp := range named {
		ds, err := m.resolve(hp)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			add(d)
		}
	}
	for _, p := range namedPorts {
		if p < 1 || p > 65535 {
			return nil, fmt.Errorf("--server-first-ports: %d is not a port: want 1-65535", p)
		}
		add(Destination{Name: fmt.Sprintf("any address on port %d", p), Addr: netip.AddrPortFrom(ProbeIP, uint16(p)), Any: true, Source: "named", Protocol: "tcp", External: true})
		for _, d := range m.vips(p) {
			d.Source = "named"
			add(d)
		}
	}
	guessed := m.openPorts()
	for p, proto := range wellKnownServerFirst {
		if guessed[p] {
			add(Destination{Name: fmt.Sprintf("any address on port %d (well-known %s port)", p, proto), Addr: netip.AddrPortFrom(ProbeIP, uint16(p)), Any: true, Source: "declared", Protocol: proto, External: true})
		}
	}
	for _, se := range m.ServiceEntries {
		for _, p := range se.Spec.Ports {
			proto := protocolName(protocol.Parse(p.Protocol))
			if proto == "" {
				continue
			}
			owner := "ServiceEntry/" + se.Namespace + "/" + se.Name
			base := Destination{Source: "declared", Protocol: proto, External: true, Owner: owner}
			addrs := addressesOf(se.Spec.Addresses)
			if len(addrs) == 0 {
				base.ownerSE = owner
				for _, e := range se.Spec.Endpoints {
					if a, err := netip.ParseAddr(e.Address); err == nil {
						addrs = append(addrs, a)
					}
				}
			}
			port := uint16(p.Number)
			if len(addrs) == 0 {
				d := base
				d.Name, d.Addr, d.Any = fmt.Sprintf("ServiceEntry %s/%s %s:%d (resolved at run time)", se.Namespace, se.Name, strings.Join(se.Spec.Hosts, ","), port), netip.AddrPortFrom(ProbeIP, port), true
				add(d)
			}
			for _, a := range addrs {
				d := base
				d.Name, d.Addr = fmt.Sprintf("ServiceEntry %s/%s %s", se.Namespace, se.Name, netip.AddrPortFrom(a, port)), netip.AddrPortFrom(a, port)
				add(d)
			}
		}
	}
	for _, s := range m.Services {
		vip, err := netip.ParseAddr(s.Spec.ClusterIP)
		if err != nil {
			continue
		}
		for _, p := range s.Spec.Ports {
			proto := protocolName(kube.ConvertProtocol(p.Port, p.Name, p.Protocol, p.AppProtocol))
			if proto == "" {
				continue
			}
			add(Destination{Name: servicePortText(s, p), Addr: netip.AddrPortFrom(vip, uint16(p.Port)), Source: "declared", Protocol: proto, Owner: "Service/" + s.Namespace + "/" + s.Name})
		}
	}
	return out, nil
}

// declaresClientFirst reports whether a port's declared protocol, as
// Istio reads it, says a client speaks first there (HTTP, gRPC, TLS,
// Mongo, Redis, ...): then that port is no server-first destination,
// whatever its number. TCP says nothing about who speaks first, MySQL
// is server-first, and an unclassified port declares nothing.
func declaresClientFirst(p protocol.Instance) bool {
	switch p {
	case protocol.TCP, protocol.MySQL, protocol.Unsupported:
		return false
	}
	return true
}

// openPorts are the ports on which some Service or ServiceEntry port
// leaves the protocol open to a server-first one (declaresClientFirst is
// false): only there does a well-known server-first port number make
// "any address on the port" a destination. A port the mesh declares only
// as client-first protocols (grpc-web on 587) is not guessed; a hazard
// there is reported as exposed until a server-first destination is named.
func (m *Mesh) openPorts() map[int]bool {
	return m.portsWhere(func(p protocol.Instance) bool { return !declaresClientFirst(p) })
}

// protocolName maps the protocols Istio proxies as plain TCP to the names
// analyze walks them with; HTTP-family and TLS ports are not server-first.
func protocolName(p protocol.Instance) string {
	switch p {
	case protocol.TCP:
		return "tcp"
	case protocol.MySQL:
		return "mysql"
	case protocol.Mongo:
		return "mongo"
	}
	return ""
}

func addressesOf(in []string) []netip.Addr {
	var out []netip.Addr
	for _, a := range in {
		if p, err := netip.ParsePrefix(a); err == nil {
			out = append(out, p.Addr())
		} else if ip, err := netip.ParseAddr(a); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

// vips are the Service VIPs and ServiceEntry addresses on a port.
func (m *Mesh) vips(port int) []Destination {
	var out []Destination
	for _, s := range m.Services {
		vip, err := netip.ParseAddr(s.Spec.ClusterIP)
		if err != nil {
			continue
		}
		for _, p := range s.Spec.Ports {
			if int(p.Port) == port {
				out = append(out, Destination{Name: servicePortText(s, p), Addr: netip.AddrPortFrom(vip, uint16(port)), Protocol: "tcp", Owner: "Service/" + s.Namespace + "/" + s.Name})
			}
		}
	}
	for _, se := range m.ServiceEntries {
		for _, p := range se.Spec.Ports {
			if int(p.Number) != port {
				continue
			}
			for _, a := range addressesOf(se.Spec.Addresses) {
				out = append(out, Destination{Name: fmt.Sprintf("ServiceEntry %s/%s %s", se.Namespace, se.Name, netip.AddrPortFrom(a, uint16(port))), Addr: netip.AddrPortFrom(a, uint16(port)), Protocol: "tcp", External: true, Owner: "ServiceEntry/" + se.Namespace + "/" + se.Name})
			}
		}
	}
	return out
}

// resolve turns --server-first host:port into destinations: an IP as is,
// a Service (name.namespace[.svc[.cluster.local]]) by its VIP, a
// ServiceEntry host by its addresses or endpoints.
func (m *Mesh) resolve(hostPort string) ([]Destination, error) {
	host, ps, err := net.SplitHostPort(hostPort)
	if err != nil {
		return nil, fmt.Errorf("--server-first %q: %v: want host:port, e.g. 203.0.113.7:3306 or orders-db.shop:3306", hostPort, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("--server-first %q: port %q: want 1-65535", hostPort, ps)
	}
	proto := "mysql"
	if p, ok := wellKnownServerFirst[port]; ok && p != "tcp" {
		proto = p
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		d := Destination{Name: hostPort, Addr: netip.AddrPortFrom(ip, uint16(port)), Source: "named", Protocol: proto, External: true}
		for _, v := range m.vips(port) {
			if v.Addr == d.Addr {
				d.External, d.Owner = v.External, v.Owner
			}
		}
		return []Destination{d}, nil
	}
	var out []Destination
	for _, s := range m.Services {
		names := []string{s.Name + "." + s.Namespace, s.Name + "." + s.Namespace + ".svc", fqdn(s)}
		if !slices.Contains(names, host) && host != s.Name {
			continue
		}
		vip, err := netip.ParseAddr(s.Spec.ClusterIP)
		if err != nil {
			return nil, fmt.Errorf("--server-first %q: Service %s/%s has no cluster IP (headless): name a pod IP instead", hostPort, s.Namespace, s.Name)
		}
		if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == port }) {
			return nil, fmt.Errorf("--server-first %q: Service %s/%s has no port %d", hostPort, s.Namespace, s.Name, port)
		}
		sp := proto
		for _, p := range s.Spec.Ports {
			if d := protocolName(kube.ConvertProtocol(p.Port, p.Name, p.Protocol, p.AppProtocol)); int(p.Port) == port && d != "" && d != "tcp" {
				sp = d // a declared mysql or mongo beats the port-number guess
			}
		}
		out = append(out, Destination{Name: hostPort, Addr: netip.AddrPortFrom(vip, uint16(port)), Source: "named", Protocol: sp, Owner: "Service/" + s.Namespace + "/" + s.Name})
	}
	for _, se := range m.ServiceEntries {
		if !slices.Contains(se.Spec.Hosts, host) {
			continue
		}
		owner := "ServiceEntry/" + se.Namespace + "/" + se.Name
		proto := proto
		for _, p := range se.Spec.Ports {
			if d := protocolName(protocol.Parse(p.Protocol)); int(p.Number) == port && d != "" && d != "tcp" {
				proto = d // a declared mysql or mongo beats the port-number guess
			}
		}
		addrs := addressesOf(se.Spec.Addresses)
		ownerSE := ""
		if len(addrs) == 0 {
			ownerSE = owner
			for _, e := range se.Spec.Endpoints {
				if a, err := netip.ParseAddr(e.Address); err == nil {
					addrs = append(addrs, a)
				}
			}
		}
		if len(addrs) == 0 {
			out = append(out, Destination{Name: hostPort + " (resolved at run time)", Addr: netip.AddrPortFrom(ProbeIP, uint16(port)), Any: true, Source: "named", Protocol: proto, External: true, Owner: owner, ownerSE: ownerSE})
		}
		for _, a := range addrs {
			out = append(out, Destination{Name: fmt.Sprintf("%s (%s)", hostPort, a), Addr: netip.AddrPortFrom(a, uint16(port)), Source: "named", Protocol: proto, External: true, Owner: owner, ownerSE: ownerSE})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--server-first %q: %s is not an IP address, and no Service or ServiceEntry host of the mesh is called so: give the server's IP, or a host the mesh declares", hostPort, host)
	}
	return out, nil
}
