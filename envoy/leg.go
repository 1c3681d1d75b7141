package envoy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"istio.io/istio/pilot/pkg/simulation"
)

// Leg is how a connection leaves for the server: from which side, to
// which address, and in what transport. A client without a sidecar (or
// whose connection iptables does not capture) sends plaintext itself; a
// client sidecar's tcp_proxy sends what its cluster's transport socket
// says.
type Leg struct {
	// By says who opens the connection: "the client application" or "the
	// client sidecar".
	By string
	To netip.AddrPort
	// TLS is simulation.Plaintext, simulation.TLS (TLS without a client
	// certificate) or simulation.MTLS (Istio mTLS: the workload
	// certificate is presented).
	TLS simulation.TLSMode
	// ALPN and SNI are what the ClientHello carries, for TLS.
	ALPN []string
	SNI  string
	// Socket names the transport socket and why it applies, for traces.
	Socket string
	// AutoMTLS is true when a transport_socket_matches entry chose the
	// socket from the endpoint's metadata (Istio auto mTLS: the endpoint
	// carries tlsMode istio, so its pod runs a sidecar to terminate it).
	AutoMTLS bool
	// ServerSANs are the subject alt names the client sidecar accepts in
	// the server's certificate (Istio: the destination's service
	// accounts); empty accepts any certificate the root CA signed.
	ServerSANs []*matcher.StringMatcher
}

// Sidecar transport socket names and the endpoint metadata key Envoy's
// transport_socket_matches read.
const (
	TransportSocketMatchKey = "envoy.transport_socket_match"
	tlsSocketType           = "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
	rawBufferSocketType     = "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
)

// UpstreamLeg is how tcp_proxy's upstream connection to a cluster leaves
// for a connection to dst: the endpoint it dials (Upstream) and the
// transport socket Envoy picks for that endpoint. For a cluster with
// transport_socket_matches Envoy takes the first match whose criteria
// all equal the endpoint's envoy.transport_socket_match metadata (Istio's
// auto mTLS: tlsMode istio, set for endpoints whose pod has a sidecar),
// else the cluster's transport_socket; raw_buffer when there is none.
func (c *Config) UpstreamLeg(clusterName string, dst netip.AddrPort) (Leg, error) {
	leg := Leg{By: "the client sidecar", TLS: simulation.Plaintext}
	cl := c.Cluster(clusterName)
	if cl == nil {
		return leg, fmt.Errorf("%w: cluster %s is not in the configuration", ErrNoUpstream, clusterName)
	}
	to, ep, err := c.upstreamEndpoint(cl, dst)
	// A dynamic forward proxy has no address here, but its transport
	// socket is known: the leg says how it would connect, and the error
	// that its address is the request's Host.
	if err != nil && !errors.Is(err, ErrDynamicForwardProxy) {
		return leg, err
	}
	leg.To = to
	socket, why, matched := chooseTransportSocket(cl, ep)
	if err := leg.readSocket(socket); err != nil {
		return leg, fmt.Errorf("cluster %s: %w", clusterName, err)
	}
	leg.Socket, leg.AutoMTLS = why, matched && leg.TLS == simulation.MTLS
	return leg, err
}

// chooseTransportSocket applies Envoy's transport_socket_matches rule to
// one endpoint (nil for an ORIGINAL_DST cluster, which has no endpoint
// metadata).
func chooseTransportSocket(cl *cluster.Cluster, ep *endpoint.LbEndpoint) (socket *core.TransportSocket, why string, matched bool) {
	md := ep.GetMetadata().GetFilterMetadata()[TransportSocketMatchKey]
	mdText := "metadata: no " + TransportSocketMatchKey
	if len(md.GetFields()) > 0 {
		mdText = fmt.Sprintf("metadata %s %s", TransportSocketMatchKey, structText(md))
	}
	if ms := cl.GetTransportSocketMatches(); len(ms) > 0 {
		for _, m := range ms {
			if structSubset(m.GetMatch(), md) {
				return m.GetTransportSocket(), fmt.Sprintf("transport_socket_matches %q (match %s) fits the endpoint's %s", m.GetName(), structText(m.GetMatch()), mdText), len(m.GetMatch().GetFields()) > 0
			}
		}
		return cl.GetTransportSocket(), fmt.Sprintf("no transport_socket_matches entry fits the endpoint's %s: the cluster's transport_socket applies", mdText), false
	}
	if cl.GetTransportSocket() != nil {
		return cl.GetTransportSocket(), "the cluster's transport_socket (no transport_socket_matches)", false
	}
	return nil, fmt.Sprintf("the cluster has no transport socket (endpoint %s): raw_buffer", mdText), false
}

// structSubset reports whether every field of match equals the field of
// md: Envoy's criteria for a transport socket match ({} matches all).
func structSubset(match, md *structpb.Struct) bool {
	for k, v := range match.GetFields() {
		got, ok := md.GetFields()[k]
		if !ok || got.String() != v.String() {
			return false
		}
	}
	return true
}

func structText(s *structpb.Struct) string {
	if len(s.GetFields()) == 0 {
		return "{}"
	}
	var kv []string
	for k, v := range s.GetFields() {
		kv = append(kv, fmt.Sprintf("%s: %v", k, v.AsInterface()))
	}
	return "{" + strings.Join(kv, ", ") + "}"
}

// readSocket sets the leg's transport from a transport socket.
func (leg *Leg) readSocket(ts *core.TransportSocket) error {
	if ts == nil {
		return nil
	}
	url := ts.GetTypedConfig().GetTypeUrl()
	switch {
	case strings.HasSuffix(url, rawBufferSocketType), url == "" && ts.GetName() == "envoy.transport_sockets.raw_buffer":
		return nil
	case strings.HasSuffix(url, tlsSocketType):
		tc := &tlsv3.UpstreamTlsContext{}
		if err := ts.GetTypedConfig().UnmarshalTo(tc); err != nil {
			return fmt.Errorf("decoding transport socket %s: %w", ts.GetName(), err)
		}
		leg.TLS, leg.SNI = simulation.TLS, tc.GetSni()
		leg.ALPN = tc.GetCommonTlsContext().GetAlpnProtocols()
		vc := tc.GetCommonTlsContext().GetCombinedValidationContext().GetDefaultValidationContext()
		if vc == nil {
			vc = tc.GetCommonTlsContext().GetValidationContext()
		}
		leg.ServerSANs = vc.GetMatchSubjectAltNames() //nolint:staticcheck // what Istio sets
		for _, t := range vc.GetMatchTypedSubjectAltNames() {
			leg.ServerSANs = append(leg.ServerSANs, t.GetMatcher())
		}
		// A client certificate makes it mutual TLS: Istio's is the SDS
		// secret "default", the workload's own certificate.
		if cc := tc.GetCommonTlsContext(); len(cc.GetTlsCertificateSdsSecretConfigs()) > 0 || len(cc.GetTlsCertificates()) > 0 {
			leg.TLS = simulation.MTLS
		}
		return nil
	}
	return fmt.Errorf("transport socket %s (%s) is not one the envoy model knows (raw_buffer, tls): it cannot tell what the first bytes on the wire are", ts.GetName(), url)
}

// AcceptsServer reports whether the client sidecar's TLS validation
// accepts a server certificate for principal (its URI SAN), and says why.
func (leg Leg) AcceptsServer(principal string) (bool, string, error) {
	if len(leg.ServerSANs) == 0 {
		return true, "the client sidecar accepts any server certificate its root CA signed", nil
	}
	var want []string
	for _, m := range leg.ServerSANs {
		ok, err := stringMatches(m, principal)
		if err != nil {
			return false, "", fmt.Errorf("the client sidecar's subject alt name matcher: %w", err)
		}
		if ok {
			return true, fmt.Sprintf("the server sidecar's certificate, %s, matches the subject alt names the client sidecar accepts", principal), nil
		}
		want = append(want, m.String())
	}
	return false, fmt.Sprintf("the server sidecar's certificate, %s, matches none of the subject alt names the client sidecar accepts %v", principal, want), nil
}

// Target is the endpoint in words: a DNS-named endpoint has no address
// until Envoy resolves it.
func (leg Leg) Target() string {
	if !leg.To.IsValid() {
		return "a DNS-named endpoint"
	}
	return leg.To.String()
}

func (leg Leg) String() string {
	switch leg.TLS {
	case simulation.MTLS:
		return fmt.Sprintf("%s opens Istio mTLS to %s (ALPN %v, SNI %s): its TLS ClientHello is the first byte on the wire", leg.By, leg.Target(), leg.ALPN, leg.SNI)
	case simulation.TLS:
		return fmt.Sprintf("%s opens TLS to %s (ALPN %v, SNI %s): its ClientHello is the first byte on the wire", leg.By, leg.Target(), leg.ALPN, leg.SNI)
	default:
		return fmt.Sprintf("%s connects to %s in plaintext: the first byte on the wire is the client application's", leg.By, leg.Target())
	}
}
