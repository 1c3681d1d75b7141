// Package configdump reads the parts of an Envoy admin /config_dump that say
// whether a sidecar has caught up with the mesh: listener names and their
// listener filters and listener_filters_timeout, the clusters a listener's
// tcp_proxy filters send to, and the cluster names.
//
// It reads the JSON generically rather than through Envoy's protobuf types:
// a live sidecar's dump carries typed configs of every extension its Envoy
// build has, and waiting for a listener must not depend on this binary
// knowing all of them. (predict.ReadConfigDump decodes the full dump for
// explain traces.)
package configdump

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
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
	// FiltersTimeout is listener_filters_timeout; nil when the listener
	// does not set it (Envoy's default then applies).
	FiltersTimeout *time.Duration
	// TCPProxyClusters are the clusters tcp_proxy filters of the listener's
	// filter chains (and default chain) send to.
	TCPProxyClusters []string
	// Chains are the filter chains (not the default chain).
	Chains []FilterChain
}

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

// Inspects reports whether a listener filter whose name ends with suffix
// (http_inspector, tls_inspector) is present.
func (l Listener) Inspects(suffix string) bool {
	return slices.ContainsFunc(l.ListenerFilters, func(f string) bool { return strings.HasSuffix(f, suffix) })
}

// Sniffs reports whether the listener waits for client bytes to classify
// the connection (http_inspector or tls_inspector).
func (l Listener) Sniffs() bool { return l.Inspects("http_inspector") || l.Inspects("tls_inspector") }

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
// camelCase is accepted too). source names the dump in errors.
func Parse(data []byte, source string) (*Dump, error) {
	var root struct {
		Configs []map[string]json.RawMessage `json:"configs"`
	}
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("config dump %s is not JSON: %w (fetch it with: pilot-agent request GET config_dump?include_eds)", source, err)
	}
	if len(root.Configs) == 0 {
		return nil, fmt.Errorf("config dump %s has no configs: is it the output of Envoy's /config_dump?", source)
	}
	d := &Dump{}
	for i, c := range root.Configs {
		var typ string
		_ = json.Unmarshal(c["@type"], &typ)
		var err error
		switch {
		case strings.HasSuffix(typ, ".ListenersConfigDump"):
			err = d.addListeners(c)
		case strings.HasSuffix(typ, ".ClustersConfigDump"):
			err = d.addClusters(c)
		}
		if err != nil {
			return nil, fmt.Errorf("config dump %s, configs[%d] (%s): %w", source, i, typ, err)
		}
	}
	return d, nil
}

// field returns the first present key among snake_case and camelCase
// spellings.
func field(m map[string]json.RawMessage, names ...string) json.RawMessage {
	for _, n := range names {
		if v, ok := m[n]; ok {
			return v
		}
	}
	return nil
}

func (d *Dump) addListeners(c map[string]json.RawMessage) error {
	var static []struct {
		Listener json.RawMessage `json:"listener"`
	}
	if raw := field(c, "static_listeners", "staticListeners"); raw != nil {
		if err := json.Unmarshal(raw, &static); err != nil {
			return fmt.Errorf("static_listeners: %w", err)
		}
	}
	for _, s := range static {
		if err := d.addListener(s.Listener); err != nil {
			return err
		}
	}
	var dynamic []map[string]json.RawMessage
	if raw := field(c, "dynamic_listeners", "dynamicListeners"); raw != nil {
		if err := json.Unmarshal(raw, &dynamic); err != nil {
			return fmt.Errorf("dynamic_listeners: %w", err)
		}
	}
	for _, dl := range dynamic {
		state := field(dl, "active_state", "activeState")
		if state == nil {
			continue // warming or draining only: not serving yet
		}
		var s map[string]json.RawMessage
		if err := json.Unmarshal(state, &s); err != nil {
			return fmt.Errorf("active_state: %w", err)
		}
		if err := d.addListener(s["listener"]); err != nil {
			return err
		}
	}
	return nil
}

type socketAddress struct {
	Address   string          `json:"address"`
	PortValue json.RawMessage `json:"port_value"`
	PortCamel json.RawMessage `json:"portValue"`
}

func (d *Dump) addListener(raw json.RawMessage) error {
	if raw == nil {
		return nil
	}
	var l map[string]json.RawMessage
	if err := json.Unmarshal(raw, &l); err != nil {
		return fmt.Errorf("listener: %w", err)
	}
	out := Listener{}
	_ = json.Unmarshal(l["name"], &out.Name)
	var addr map[string]socketAddress
	if a := l["address"]; a != nil && json.Unmarshal(a, &addr) == nil {
		sa := addr["socket_address"]
		if sa.Address == "" {
			sa = addr["socketAddress"]
		}
		out.Address = sa.Address
		port := sa.PortValue
		if port == nil {
			port = sa.PortCamel
		}
		out.Port, _ = strconv.Atoi(strings.Trim(string(port), `"`))
	}
	var filters []struct {
		Name string `json:"name"`
	}
	if f := field(l, "listener_filters", "listenerFilters"); f != nil {
		if err := json.Unmarshal(f, &filters); err != nil {
			return fmt.Errorf("listener %s: listener_filters: %w", out.Name, err)
		}
	}
	for _, f := range filters {
		out.ListenerFilters = append(out.ListenerFilters, f.Name)
	}
	if t := field(l, "listener_filters_timeout", "listenerFiltersTimeout"); t != nil {
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return fmt.Errorf("listener %s: listener_filters_timeout: %w", out.Name, err)
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("listener %s: listener_filters_timeout %q: %w", out.Name, s, err)
		}
		out.FiltersTimeout = &dur
	}
	var chains []json.RawMessage
	if fc := field(l, "filter_chains", "filterChains"); fc != nil {
		if err := json.Unmarshal(fc, &chains); err != nil {
			return fmt.Errorf("listener %s: filter_chains: %w", out.Name, err)
		}
	}
	named := len(chains)
	if dc := field(l, "default_filter_chain", "defaultFilterChain"); dc != nil {
		chains = append(chains, dc)
	}
	for i, ch := range chains {
		fc, err := parseChain(ch)
		if err != nil {
			return fmt.Errorf("listener %s: filter chain %d: %w", out.Name, i, err)
		}
		for _, c := range fc.clusters {
			if !slices.Contains(out.TCPProxyClusters, c) {
				out.TCPProxyClusters = append(out.TCPProxyClusters, c)
			}
		}
		if i < named {
			out.Chains = append(out.Chains, fc.FilterChain)
		}
	}
	d.Listeners = append(d.Listeners, out)
	return nil
}

type parsedChain struct {
	FilterChain
	clusters []string
}

func parseChain(raw json.RawMessage) (parsedChain, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return parsedChain{}, err
	}
	var out parsedChain
	_ = json.Unmarshal(m["name"], &out.Name)
	if match := field(m, "filter_chain_match", "filterChainMatch"); match != nil {
		var fm map[string]json.RawMessage
		if err := json.Unmarshal(match, &fm); err != nil {
			return out, fmt.Errorf("filter_chain_match: %w", err)
		}
		if p := field(fm, "destination_port", "destinationPort"); p != nil {
			out.DestinationPort, _ = strconv.Atoi(strings.Trim(string(p), `"`))
		}
		_ = json.Unmarshal(field(fm, "transport_protocol", "transportProtocol"), &out.TransportProtocol)
	}
	if ts := field(m, "transport_socket", "transportSocket"); ts != nil {
		var sock struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(ts, &sock)
		out.TerminatesTLS = strings.HasSuffix(sock.Name, ".tls")
	}
	var filters []struct {
		Name        string                     `json:"name"`
		TypedConfig map[string]json.RawMessage `json:"typed_config"`
		TypedCamel  map[string]json.RawMessage `json:"typedConfig"`
	}
	if f := m["filters"]; f != nil {
		if err := json.Unmarshal(f, &filters); err != nil {
			return out, fmt.Errorf("filters: %w", err)
		}
	}
	for _, f := range filters {
		out.Filters = append(out.Filters, f.Name)
		tc := f.TypedConfig
		if tc == nil {
			tc = f.TypedCamel
		}
		switch {
		case strings.HasSuffix(f.Name, "tcp_proxy"):
			var cluster string
			if json.Unmarshal(tc["cluster"], &cluster) == nil && cluster != "" {
				out.clusters = append(out.clusters, cluster)
			}
		case strings.HasSuffix(f.Name, "rbac"):
			var rbac struct {
				Rules *struct {
					Action string `json:"action"`
				} `json:"rules"`
			}
			_ = json.Unmarshal(mustJSON(tc), &rbac)
			action := "ALLOW" // the proto default
			if rbac.Rules != nil && rbac.Rules.Action != "" {
				action = rbac.Rules.Action
			}
			out.RBAC = append(out.RBAC, action)
		}
	}
	return out, nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func (d *Dump) addClusters(c map[string]json.RawMessage) error {
	for _, key := range [][]string{{"static_clusters", "staticClusters"}, {"dynamic_active_clusters", "dynamicActiveClusters"}} {
		raw := field(c, key...)
		if raw == nil {
			continue
		}
		var list []struct {
			Cluster map[string]json.RawMessage `json:"cluster"`
		}
		if err := json.Unmarshal(raw, &list); err != nil {
			return fmt.Errorf("%s: %w", key[0], err)
		}
		for _, cl := range list {
			var c Cluster
			_ = json.Unmarshal(cl.Cluster["name"], &c.Name)
			if c.Name == "" {
				continue
			}
			var sock struct {
				Name string `json:"name"`
			}
			if ts := field(cl.Cluster, "transport_socket", "transportSocket"); ts != nil && json.Unmarshal(ts, &sock) == nil {
				c.TransportSocket = sock.Name
			}
			var matches []struct {
				Name string `json:"name"`
			}
			if ms := field(cl.Cluster, "transport_socket_matches", "transportSocketMatches"); ms != nil && json.Unmarshal(ms, &matches) == nil {
				for _, m := range matches {
					c.Matches = append(c.Matches, m.Name)
				}
			}
			d.Clusters = append(d.Clusters, c)
		}
	}
	return nil
}
