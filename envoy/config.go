package envoy

import (
	"fmt"
	"sync"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"istio.io/istio/pilot/pkg/simulation"
)

// Config is one sidecar's Envoy configuration as data: what Istio's
// generator built for it, or what a live sidecar's /config_dump shows.
// The evaluator reads it and never changes it, so one Config may
// serve many evaluations at once.
type Config struct {
	Listeners []*listener.Listener
	Clusters  []*cluster.Cluster
	Routes    []*route.RouteConfiguration
	// Endpoints are the EDS load assignments. EndpointsKnown is false when
	// the source did not include them (a config_dump taken without
	// ?include_eds), so an EDS cluster's endpoints are unknown.
	Endpoints      []*endpoint.ClusterLoadAssignment
	EndpointsKnown bool
	// Source says where the configuration came from, for explain traces.
	Source string
	// Notes are caveats about the source, such as config_dump types this
	// binary could not decode.
	Notes []string
	// NameTable is the DNS name table istiod sends alongside to the
	// sidecar's agent (NDS), host → addresses; nil where the source has
	// none (a config_dump).
	NameTable map[string][]string

	simOnce sync.Once
	sim     *simulation.Simulation
	// chainNames maps the names the simulation sees back to the names in
	// the configuration (see simulation()).
	chainNames map[string]string
	// listenerIx, clusterIx and endpointIx find Listener, Cluster and
	// LoadAssignment by name (index.go).
	listenerIx, clusterIx, endpointIx nameIndex
	// portSims and simListenerIx serve outbound calls and Chain from
	// the simulation's listeners without scanning them all (index.go).
	portSims      portSimulations
	simListenerIx nameIndex
}

// Simulation returns Istio's traffic simulation over this configuration.
//
// Envoy does not require filter chains to be named, and Istio leaves the
// default chain of a Service's listener unnamed, but the simulation
// reports the chain it matched by name only. It therefore runs on a copy
// whose every chain has a unique name; chainNames maps those back.
//
// The Simulation is built as a literal rather than with
// simulation.NewSimulation, which wants a *testing.T and a live generator:
// the evaluator must also read a config_dump. The simulation uses its
// *testing.T only to fail on malformed configuration; run() turns that
// into an error.
func (c *Config) Simulation() (*simulation.Simulation, map[string]string) {
	c.simOnce.Do(func() {
		c.chainNames = map[string]string{}
		ls := make([]*listener.Listener, len(c.Listeners))
		for i, l := range c.Listeners {
			l = proto.Clone(l).(*listener.Listener)
			for j, fc := range l.FilterChains {
				c.chainNames[uniqueChainName(l, j, fc)] = fc.GetName()
				fc.Name = uniqueChainName(l, j, fc)
			}
			if fc := l.DefaultFilterChain; fc != nil {
				c.chainNames[uniqueChainName(l, -1, fc)] = fc.GetName()
				fc.Name = uniqueChainName(l, -1, fc)
			}
			ls[i] = l
		}
		c.sim = &simulation.Simulation{Listeners: ls, Clusters: c.Clusters, Routes: c.Routes}
	})
	return c.sim, c.chainNames
}

func uniqueChainName(l *listener.Listener, i int, fc *listener.FilterChain) string {
	if i < 0 {
		return fmt.Sprintf("%s#default:%s", l.GetName(), fc.GetName())
	}
	return fmt.Sprintf("%s#%d:%s", l.GetName(), i, fc.GetName())
}

// ChainLabel is how traces name a chain: its name, or its position when
// it has none.
func ChainLabel(simName string, names map[string]string, l *listener.Listener) string {
	if n := names[simName]; n != "" {
		return n
	}
	for i, fc := range l.GetFilterChains() {
		if uniqueChainName(l, i, fc) == simName {
			return fmt.Sprintf("filterChains[%d] (unnamed)", i)
		}
	}
	return "defaultFilterChain (unnamed)"
}

// Listener returns the listener with the given name.
func (c *Config) Listener(name string) *listener.Listener {
	l, _ := findNamed(&c.listenerIx, c.Listeners, name, (*listener.Listener).GetName)
	return l
}

// Chain returns the filter chain the simulation matched, from the
// simulation's copy of the listener.
func (c *Config) Chain(listenerName, simChain string) *listener.FilterChain {
	sim, _ := c.Simulation()
	if l, ok := findNamed(&c.simListenerIx, sim.Listeners, listenerName, (*listener.Listener).GetName); ok {
		for _, fc := range l.FilterChains {
			if fc.GetName() == simChain {
				return fc
			}
		}
		if l.DefaultFilterChain.GetName() == simChain {
			return l.DefaultFilterChain
		}
	}
	return nil
}

func (c *Config) Cluster(name string) *cluster.Cluster {
	cl, _ := findNamed(&c.clusterIx, c.Clusters, name, (*cluster.Cluster).GetName)
	return cl
}

// LoadAssignment returns the EDS assignment for an EDS cluster.
func (c *Config) LoadAssignment(cl *cluster.Cluster) *endpoint.ClusterLoadAssignment {
	name := cl.GetEdsClusterConfig().GetServiceName()
	if name == "" {
		name = cl.GetName()
	}
	a, _ := findNamed(&c.endpointIx, c.Endpoints, name, (*endpoint.ClusterLoadAssignment).GetClusterName)
	return a
}
