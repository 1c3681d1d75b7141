package envoy

import (
	"bytes"
	"encoding/json"
	"errors"
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
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	// Envoy's type registry: every extension's config type, so a live
	// sidecar's typed configs decode (Istio keeps the list generated).
	_ "istio.io/istio/pkg/config/xds"
)

// DumpMode says what ReadConfigDump does with what it cannot read.
type DumpMode int

const (
	// Tolerant is for live sidecars. Their dump may carry typed configs of
	// extensions this binary does not link (another Envoy build, a Wasm
	// plugin's config): protojson refuses an Any it cannot resolve, so
	// those are kept as opaque google.protobuf.Struct values and listed in
	// Notes; none of them decides a listener, chain or cluster. An entry
	// that does not decode is left out and named in Notes, and unknown
	// fields are ignored: a newer Envoy must still be explainable, and
	// waiting for a listener must not depend on knowing every extension.
	Tolerant DumpMode = iota
	// Strict is for dumps this suite wrote itself (Config.ConfigDump of a
	// generated configuration): a typed config, field or entry it cannot
	// read is an error.
	Strict
)

// ReadConfigDumpFile reads an Envoy admin /config_dump JSON file.
func ReadConfigDumpFile(path string, mode DumpMode) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config dump: %w", err)
	}
	return ReadConfigDump(data, path, mode)
}

// ReadConfigDump decodes Envoy's admin /config_dump output (with or
// without ?include_eds): the listeners, clusters, routes and endpoints.
// source names the dump in traces and errors; mode says what to do with
// what this binary cannot read.
func ReadConfigDump(data []byte, source string, mode DumpMode) (*Config, error) {
	var tree any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("config dump %s is not JSON: %w (save it with curl localhost:15000/config_dump)", source, err)
	}
	unknown := map[string]bool{}
	var broken []string
	if mode == Tolerant {
		tree = opaqueUnknownTypes(tree, unknown, &broken)
	}
	clean, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("config dump %s: %w", source, err)
	}
	dump := &adminv3.ConfigDump{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: mode == Tolerant}).Unmarshal(clean, dump); err != nil {
		return nil, fmt.Errorf("config dump %s is not an Envoy admin config dump this binary reads: %w", source, err)
	}
	cfg := &Config{Source: "config_dump " + source}
	for _, a := range dump.GetConfigs() {
		if err := cfg.addDumpSection(a, mode); err != nil {
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
	for _, b := range broken {
		cfg.Notes = append(cfg.Notes, "could not read "+b+": left out")
	}
	if !cfg.EndpointsKnown {
		cfg.Notes = append(cfg.Notes, "the dump has no endpoints (taken without ?include_eds): EDS clusters are assumed to have endpoints")
	}
	return cfg, nil
}

// opaqueUnknownTypes replaces every Any whose type the registry cannot
// resolve, or whose body does not decode as that type (another Envoy's
// field shapes), with a Struct holding the same JSON. It works bottom-up,
// so one bad typed config costs only itself: the listener around it
// still decodes. Bodies that do not decode are listed in broken.
func opaqueUnknownTypes(v any, unknown map[string]bool, broken *[]string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			x[k] = opaqueUnknownTypes(val, unknown, broken)
		}
		url, ok := x["@type"].(string)
		if !ok {
			return x
		}
		mt, err := protoregistry.GlobalTypes.FindMessageByURL(url)
		if err != nil {
			unknown[url] = true
			return opaque(x, url)
		}
		if url == "type.googleapis.com/google.protobuf.Struct" {
			return x
		}
		body, err := json.Marshal(x)
		if err == nil {
			err = (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &anypb.Any{})
		}
		if err != nil {
			name, _ := x["name"].(string)
			*broken = append(*broken, fmt.Sprintf("%s %q: %v", mt.Descriptor().Name(), name, err))
			return opaque(x, url)
		}
	case []any:
		for i, val := range x {
			x[i] = opaqueUnknownTypes(val, unknown, broken)
		}
	}
	return v
}

func opaque(x map[string]any, url string) map[string]any {
	body := map[string]any{}
	for k, val := range x {
		if k != "@type" {
			body[k] = val
		}
	}
	body["original_type"] = url
	return map[string]any{"@type": "type.googleapis.com/google.protobuf.Struct", "value": body}
}

func (c *Config) addDumpSection(a *anypb.Any, mode DumpMode) (err error) {
	msg, err := a.UnmarshalNew()
	if err != nil {
		return fmt.Errorf("section %s: %w", a.GetTypeUrl(), err)
	}
	// Tolerant: an entry that does not decode (another Envoy's field
	// shapes) is left out and named, and the rest of the dump still
	// explains itself. Strict: it is an error.
	var errs []error
	unpack := func(kind, name string, x *anypb.Any, into proto.Message) bool {
		if x == nil || x.MessageIs(&structpb.Struct{}) { // opaque: already noted
			return false
		}
		if err := x.UnmarshalTo(into); err != nil {
			if mode == Strict {
				errs = append(errs, fmt.Errorf("%s %s: %w", kind, name, err))
				return false
			}
			c.Notes = append(c.Notes, fmt.Sprintf("%s %s could not be read (%v): left out", kind, name, err))
			return false
		}
		return true
	}
	defer func() {
		if err == nil {
			err = errors.Join(errs...)
		}
	}()
	switch d := msg.(type) {
	case *adminv3.ListenersConfigDump:
		for _, s := range d.GetStaticListeners() {
			if l := (&listener.Listener{}); unpack("static listener", "", s.GetListener(), l) {
				c.Listeners = append(c.Listeners, l)
			}
		}
		for _, s := range d.GetDynamicListeners() {
			if l := (&listener.Listener{}); unpack("listener", s.GetName(), s.GetActiveState().GetListener(), l) {
				c.Listeners = append(c.Listeners, l)
			} else if s.GetWarmingState() != nil {
				c.Notes = append(c.Notes, fmt.Sprintf("listener %s is still warming: not active, left out", s.GetName()))
			}
		}
	case *adminv3.ClustersConfigDump:
		for _, s := range d.GetStaticClusters() {
			if cl := (&cluster.Cluster{}); unpack("static cluster", "", s.GetCluster(), cl) {
				c.Clusters = append(c.Clusters, cl)
			}
		}
		for _, s := range d.GetDynamicActiveClusters() {
			if cl := (&cluster.Cluster{}); unpack("cluster", "", s.GetCluster(), cl) {
				c.Clusters = append(c.Clusters, cl)
			}
		}
	case *adminv3.RoutesConfigDump:
		for _, s := range d.GetStaticRouteConfigs() {
			if r := (&route.RouteConfiguration{}); unpack("static route configuration", "", s.GetRouteConfig(), r) {
				c.Routes = append(c.Routes, r)
			}
		}
		for _, s := range d.GetDynamicRouteConfigs() {
			if r := (&route.RouteConfiguration{}); unpack("route configuration", "", s.GetRouteConfig(), r) {
				c.Routes = append(c.Routes, r)
			}
		}
	case *adminv3.EndpointsConfigDump:
		c.EndpointsKnown = true
		for _, s := range d.GetStaticEndpointConfigs() {
			if e := (&endpoint.ClusterLoadAssignment{}); unpack("static endpoints", "", s.GetEndpointConfig(), e) {
				c.Endpoints = append(c.Endpoints, e)
			}
		}
		for _, s := range d.GetDynamicEndpointConfigs() {
			if e := (&endpoint.ClusterLoadAssignment{}); unpack("endpoints", "", s.GetEndpointConfig(), e) {
				c.Endpoints = append(c.Endpoints, e)
			}
		}
	case *adminv3.BootstrapConfigDump:
		if v := d.GetBootstrap().GetNode().GetUserAgentBuildVersion().GetVersion(); v != nil {
			c.Notes = append(c.Notes, fmt.Sprintf("dumped by Envoy %d.%d.%d; read with the Envoy API of go-control-plane (unknown fields ignored)", v.GetMajorNumber(), v.GetMinorNumber(), v.GetPatch()))
		}
	case *structpb.Struct:
		// opaqueUnknownTypes made it: a section this binary has no type for.
		c.Notes = append(c.Notes, fmt.Sprintf("config dump section %s is unknown to this binary: not read", d.GetFields()["original_type"].GetStringValue()))
	}
	return nil
}

// dumpTime stamps generated dumps; fixed so checked-in samples are stable.
var dumpTime = timestamppb.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

// ConfigDump renders the configuration in the shape of Envoy's admin
// /config_dump?include_eds (snake_case JSON, as Envoy prints it): every
// listener, cluster, route and endpoint as delivered over xDS.
func (c *Config) ConfigDump() ([]byte, error) {
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
