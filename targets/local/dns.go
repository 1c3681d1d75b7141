package local

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/servers/probe"
	"github.com/firstbyte/firstbyte/targets/local/dnsproxy"
	"github.com/firstbyte/firstbyte/targets/local/netlab"
	"golang.org/x/sys/unix"
)

// agentDNSPort is istio-agent's DNS proxy port, where istio-iptables'
// DNS capture rules redirect the pod's queries
// (istio-iptables constants.IstioAgentDNSListenerPort).
const agentDNSPort = 15053

// dnsRun is a name-dialling scenario's DNS: the cluster's resolver in the
// world and, when the client's agent captures DNS, its DNS proxy in the
// client pod.
type dnsRun struct {
	cluster *dnsproxy.Server
	agent   *dnsproxy.Server
	// table is what the agent answers from: the name table Istio built
	// for the client sidecar in the state in force (swapped by
	// configure).
	table dnsproxy.Table
}

func (d *dnsRun) close() {
	if d == nil {
		return
	}
	for _, s := range []*dnsproxy.Server{d.cluster, d.agent} {
		if s != nil {
			s.Close()
		}
	}
}

// nameserver is the client pod's resolv.conf nameserver.
func nameserver() netip.AddrPort { return netip.AddrPortFrom(fixtures.WorldDNSServerIP, 53) }

// deployDNS starts the cluster's resolver at fixtures.WorldDNSServerIP in the world: it
// knows the external server's public name (fixtures.ServiceEntryHost) and
// nothing else, as predict models it. The agent's proxy starts with the
// client's configuration (configureAgentDNS).
func (r *scenarioRun) deployDNS(b *fixtures.Bundle) error {
	if !b.Scenario.DialsName() {
		return nil
	}
	if err := r.net.AddWorldAddress(fixtures.WorldDNSServerIP); err != nil {
		return err
	}
	table := dnsproxy.Table{fixtures.ServiceEntryHost(b.Scenario): {fixtures.WorldServerIP}}
	r.dns = &dnsRun{}
	r.dns.cluster = &dnsproxy.Server{Name: "cluster DNS " + nameserver().String(), Table: func() dnsproxy.Table { return table }}
	return r.serveDNS(r.net.World(), nameserver(), r.dns.cluster, -1)
}

// serveDNS opens a DNS server's UDP socket and TCP listener at a inside h
// and serves them. With fsuid >= 0 the sockets are owned by that UID:
// the agent's must be the proxy's, because istio-iptables puts the
// agent's UDP replies (source port 15053, owner 1337) into the conntrack
// zone of the redirected query, and only there does the kernel undo the
// redirect, so the reply reaches the client from the nameserver it asked.
func (r *scenarioRun) serveDNS(h *netlab.Host, a netip.AddrPort, s *dnsproxy.Server, fsuid int) error {
	var pc net.PacketConn
	var ln net.Listener
	err := h.Do(func() error {
		if fsuid >= 0 {
			prev, _ := unix.SetfsuidRetUid(fsuid)
			defer unix.SetfsuidRetUid(prev)
			if got, _ := unix.SetfsuidRetUid(-1); got != fsuid {
				return fmt.Errorf("setting fsuid %d for the DNS sockets: still %d", fsuid, got)
			}
		}
		var err error
		if pc, err = net.ListenPacket("udp", a.String()); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", a.String())
		return err
	})
	if err != nil {
		if pc != nil {
			pc.Close()
		}
		return fmt.Errorf("DNS server %s at %s: %w", s.Name, a, err)
	}
	r.servers.Add(1)
	go func() {
		defer r.servers.Done()
		s.Serve(pc, ln)
	}()
	return nil
}

// configureAgentDNS gives the client's agent the name table Istio built
// for the state in force, starting its DNS proxy on 127.0.0.1:15053 the
// first time a state has DNS capture on (Istio's agent runs it only
// then). Names outside the table go to the cluster's DNS on sockets with
// the proxy's UID, which istio-iptables lets by.
func (r *scenarioRun) configureAgentDNS(b *fixtures.Bundle, cfg *envoy.Config) error {
	if r.dns == nil || cfg == nil {
		return nil
	}
	client, err := predict.PodOf(b, predict.ClientPod)
	if err != nil {
		return err
	}
	table := dnsproxy.Table{}
	if client.DNSCapture {
		for host, ips := range cfg.NameTable {
			for _, s := range ips {
				a, err := netip.ParseAddr(s)
				if err != nil {
					return fmt.Errorf("name table of the client sidecar: %s → %q: %w", host, s, err)
				}
				table[host] = append(table[host], a)
			}
		}
	}
	r.mu.Lock()
	r.dns.table = table
	start := client.DNSCapture && r.dns.agent == nil
	if start {
		r.dns.agent = &dnsproxy.Server{
			Name: "client agent DNS proxy 127.0.0.1:15053",
			Table: func() dnsproxy.Table {
				r.mu.Lock()
				defer r.mu.Unlock()
				return r.dns.table
			},
			Upstream: nameserver(),
			Dial:     r.client.Dialer(proxyUID),
		}
	}
	agent := r.dns.agent
	r.mu.Unlock()
	if !start {
		return nil
	}
	return r.serveDNS(r.client, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), agentDNSPort), agent, proxyUID)
}

// resolvedDestination is where the client's connection goes in this
// state as predict resolves it: the address the dialled name resolves to
// (through the capture rules and the sidecar's name table), or the
// server's address for a scenario that dials an IP.
func (l *Local) resolvedDestination(b *fixtures.Bundle) (netip.AddrPort, error) {
	dst, err := predict.Destination(b)
	if err != nil || !b.Scenario.DialsName() {
		return dst, err
	}
	res, err := l.predictor.ResolveServer(b)
	if err != nil {
		return dst, err
	}
	return netip.AddrPortFrom(res.Addr, dst.Port()), nil
}

// probeTarget is what the client's probe dials and how: the server's
// address with the client's dialer, or, for a scenario that dials a name,
// the name with a dialer that resolves it through the pod's resolver —
// a Go resolver whose queries leave the client namespace for its
// nameserver, so istio-iptables' rules (and DNS capture, when on) apply
// to them as to any pod's.
func (r *scenarioRun) probeTarget(b *fixtures.Bundle, dst netip.AddrPort) (string, probe.DialFunc) {
	dial := r.client.Dialer(-1)
	if !b.Scenario.DialsName() {
		return dst.String(), dial
	}
	resolver := dnsproxy.Resolver(nameserver(), dial)
	return b.ServerAddr, probe.DialFunc(dnsproxy.DialName(resolver, dial, func(host string, addrs []netip.Addr, err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.resolutions = append(r.resolutions, fmt.Sprintf("client resolved %s through its resolver (nameserver %s): %v %v", host, nameserver(), addrs, errText(err)))
	}))
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// dnsEvidence is the DNS servers' query logs and the client's
// resolutions, for the evidence folder.
func (r *scenarioRun) dnsEvidence() string {
	r.mu.Lock()
	d := r.dns
	lines := append([]string(nil), r.resolutions...)
	r.mu.Unlock()
	if d == nil {
		return ""
	}
	for _, s := range []*dnsproxy.Server{d.cluster, d.agent} {
		if s != nil {
			lines = append(lines, s.Log()...)
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
