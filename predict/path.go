package predict

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict/capture"
	"github.com/firstbyte/firstbyte/scenarios"
	"istio.io/istio/pilot/pkg/simulation"
	corev1 "k8s.io/api/core/v1"
)

// Sides is what a walk over both ends of a connection needs: the client
// pod and its sidecar (if any), the server pod and its sidecar (if any),
// and the hop between them. Configurations come as data (generated, or
// read from live config dumps) through functions, so a side the
// connection never reaches is never generated.
type Sides struct {
	Client capture.CapturePod
	// ClientSidecar returns the client sidecar's configuration; nil when
	// the client runs without a sidecar, and NoClientSidecar says why.
	ClientSidecar   func() (*envoy.Config, error)
	NoClientSidecar string
	// ClientPrincipal and ServerPrincipal are the identities in the
	// sidecars' certificates, spiffe://<trust domain>/ns/<namespace>/sa/<service account>.
	ClientPrincipal, ServerPrincipal string
	Server                           capture.CapturePod
	// ServerSidecar returns the server sidecar's configuration; nil when
	// the server runs without one.
	ServerSidecar func() (*envoy.Config, error)
	// Backend says where a connection to addr lands on the server pod
	// (kube-proxy's DNAT of the Service ClusterIP), with the hop in words;
	// ok is false when addr does not lead to the server pod.
	Backend func(addr netip.AddrPort) (to netip.AddrPort, hop string, ok bool)
}

// walkSides follows a connection from the client application to the
// server application: the client side first (no sidecar at all, a
// connection iptables does not capture, or the client sidecar's outbound
// walk, which may already decide the outcome), then how the connection
// leaves (plaintext from the application, or what the client sidecar's
// cluster transport socket makes of it: Istio mTLS puts the sidecar's
// ClientHello first on the wire), the hop to the server pod, the server
// pod's inbound capture and its sidecar's virtualInbound.
func walkSides(s Sides, conn Connection, appUID uint32) (Prediction, error) {
	pr, leg, decided, err := clientSide(s, conn, appUID)
	if err != nil || decided {
		return pr, err
	}
	if s.ServerSidecar == nil {
		return noServerSidecar(pr, leg, "the server runs without a sidecar", false)
	}
	if leg.TLS == simulation.MTLS && s.ServerPrincipal != "" {
		ok, why, err := leg.AcceptsServer(s.ServerPrincipal)
		if err != nil {
			return pr, err
		}
		pr.add("client upstream", "%s", why)
		if !ok {
			pr.Outcome = scenarios.Reset
			pr.add("outcome", "the client sidecar rejects the server sidecar's certificate during the handshake and closes the client's connection without a byte: reset")
			return pr, nil
		}
	}
	to, hop, ok := s.Backend(leg.To)
	if !ok {
		return noServerSidecar(pr, leg, fmt.Sprintf("%s is not the server pod or its Service: the server's sidecar is not on the way", leg.Target()), false)
	}
	if hop != "" {
		pr.add("kube-proxy", "%s", hop)
	}
	c, err := capture.CaptureInbound(s.Server, s.Client.IP, to)
	if err != nil {
		return pr, err
	}
	pr.Trace = append(pr.Trace, c.Trace...)
	if !c.Redirected {
		return noServerSidecar(pr, leg, "the server pod's rules do not capture it", true)
	}
	cfg, err := s.ServerSidecar()
	if err != nil {
		return pr, err
	}
	sp, err := EvaluateInbound(cfg, arrivalOf(leg, s.Client.IP, to, conn.Protocol, conn.ClientSends, s.ClientPrincipal))
	pr.Trace = append(pr.Trace, sp.Trace...)
	pr.Outcome, pr.After = sp.Outcome, pr.After+sp.After
	pr.HeldBy, pr.Inbound, pr.DeniedBy, pr.ServerBytesBeforeDeny = sp.HeldBy, sp.Inbound, sp.DeniedBy, sp.ServerBytesBeforeDeny
	return pr, err
}

// noServerSidecar finishes a connection that reaches the server
// application with no server sidecar on the way: plaintext connects; a
// client sidecar's TLS puts a ClientHello in front of a server that
// speaks first, whose greeting is not a ServerHello, so the client
// sidecar's handshake fails and it closes the client's connection.
// Auto mTLS is chosen only for an endpoint whose pod runs a sidecar
// (tlsMode istio), so unless that pod is the server whose capture let the
// connection by (bypassed), predict does not know what terminates it and
// says so instead of guessing.
func noServerSidecar(pr Prediction, leg envoy.Leg, why string, bypassed bool) (Prediction, error) {
	late := ""
	if pr.After > 0 {
		late = fmt.Sprintf(", %s late (the client sidecar's listener filter timeout)", pr.After)
	}
	if leg.TLS == simulation.Plaintext {
		pr.Outcome = scenarios.Connected
		pr.add("outcome", "%s: the connection reaches the server application directly: connected%s", why, late)
		return pr, nil
	}
	if leg.AutoMTLS && !bypassed {
		pr.Outcome = ""
		return pr, fmt.Errorf("%s, yet the client sidecar's auto mTLS chose mTLS for %s because that endpoint carries tlsMode istio (its pod runs a sidecar): predict does not know what terminates it", why, leg.Target())
	}
	pr.Outcome, pr.straightIn, pr.Transport = scenarios.Reset, true, string(leg.TLS)
	pr.add("outcome", "%s, yet the client sidecar opens %s to it: the server application answers the ClientHello with its own protocol (a server-first greeting, or an error), not a ServerHello, so the handshake fails and the client sidecar closes the client's connection without a byte: reset", why, leg.TLS)
	return pr, nil
}

// clientSide follows the connection from the client application to where
// it leaves the client pod. decided is true when the client side alone
// settles the outcome (its sidecar holds, refuses or closes it).
func clientSide(s Sides, conn Connection, appUID uint32) (pr Prediction, leg envoy.Leg, decided bool, err error) {
	app := envoy.Leg{By: "the client application", To: conn.Destination, TLS: simulation.Plaintext}
	if s.ClientSidecar == nil {
		pr.Direct = "no client sidecar"
		pr.add("capture", "%s; without a sidecar there is no istio-init and no iptables rule: nothing captures the connection", s.NoClientSidecar)
		pr.add("client", "%s", app)
		pr.Transport = string(app.TLS)
		return pr, app, false, nil
	}
	c, err := capture.CaptureOutbound(s.Client, conn.Destination, appUID)
	if err != nil {
		return pr, leg, true, err
	}
	pr.Trace = c.Trace
	if !c.Redirected {
		pr.Direct = "not captured"
		pr.add("client", "%s", app)
		pr.Transport = string(app.TLS)
		return pr, app, false, nil
	}
	cfg, err := s.ClientSidecar()
	if err != nil {
		return pr, leg, true, err
	}
	out, err := Evaluate(cfg, conn)
	out.Trace = append(pr.Trace, out.Trace...)
	if err != nil || out.Outcome != scenarios.Connected || out.Cluster == "" {
		return out, leg, true, err
	}
	// The client sidecar connected upstream: the rest happens on the way
	// and at the server, so its "connected" is not the outcome yet.
	out.Trace = slices.DeleteFunc(out.Trace, func(s envoy.Step) bool { return s.Stage == "outcome" })
	leg, err = cfg.UpstreamLeg(out.Cluster, conn.Destination)
	if err != nil {
		out.Outcome = "" // not decided: the walk stops at the error
		return out, leg, true, err
	}
	out.Transport = string(leg.TLS)
	out.add("client upstream", "cluster %s, endpoint %s: %s", out.Cluster, leg.Target(), leg.Socket)
	out.add("client upstream", "%s", leg)
	return out, leg, false, nil
}

// sides builds a bundle's Sides from the generator input, with the
// sidecars' configurations generated on demand.
func (p *Predictor) sides(b *fixtures.Bundle, in generatorInput) Sides {
	ips := podIPs(b.Topology)
	s := baseSides(b, in, ips[ClientPod], ips[ServerPod])
	s.Backend = func(a netip.AddrPort) (netip.AddrPort, string, bool) { return ServerBackend(b, ips[ServerPod], a) }
	if s.NoClientSidecar == "" {
		s.ClientSidecar = func() (*envoy.Config, error) { return p.sidecarOf(b, in, ClientPod) }
	}
	if _, ok := in.sidecars[ServerPod]; ok {
		s.ServerSidecar = func() (*envoy.Config, error) { return p.sidecarOf(b, in, ServerPod) }
	}
	return s
}

// baseSides is a bundle's Sides without configurations or Backend: the
// pods at the given IPs, with the annotations and identities Istio's
// injection gives them.
func baseSides(b *fixtures.Bundle, in generatorInput, clientIP, serverIP netip.Addr) Sides {
	s := Sides{
		Client: capture.CapturePod{Annotations: b.ClientAnnotations, IP: clientIP, Nameservers: Nameservers(b.Topology)},
		Server: capture.CapturePod{IP: serverIP},
	}
	principal := func(pod sidecarPod) string {
		return fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", in.mesh.GetTrustDomain(), pod.Namespace, pod.ServiceAccount)
	}
	if c, ok := in.sidecars[ClientPod]; ok {
		s.ClientPrincipal = principal(c)
	} else {
		s.NoClientSidecar = in.injection[ClientPod].Why
	}
	if srv, ok := in.sidecars[ServerPod]; ok {
		s.Server.Annotations = srv.Annotations
		s.ServerPrincipal = principal(srv)
	}
	return s
}

// ServerBackend is where a connection to addr lands on the server pod:
// kube-proxy DNATs the server Service's ClusterIP and port to the pod IP
// and target port; the pod's own address is reached as is. ok is false
// for any other address.
func ServerBackend(b *fixtures.Bundle, podIP netip.Addr, addr netip.AddrPort) (to netip.AddrPort, hop string, ok bool) {
	if addr.Addr() == podIP {
		return addr, "", true
	}
	svc, target, ok := serviceTarget(b, addr.Port())
	if !ok || svc.Spec.ClusterIP != addr.Addr().String() {
		return addr, "", false
	}
	to = netip.AddrPortFrom(podIP, target)
	return to, kubeProxyHop(svc, addr, to), true
}

// kubeProxyHop is the kube-proxy hop in words, for traces.
func kubeProxyHop(svc *corev1.Service, from, to netip.AddrPort) string {
	return fmt.Sprintf("the Service %s/%s ClusterIP %s is DNATed by kube-proxy to its endpoint, the server pod %s", svc.Namespace, svc.Name, from, to)
}

// serviceTarget finds the server Service's port and its target port.
func serviceTarget(b *fixtures.Bundle, port uint16) (*corev1.Service, uint16, bool) {
	for _, o := range b.Final {
		svc, isSvc := o.Decoded.(*corev1.Service)
		if !isSvc || svc.Namespace != b.Topology.ServerNamespace || svc.Name != "server" {
			continue
		}
		for _, sp := range svc.Spec.Ports {
			if sp.Port != int32(port) {
				continue
			}
			target := sp.TargetPort.IntValue()
			if target == 0 {
				target = int(sp.Port)
			}
			return svc, uint16(target), true
		}
	}
	return nil, 0, false
}
