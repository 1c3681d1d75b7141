// Package configdump summarises an Envoy admin /config_dump for the
// cluster targets' sidecar waits and their evidence: listener names,
// addresses and the listener filters that wait for client bytes with
// their timeout, the clusters a listener's tcp_proxy filters send to, the
// filter chains' transport and RBAC actions, and each cluster's transport
// socket.
//
// It reads the dump with the envoy package's one reader
// (envoy.ReadConfigDump): Tolerant for a live sidecar, whose dump carries
// typed configs of every extension its Envoy build has (waiting for a
// listener must not depend on this binary knowing all of them), Strict
// for the dumps this suite writes itself. Which listener filters wait, and
// Envoy's default listener filter timeout, come from the envoy package.
package configdump

import (
	"fmt"
	"slices"
	"strings"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbac "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/firstbyte/firstbyte/envoy"
	"istio.io/istio/pkg/wellknown"
)

// Dump is the summary of one config_dump.
type Dump struct {
	Listeners []Listener
	// Clusters are the static and dynamic active clusters.
	Clusters []Cluster
}

// Cluster is one cluster and how it secures upstream connections.
type Cluster struct {
	Name string
	// TransportSocket is the cluster's transport socket name (e.g.
	// envoy.transport_sockets.tls), empty for plaintext.
	TransportSocket string
	// Matches are the names of transport_socket_matches (auto mTLS:
	// tlsMode-istio, tlsMode-disabled).
	Matches []string
}

// TLS says how the cluster connects: "mutual" (a TLS transport socket),
// "auto" (Istio's auto mTLS: a tlsMode-istio transport socket match) or
// "plaintext".
func (c Cluster) TLS() string {
	switch {
	case strings.HasSuffix(c.TransportSocket, ".tls"):
		return "mutual"
	case slices.Contains(c.Matches, "tlsMode-istio"):
		return "auto"
	default:
		return "plaintext"
	}
}

// FilterChain is one filter chain of a listener.
type FilterChain struct {
	Name string
	// DestinationPort, TransportProtocol: the chain's filter_chain_match.
	DestinationPort   int
	TransportProtocol string
	// TerminatesTLS: the chain has a TLS transport socket (mTLS).
	TerminatesTLS bool
	// Filters are the network filter names; RBAC the actions of its rbac
	// filters (ALLOW, DENY).
	Filters []string
	RBAC    []string
}

// Listener is one active listener.
type Listener struct {
	Name    string
	Address string
	Port    int
	// ListenerFilters are the listener filter names, such as
	// envoy.filters.listener.http_inspector.
	ListenerFilters []string
	// Waiting are the listener filters that wait for client bytes on some
	// port (envoy.ListenerWaiters), by their well-known names.
	Waiting []string
	// FiltersTimeout is listener_filters_timeout; nil when the listener
	// does not set it (Envoy's default then applies: Timeout).
	FiltersTimeout *time.Duration
	// TCPProxyClusters are the clusters tcp_proxy filters of the listener's
	// filter chains (and default chain) send to.
	TCPProxyClusters []string
	// Chains are the filter chains (not the default chain).
	Chains []FilterChain
}

// Timeout is the listener filter timeout Envoy applies: the configured
// one, else envoy.DefaultListenerFiltersTimeout.
func (l Listener) Timeout() time.Duration {
	if l.FiltersTimeout != nil {
		return *l.FiltersTimeout
	}
	return envoy.DefaultListenerFiltersTimeout
}

// Waits reports whether a listener filter can hold the connection for
// client bytes.
func (l Listener) Waits() bool { return len(l.Waiting) > 0 }

// Inspects reports whether the named listener filter (a well-known name
// such as wellknown.HTTPInspector) waits for client bytes here.
func (l Listener) Inspects(name string) bool { return slices.Contains(l.Waiting, name) }

// ChainsFor returns the chains that match a destination port.
func (l Listener) ChainsFor(port int) []FilterChain {
	var out []FilterChain
	for _, c := range l.Chains {
		if c.DestinationPort == port {
			out = append(out, c)
		}
	}
	return out
}

// Listener returns the listener with the name, if present.
func (d *Dump) Listener(name string) (Listener, bool) {
	for _, l := range d.Listeners {
		if l.Name == name {
			return l, true
		}
	}
	return Listener{}, false
}

// HasCluster reports whether a cluster with the name is present.
func (d *Dump) HasCluster(name string) bool {
	_, ok := d.Cluster(name)
	return ok
}

// Cluster returns the cluster with the name, if present.
func (d *Dump) Cluster(name string) (Cluster, bool) {
	for _, c := range d.Clusters {
		if c.Name == name {
			return c, true
		}
	}
	return Cluster{}, false
}

// ClusterNames lists the cluster names.
func (d *Dump) ClusterNames() []string {
	out := make([]string, 0, len(d.Clusters))
	for _, c := range d.Clusters {
		out = append(out, c.Name)
	}
	return out
}

// ListenerNames lists the listener names, for messages.
func (d *Dump) ListenerNames() []string {
	out := make([]string, 0, len(d.Listeners))
	for _, l := range d.Listeners {
		out = append(out, l.Name)
	}
	return out
}

// Parse reads an Envoy admin /config_dump (snake_case as Envoy prints it;
// camelCase is accepted too) with envoy.ReadConfigDump in the given mode
// and summarises it. source names the dump in errors.
func Parse(data []byte, source string, mode envoy.DumpMode) (*Dump, error) {
	cfg, err := envoy.ReadConfigDump(data, source, mode)
	if err != nil {
		return nil, fmt.Errorf("%w (fetch it with: pilot-agent request GET config_dump?include_eds)", err)
	}
	return Summarize(cfg)
}

// Summarize is the summary of a configuration.
func Summarize(cfg *envoy.Config) (*Dump, error) {
	d := &Dump{}
	for _, l := range cfg.Listeners {
		s, err := summarizeListener(l)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.Source, err)
		}
		d.Listeners = append(d.Listeners, s)
	}
	for _, c := range cfg.Clusters {
		d.Clusters = append(d.Clusters, summarizeCluster(c))
	}
	return d, nil
}

func summarizeListener(l *listener.Listener) (Listener, error) {
	sa := l.GetAddress().GetSocketAddress()
	out := Listener{Name: l.GetName(), Address: sa.GetAddress(), Port: int(sa.GetPortValue()), Waiting: envoy.ListenerWaiters(l)}
	for _, f := range l.GetListenerFilters() {
		out.ListenerFilters = append(out.ListenerFilters, f.GetName())
	}
	if t := l.GetListenerFiltersTimeout(); t != nil {
		dur := t.AsDuration()
		out.FiltersTimeout = &dur
	}
	chains := l.GetFilterChains()
	named := len(chains)
	if dc := l.GetDefaultFilterChain(); dc != nil {
		chains = append(slices.Clip(chains), dc)
	}
	for i, ch := range chains {
		fc, clusters, err := summarizeChain(ch)
		if err != nil {
			return out, fmt.Errorf("listener %s: filter chain %d: %w", out.Name, i, err)
		}
		for _, c := range clusters {
			if !slices.Contains(out.TCPProxyClusters, c) {
				out.TCPProxyClusters = append(out.TCPProxyClusters, c)
			}
		}
		if i < named {
			out.Chains = append(out.Chains, fc)
		}
	}
	return out, nil
}

// summarizeChain summarises a chain and lists its tcp_proxy clusters.
// A filter whose typed config the tolerant reader kept opaque (an
// unknown type) counts by name only.
func summarizeChain(ch *listener.FilterChain) (FilterChain, []string, error) {
	out := FilterChain{
		Name:              ch.GetName(),
		DestinationPort:   int(ch.GetFilterChainMatch().GetDestinationPort().GetValue()),
		TransportProtocol: ch.GetFilterChainMatch().GetTransportProtocol(),
		TerminatesTLS:     strings.HasSuffix(ch.GetTransportSocket().GetName(), ".tls"),
	}
	var clusters []string
	for _, f := range ch.GetFilters() {
		out.Filters = append(out.Filters, f.GetName())
		switch {
		case envoy.NetworkFilterName(f) == wellknown.TCPProxy && f.GetTypedConfig().MessageIs(&tcpproxy.TcpProxy{}):
			tp := &tcpproxy.TcpProxy{}
			if err := f.GetTypedConfig().UnmarshalTo(tp); err != nil {
				return out, nil, fmt.Errorf("decoding %s: %w", f.GetName(), err)
			}
			if c := tp.GetCluster(); c != "" {
				clusters = append(clusters, c)
			}
		case envoy.IsNetworkRBAC(f):
			action := "ALLOW" // the proto default
			r := &rbac.RBAC{}
			if f.GetTypedConfig().MessageIs(r) {
				if err := f.GetTypedConfig().UnmarshalTo(r); err != nil {
					return out, nil, fmt.Errorf("decoding %s: %w", f.GetName(), err)
				}
				if rules := r.GetRules(); rules != nil {
					action = rules.GetAction().String()
				}
			}
			out.RBAC = append(out.RBAC, action)
		}
	}
	return out, clusters, nil
}

func summarizeCluster(c *cluster.Cluster) Cluster {
	out := Cluster{Name: c.GetName(), TransportSocket: c.GetTransportSocket().GetName()}
	for _, m := range c.GetTransportSocketMatches() {
		out.Matches = append(out.Matches, m.GetName())
	}
	return out
}
