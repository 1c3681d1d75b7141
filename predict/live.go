package predict

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict/capture"
)

// LivePods are where a live run's pods are: the client and server pod IPs
// and the address the client dialled (the Service ClusterIP for a server
// in the mesh, which the cluster allocated).
type LivePods struct {
	ClientIP, ServerIP netip.Addr
	Destination        netip.AddrPort
}

// ExplainLive predicts a bundle's connection from live sidecars' config
// dumps instead of generated configuration: clientDump is nil when the
// client runs without a sidecar, serverDump when the server does. The walk
// is PredictBundle's (walkSides). The identities are the ones Istio's injection gives the
// pods under the bundle's mesh config trust domain.
func ExplainLive(b *fixtures.Bundle, pods LivePods, clientDump, serverDump []byte) (Prediction, error) {
	if clientDump == nil && serverDump == nil {
		return Prediction{}, errors.New("no config_dump to explain: neither the client nor the server runs a sidecar")
	}
	in, err := inputFor(b)
	if err != nil {
		return Prediction{}, err
	}
	read := func(dump []byte, who string) (*envoy.Config, error) {
		if dump == nil {
			return nil, nil
		}
		cfg, err := envoy.ReadConfigDump(dump, who+" sidecar (live config_dump)", envoy.Tolerant)
		if err != nil {
			return nil, fmt.Errorf("%s config_dump: %w", who, err)
		}
		return cfg, nil
	}
	client, err := read(clientDump, "client")
	if err != nil {
		return Prediction{}, err
	}
	server, err := read(serverDump, "server")
	if err != nil {
		return Prediction{}, err
	}
	s := baseSides(b, in, pods.ClientIP, pods.ServerIP)
	dst, dns, err := liveResolve(b, s.Client, client != nil, pods.Destination)
	if err != nil {
		return Prediction{}, err
	}
	conn := protocolConnection(b.Scenario.Protocol, dst)
	if client != nil {
		s.ClientSidecar, s.NoClientSidecar = func() (*envoy.Config, error) { return client, nil }, ""
	} else if s.NoClientSidecar == "" {
		s.NoClientSidecar = "the client pod runs without a sidecar (no config_dump)"
	}
	if server != nil {
		s.ServerSidecar = func() (*envoy.Config, error) { return server, nil }
	}
	s.Backend = func(a netip.AddrPort) (netip.AddrPort, string, bool) {
		if a.Addr() == pods.ServerIP {
			return a, "", true
		}
		if a != pods.Destination {
			return a, "", false
		}
		svc, target, ok := serviceTarget(b, a.Port())
		if !ok {
			return a, "", false
		}
		to := netip.AddrPortFrom(pods.ServerIP, target)
		return to, kubeProxyHop(svc, a, to), true
	}
	pr, err := walkSides(s, conn, AppUID)
	pr.Trace = append(dns, pr.Trace...)
	return pr, err
}

// liveResolve is where a dial: name client connects in a live walk. A
// config_dump carries no DNS name table (istiod sends it to the agent
// over NDS, not to Envoy), so the name is resolved as predict resolves
// it, from the table Istio's generator builds for this state, and the
// trace says so: a live istiod may have allocated another address. With
// no nameserver in the topology, kind's kube-dns ClusterIP stands in.
func liveResolve(b *fixtures.Bundle, client capture.CapturePod, sidecar bool, dst netip.AddrPort) (netip.AddrPort, []envoy.Step, error) {
	if !b.Scenario.DialsName() {
		return dst, nil, nil
	}
	var notes []envoy.Step
	if len(client.Nameservers) == 0 {
		client.Nameservers = []netip.Addr{kindDNSServerIP}
		notes = append(notes, envoy.Step{Stage: "dns", Decision: fmt.Sprintf("the topology names no nameserver: kind's kube-dns ClusterIP %s stands in", kindDNSServerIP)})
	}
	var table NameTable
	if sidecar {
		gen, err := generateFor(b, ClientPod)
		if err != nil {
			return dst, nil, err
		}
		table = gen.NameTable
		if table == nil {
			table = NameTable{}
		}
		notes = append(notes, envoy.Step{Stage: "dns", Decision: "a config_dump carries no DNS name table (NDS goes to the agent, not to Envoy): the table is the one Istio's generator builds for this state; a live istiod may have allocated another address"})
	}
	res, err := resolve(b, client, table, fixtures.ServiceEntryHost(b.Scenario), AppUID)
	if err != nil {
		return dst, nil, err
	}
	return netip.AddrPortFrom(res.Addr, dst.Port()), append(notes, res.Trace...), nil
}
