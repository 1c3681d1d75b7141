package envoy

import (
	"slices"
	"sync"
	"sync/atomic"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"istio.io/istio/pilot/pkg/simulation"
)

// nameIndex finds a resource by name in one of a Config's slices without
// scanning it: a mesh's sidecar holds tens of thousands of clusters, and
// analyze looks one up for every listener it walks, so a scan per lookup
// made a scope's walk quadratic in its Services. The index is built on
// first use and rebuilt when the slice's length changes; a hit is
// checked against the slice and a miss falls back to the scan, so a
// Config changed after a lookup still answers as the scan would.
type nameIndex struct {
	p atomic.Pointer[namePositions]
}

type namePositions struct {
	n   int
	pos map[string]int
}

// findNamed returns the first element of s named name, or the zero value.
func findNamed[T any](ix *nameIndex, s []T, name string, nameOf func(T) string) (T, bool) {
	p := ix.p.Load()
	if p == nil || p.n != len(s) {
		p = &namePositions{n: len(s), pos: make(map[string]int, len(s))}
		for i, e := range s {
			if _, dup := p.pos[nameOf(e)]; !dup {
				p.pos[nameOf(e)] = i
			}
		}
		ix.p.Store(p)
	}
	if i, ok := p.pos[name]; ok && i < len(s) && nameOf(s[i]) == name {
		return s[i], true
	}
	for _, e := range s {
		if nameOf(e) == name {
			return e, true
		}
	}
	var zero T
	return zero, false
}

// portSimulations are Istio's traffic simulation over the listeners an
// outbound call to each port can match. The simulation matches a call's
// listener by scanning every listener (pilot/pkg/simulation/traffic.go,
// matchListener: the exact address and port, then 0.0.0.0 on the port,
// then virtualOutbound by name), so on a sidecar with a listener per
// Service port each call cost a scan of thousands. Only listeners bound
// to the call's port, and those bound to no port of a destination
// (virtualOutbound, which use_original_dst hands on, virtualInbound,
// internal listeners), can match; each port's simulation holds those, in
// the configuration's order, and the same clusters and routes.
type portSimulations struct {
	once   sync.Once
	byPort map[uint32]*simulation.Simulation
	// shared holds the listeners every port's simulation keeps.
	shared *simulation.Simulation
}

// outboundSimulation is the simulation an outbound call to port runs on.
func (c *Config) outboundSimulation(port uint32) *simulation.Simulation {
	sim, _ := c.Simulation()
	ps := &c.portSims
	ps.once.Do(func() {
		ps.byPort = map[uint32]*simulation.Simulation{}
		var shared []*listener.Listener
		for _, l := range sim.Listeners {
			sa := l.GetAddress().GetSocketAddress()
			if sa == nil || l.GetUseOriginalDst().GetValue() || l.GetName() == "virtualOutbound" || l.GetName() == "virtualInbound" {
				shared = append(shared, l)
				for _, s := range ps.byPort {
					s.Listeners = append(s.Listeners, l)
				}
				continue
			}
			s, ok := ps.byPort[sa.GetPortValue()]
			if !ok {
				s = &simulation.Simulation{Listeners: slices.Clone(shared), Clusters: sim.Clusters, Routes: sim.Routes}
				ps.byPort[sa.GetPortValue()] = s
			}
			s.Listeners = append(s.Listeners, l)
		}
		ps.shared = &simulation.Simulation{Listeners: shared, Clusters: sim.Clusters, Routes: sim.Routes}
	})
	if s, ok := ps.byPort[port]; ok {
		return s
	}
	return ps.shared
}
