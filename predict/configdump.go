package predict

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	// Envoy's type registry: every extension's config type, so a live
	// sidecar's typed configs decode (Istio keeps the list generated).
	_ "istio.io/istio/pkg/config/xds"
)

// ReadConfigDumpFile reads an Envoy admin /config_dump JSON file.
func ReadConfigDumpFile(path string) (*EnvoyConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config dump: %w", err)
	}
	return ReadConfigDump(data, path)
}

// ReadConfigDump decodes Envoy's admin /config_dump output (with or
// without ?include_eds): the listeners, clusters, routes and endpoints.
// source names the dump in traces.
//
// A live sidecar's dump may carry typed configs of extensions this binary
// does not link (another Envoy build, a Wasm plugin's config). protojson
// refuses an Any it cannot resolve, so those are kept as opaque
// google.protobuf.Struct values and listed in Notes; none of them decides
// a listener, chain or cluster. Unknown fields are ignored for the same
// reason: a newer Envoy must still be explainable.
func ReadConfigDump(data []byte, source string) (*EnvoyConfig, error) {
	var tree any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("config dump %s is not JSON: %w (save it with curl localhost:15000/config_dump)", source, err)
	}
	unknown := map[string]bool{}
	tree = opaqueUnknownTypes(tree, unknown)
	clean, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("config dump %s: %w", source, err)
	}
	dump := &adminv3.ConfigDump{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(clean, dump); err != nil {
		return nil, fmt.Errorf("config dump %s is not an Envoy admin config dump: %w", source, err)
	}
	cfg := &EnvoyConfig{Source: "config_dump " + source}
	for _, a := range dump.GetConfigs() {
		if err := cfg.addDumpSection(a); err != nil {
			return nil, fmt.Errorf("config dump %s: %w", source, err)
		}
	}
	if len(cfg.Listeners) == 0 {
		return nil, fmt.Errorf("config dump %s holds no listeners: is it the /config_dump of an Envoy sidecar?", source)
	}
	if len(unknown) > 0 {
		types := make([]string, 0, len(unknown))
		for t := range unknown {
			types = append(types, t)
		}
		sort.Strings(types)
		cfg.Notes = append(cfg.Notes, fmt.Sprintf("typed configs this binary cannot decode were kept opaque (they decide no listener, chain or cluster): %v", types))
	}
	if !cfg.EndpointsKnown {
		cfg.Notes = append(cfg.Notes, "the dump has no endpoints (taken without ?include_eds): EDS clusters are assumed to have endpoints")
	}
	return cfg, nil
}

// opaqueUnknownTypes replaces every Any whose type the registry cannot
// resolve with a Struct holding the same JSON.
func opaqueUnknownTypes(v any, unknown map[string]bool) any {
	switch x := v.(type) {
	case map[string]any:
		if url, ok := x["@type"].(string); ok {
			if _, err := protoregistry.GlobalTypes.FindMessageByURL(url); err != nil {
				unknown[url] = true
				body := map[string]any{}
				for k, val := range x {
					if k != "@type" {
						body[k] = val
					}
				}
				body["original_type"] = url
				return map[string]any{"@type": "type.googleapis.com/google.protobuf.Struct", "value": body}
			}
		}
		for k, val := range x {
			x[k] = opaqueUnknownTypes(val, unknown)
		}
	case []any:
		for i, val := range x {
			x[i] = opaqueUnknownTypes(val, unknown)
		}
	}
	return v
}

func (c *EnvoyConfig) addDumpSection(a *anypb.Any) error {
	msg, err := a.UnmarshalNew()
	if err != nil {
		return fmt.Errorf("section %s: %w", a.GetTypeUrl(), err)
	}
	var unpackErr error
	unpack := func(x *anypb.Any, into proto.Message) bool {
		if x == nil || unpackErr != nil {
			return false
		}
		if err := x.UnmarshalTo(into); err != nil {
			unpackErr = fmt.Errorf("%s: %w", x.GetTypeUrl(), err)
			return false
		}
		return true
	}
	switch d := msg.(type) {
	case *adminv3.ListenersConfigDump:
		for _, s := range d.GetStaticListeners() {
			if l := (&listener.Listener{}); unpack(s.GetListener(), l) {
				c.Listeners = append(c.Listeners, l)
			}
		}
		for _, s := range d.GetDynamicListeners() {
			if l := (&listener.Listener{}); unpack(s.GetActiveState().GetListener(), l) {
				c.Listeners = append(c.Listeners, l)
			} else if s.GetWarmingState() != nil {
				c.Notes = append(c.Notes, fmt.Sprintf("listener %s is still warming: not active, left out", s.GetName()))
			}
		}
	case *adminv3.ClustersConfigDump:
		for _, s := range d.GetStaticClusters() {
			if cl := (&cluster.Cluster{}); unpack(s.GetCluster(), cl) {
				c.Clusters = append(c.Clusters, cl)
			}
		}
		for _, s := range d.GetDynamicActiveClusters() {
			if cl := (&cluster.Cluster{}); unpack(s.GetCluster(), cl) {
				c.Clusters = append(c.Clusters, cl)
			}
		}
	case *adminv3.RoutesConfigDump:
		for _, s := range d.GetStaticRouteConfigs() {
			if r := (&route.RouteConfiguration{}); unpack(s.GetRouteConfig(), r) {
				c.Routes = append(c.Routes, r)
			}
		}
		for _, s := range d.GetDynamicRouteConfigs() {
			if r := (&route.RouteConfiguration{}); unpack(s.GetRouteConfig(), r) {
				c.Routes = append(c.Routes, r)
			}
		}
	case *adminv3.EndpointsConfigDump:
		c.EndpointsKnown = true
		for _, s := range d.GetStaticEndpointConfigs() {
			if e := (&endpoint.ClusterLoadAssignment{}); unpack(s.GetEndpointConfig(), e) {
				c.Endpoints = append(c.Endpoints, e)
			}
		}
		for _, s := range d.GetDynamicEndpointConfigs() {
			if e := (&endpoint.ClusterLoadAssignment{}); unpack(s.GetEndpointConfig(), e) {
				c.Endpoints = append(c.Endpoints, e)
			}
		}
	}
	return unpackErr
}

// dumpTime stamps generated dumps; fixed so checked-in samples are stable.
var dumpTime = timestamppb.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

// ConfigDump renders the configuration in the shape of Envoy's admin
// /config_dump?include_eds (snake_case JSON, as Envoy prints it): every
// listener, cluster, route and endpoint as delivered over xDS.
func (c *EnvoyConfig) ConfigDump() ([]byte, error) {
	const version = "predict"
	ls := &adminv3.ListenersConfigDump{VersionInfo: version}
	for _, l := range c.Listeners {
		a, err := anypb.New(l)
		if err != nil {
			return nil, err
		}
		ls.DynamicListeners = append(ls.DynamicListeners, &adminv3.ListenersConfigDump_DynamicListener{
			Name: l.GetName(),
			ActiveState: &adminv3.ListenersConfigDump_DynamicListenerState{
				VersionInfo: version, Listener: a, LastUpdated: dumpTime,
			},
		})
	}
	cs := &adminv3.ClustersConfigDump{VersionInfo: version}
	for _, cl := range c.Clusters {
		a, err := anypb.New(cl)
		if err != nil {
			return nil, err
		}
		cs.DynamicActiveClusters = append(cs.DynamicActiveClusters, &adminv3.ClustersConfigDump_DynamicCluster{
			VersionInfo: version, Cluster: a, LastUpdated: dumpTime,
		})
	}
	rs := &adminv3.RoutesConfigDump{}
	for _, r := range c.Routes {
		a, err := anypb.New(r)
		if err != nil {
			return nil, err
		}
		rs.DynamicRouteConfigs = append(rs.DynamicRouteConfigs, &adminv3.RoutesConfigDump_DynamicRouteConfig{
			VersionInfo: version, RouteConfig: a, LastUpdated: dumpTime,
		})
	}
	sections := []proto.Message{cs}
	if c.EndpointsKnown {
		es := &adminv3.EndpointsConfigDump{}
		for _, e := range c.Endpoints {
			a, err := anypb.New(e)
			if err != nil {
				return nil, err
			}
			es.DynamicEndpointConfigs = append(es.DynamicEndpointConfigs, &adminv3.EndpointsConfigDump_DynamicEndpointConfig{
				VersionInfo: version, EndpointConfig: a, LastUpdated: dumpTime,
			})
		}
		sections = append(sections, es)
	}
	sections = append(sections, ls, rs)
	dump := &adminv3.ConfigDump{}
	for _, s := range sections {
		a, err := anypb.New(s)
		if err != nil {
			return nil, err
		}
		dump.Configs = append(dump.Configs, a)
	}
	out, err := protojson.MarshalOptions{Multiline: true, Indent: " ", UseProtoNames: true}.Marshal(dump)
	if err != nil {
		return nil, fmt.Errorf("rendering config dump: %w", err)
	}
	// protojson randomises its whitespace to keep callers from depending on
	// it; re-indent so a checked-in dump is byte-stable.
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(compact(out)), "", " "); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}
