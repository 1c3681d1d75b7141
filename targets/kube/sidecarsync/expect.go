package sidecarsync

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/firstbyte/firstbyte/envoy/configdump"
)

// Condition is one thing the sidecar's configuration must show.
type Condition struct {
	// What says what must hold, for plans, progress and errors.
	What string
	// Check reports whether the dump shows it and, when not, what it
	// shows instead.
	Check func(*configdump.Dump) (ok bool, seen string)
}

// virtualOutbound is the listener every outbound connection of a sidecar
// in REDIRECT mode arrives on.
const virtualOutbound = "virtualOutbound"

// Expect derives the client sidecar's conditions from the expected dump
// (Istio's generator's output for the state), in a stable order: the
// run's clusters are exactly the expected ones and connect the same way;
// the run's listeners are exactly the expected ones and inspect and time
// out the same way; virtualOutbound sends unmatched traffic where the
// expected one does.
func Expect(want *configdump.Dump, s Scope) []Condition {
	conds := []Condition{clustersCondition(want, s)}
	for _, c := range want.Clusters {
		if s.ownsCluster(c.Name) {
			conds = append(conds, clusterTLSCondition(c))
		}
	}
	conds = append(conds, listenersCondition(want, s))
	for _, l := range want.Listeners {
		if s.ownsListener(l.Address, l.Port) {
			conds = append(conds, listenerCondition(l))
		}
	}
	if l, ok := want.Listener(virtualOutbound); ok {
		// virtualOutbound's own listener filters (ALLOW_ANY_DYNAMIC_DNS
		// adds an http_inspector) change with a mesh-wide mode: wait
		// for them too, or a probe could meet the previous mode.
		conds = append(conds, listenerCondition(l), passthroughCondition(l))
	}
	return conds
}

func clustersCondition(want *configdump.Dump, s Scope) Condition {
	owned := func(d *configdump.Dump) []string {
		var names []string
		for _, n := range d.ClusterNames() {
			if s.ownsCluster(n) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		return slices.Compact(names)
	}
	names := owned(want)
	what := "clusters of the run's services are exactly [" + strings.Join(names, " ") + "]"
	if len(names) == 0 {
		what = "no cluster for the run's services"
	}
	return Condition{What: what, Check: func(d *configdump.Dump) (bool, string) {
		got := owned(d)
		return slices.Equal(got, names), "clusters [" + strings.Join(got, " ") + "]"
	}}
}

func clusterTLSCondition(want configdump.Cluster) Condition {
	return Condition{What: fmt.Sprintf("cluster %s connects %s", want.Name, want.TLS()), Check: func(d *configdump.Dump) (bool, string) {
		c, ok := d.Cluster(want.Name)
		if !ok {
			return false, "no such cluster"
		}
		return c.TLS() == want.TLS(), "it connects " + c.TLS()
	}}
}

// listenersCondition: the live sidecar has no listener of the run that
// the expected state lacks (a remediation's, after a revert), except a
// wildcard listener a foreign Service's port explains.
func listenersCondition(want *configdump.Dump, s Scope) Condition {
	var names []string
	for _, l := range want.Listeners {
		if s.ownsListener(l.Address, l.Port) {
			names = append(names, l.Name)
		}
	}
	sort.Strings(names)
	return Condition{
		What: "no listener of the run's addresses and ports beyond [" + strings.Join(names, " ") + "]",
		Check: func(d *configdump.Dump) (bool, string) {
			var extra []string
			for _, l := range d.Listeners {
				if s.ownsListener(l.Address, l.Port) && !slices.Contains(names, l.Name) && !s.mayStay(l.Address, l.Port) {
					extra = append(extra, l.Name)
				}
			}
			return len(extra) == 0, "extra listeners [" + strings.Join(extra, " ") + "]"
		},
	}
}

// inspection is what decides whether a listener waits for client bytes
// and for how long: the listener filters that wait (the envoy model's
// classification) and the timeout Envoy applies to them.
func inspection(l configdump.Listener) string {
	if !l.Waits() {
		return "no listener filter waits for client bytes"
	}
	var inspectors []string
	for _, f := range l.Waiting {
		inspectors = append(inspectors, strings.TrimPrefix(f, "envoy.filters.listener."))
	}
	return fmt.Sprintf("%s, listener_filters_timeout %s", strings.Join(inspectors, "+"), l.Timeout())
}

func listenerCondition(want configdump.Listener) Condition {
	w := inspection(want)
	return Condition{What: fmt.Sprintf("listener %s present (%s)", want.Name, w), Check: func(d *configdump.Dump) (bool, string) {
		l, ok := d.Listener(want.Name)
		if !ok {
			return false, "listeners [" + strings.Join(d.ListenerNames(), " ") + "]"
		}
		got := inspection(l)
		return got == w, got
	}}
}

func passthroughCondition(want configdump.Listener) Condition {
	passes := slices.Contains(want.TCPProxyClusters, "PassthroughCluster")
	what := "virtualOutbound passes unmatched traffic to PassthroughCluster"
	if !passes {
		what = "virtualOutbound does not pass unmatched traffic to PassthroughCluster"
	}
	return Condition{What: what, Check: func(d *configdump.Dump) (bool, string) {
		l, ok := d.Listener(virtualOutbound)
		if !ok {
			return false, "no virtualOutbound listener yet"
		}
		return slices.Contains(l.TCPProxyClusters, "PassthroughCluster") == passes,
			"virtualOutbound clusters [" + strings.Join(l.TCPProxyClusters, " ") + "]"
	}}
}

// virtualInbound is the listener every inbound connection of a sidecar in
// REDIRECT mode arrives on.
const virtualInbound = "virtualInbound"

// inboundSide is what decides a port's inbound side: whether its chains
// accept mTLS and plaintext, and the actions of their rbac filters.
func inboundSide(d *configdump.Dump, port int) string {
	vi, ok := d.Listener(virtualInbound)
	if !ok {
		return "no virtualInbound listener"
	}
	chains := vi.ChainsFor(port)
	if len(chains) == 0 {
		return fmt.Sprintf("no virtualInbound chain for port %d", port)
	}
	var mtls, plain bool
	var rbac []string
	for _, c := range chains {
		mtls = mtls || c.TerminatesTLS
		plain = plain || c.TransportProtocol == "raw_buffer"
		rbac = append(rbac, c.RBAC...)
	}
	sort.Strings(rbac)
	return fmt.Sprintf("port %d: mTLS %v, plaintext %v, rbac [%s]", port, mtls, plain, strings.Join(slices.Compact(rbac), " "))
}

// ExpectServer derives the server sidecar's conditions from its expected
// dump: virtualInbound's chains for the port accept the same transports
// and carry the same authorization actions. Nil when the server has no
// sidecar (want is nil).
func ExpectServer(want *configdump.Dump, port int) []Condition {
	if want == nil {
		return nil
	}
	w := inboundSide(want, port)
	return []Condition{{What: "virtualInbound " + w, Check: func(d *configdump.Dump) (bool, string) {
		got := inboundSide(d, port)
		return got == w, got
	}}}
}

// Describe lists the conditions' descriptions.
func Describe(conds []Condition) []string {
	out := make([]string, len(conds))
	for i, c := range conds {
		out[i] = c.What
	}
	return out
}
