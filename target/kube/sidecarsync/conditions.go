package sidecarsync

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/target/kube/configdump"
)

// Condition is one thing the sidecar's configuration must show.
type Condition struct {
	// What says what must hold, for plans, progress and errors.
	What string
	// Check reports whether the dump shows it and, when not, what it
	// shows instead.
	Check func(*configdump.Dump) (ok bool, seen string)
}

// Expect derives the client sidecar's conditions for a state, in a stable
// order.
func Expect(s State) []Condition {
	var conds []Condition
	conds = append(conds, clustersCondition(s))
	conds = append(conds, tlsConditions(s)...)
	conds = append(conds, listenerConditions(s)...)
	conds = append(conds, timeoutCondition(s), policyCondition(s))
	return conds
}

// tlsConditions: a cluster whose host has a DestinationRule connects the
// way the rule says (ISTIO_MUTUAL: a TLS transport socket; DISABLE:
// plaintext, no auto mTLS).
func tlsConditions(s State) []Condition {
	var hosts []string
	for h := range s.DestinationRules {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	var conds []Condition
	for _, h := range hosts {
		want := map[string]string{"ISTIO_MUTUAL": "mutual", "DISABLE": "plaintext"}[s.DestinationRules[h]]
		if want == "" {
			continue
		}
		var names []string
		for _, svc := range s.Services {
			if svc.Host() == h && s.visible(svc.Namespace, h) {
				for _, p := range svc.Ports {
					names = append(names, clusterName(p.Number, h))
				}
			}
		}
		for _, n := range names {
			conds = append(conds, Condition{What: fmt.Sprintf("cluster %s connects %s (DestinationRule %s)", n, want, s.DestinationRules[h]), Check: func(d *configdump.Dump) (bool, string) {
				c, ok := d.Cluster(n)
				if !ok {
					return false, "no such cluster"
				}
				return c.TLS() == want, "it connects " + c.TLS()
			}})
		}
	}
	return conds
}

// ExpectServer derives the server sidecar's conditions (inbound family):
// virtualInbound has filter chains for the port, with the mTLS mode of
// the scenario's PeerAuthentication and the action of its
// AuthorizationPolicy. Nil when the server has no sidecar.
func ExpectServer(s State) []Condition {
	if !s.Server.Present {
		return nil
	}
	port := s.Port
	chains := func(d *configdump.Dump) ([]configdump.FilterChain, bool) {
		vi, ok := d.Listener("virtualInbound")
		if !ok {
			return nil, false
		}
		return vi.ChainsFor(port), true
	}
	conds := []Condition{{What: fmt.Sprintf("virtualInbound has filter chains for port %d", port), Check: func(d *configdump.Dump) (bool, string) {
		cs, ok := chains(d)
		if !ok {
			return false, "no virtualInbound listener yet"
		}
		return len(cs) > 0, fmt.Sprintf("%d chains for the port", len(cs))
	}}}
	if pa := s.Server.PeerAuthentication; pa != "" {
		wantMTLS, wantPlain := pa != "DISABLE", pa != "STRICT"
		conds = append(conds, Condition{What: fmt.Sprintf("port %d inbound accepts mTLS %v and plaintext %v (PeerAuthentication %s)", port, wantMTLS, wantPlain, pa), Check: func(d *configdump.Dump) (bool, string) {
			cs, _ := chains(d)
			var mtls, plain bool
			for _, c := range cs {
				mtls = mtls || c.TerminatesTLS
				plain = plain || c.TransportProtocol == "raw_buffer"
			}
			return mtls == wantMTLS && plain == wantPlain, fmt.Sprintf("mTLS %v, plaintext %v", mtls, plain)
		}})
	}
	if action := s.Server.AuthorizationAction; action != "" {
		conds = append(conds, Condition{What: fmt.Sprintf("port %d inbound chains carry an rbac filter with action %s (AuthorizationPolicy)", port, action), Check: func(d *configdump.Dump) (bool, string) {
			cs, _ := chains(d)
			var seen []string
			ok := len(cs) > 0
			for _, c := range cs {
				seen = append(seen, c.RBAC...)
				ok = ok && slices.Contains(c.RBAC, action)
			}
			return ok, "rbac actions [" + strings.Join(seen, " ") + "]"
		}})
	}
	return conds
}

// Describe lists the conditions' descriptions.
func Describe(conds []Condition) []string {
	out := make([]string, len(conds))
	for i, c := range conds {
		out[i] = c.What
	}
	return out
}

func clustersCondition(s State) Condition {
	var want []string
	for _, svc := range s.Services {
		if !s.visible(svc.Namespace, svc.Host()) {
			continue
		}
		for _, p := range svc.Ports {
			want = append(want, clusterName(p.Number, svc.Host()))
		}
	}
	for _, se := range s.ServiceEntries {
		for _, h := range se.Hosts {
			if !s.visible(se.Namespace, h) {
				continue
			}
			for _, p := range se.Ports {
				want = append(want, clusterName(p.Number, h))
			}
		}
	}
	sort.Strings(want)
	want = slices.Compact(want)
	what := "clusters of the run's services are exactly [" + strings.Join(want, " ") + "]"
	if len(want) == 0 {
		what = "no cluster for the run's services"
	}
	return Condition{What: what, Check: func(d *configdump.Dump) (bool, string) {
		var got []string
		for _, c := range d.ClusterNames() {
			if host, ok := ownedClusterHost(c); ok && s.owned(host) {
				got = append(got, c)
			}
		}
		sort.Strings(got)
		got = slices.Compact(got)
		return slices.Equal(got, want), "clusters [" + strings.Join(got, " ") + "]"
	}}
}

// ownedClusterHost returns the host of an outbound|port|subset|host
// cluster name.
func ownedClusterHost(name string) (string, bool) {
	parts := strings.Split(name, "|")
	if len(parts) != 4 || parts[0] != "outbound" {
		return "", false
	}
	return parts[3], true
}

func present(name string) Condition {
	return Condition{What: "listener " + name + " present", Check: func(d *configdump.Dump) (bool, string) {
		_, ok := d.Listener(name)
		return ok, listenersSeen(d)
	}}
}

func absent(name, why string) Condition {
	return Condition{What: "listener " + name + " absent (" + why + ")", Check: func(d *configdump.Dump) (bool, string) {
		_, ok := d.Listener(name)
		return !ok, listenersSeen(d)
	}}
}

func listenersSeen(d *configdump.Dump) string {
	return "listeners [" + strings.Join(d.ListenerNames(), " ") + "]"
}

func listenerConditions(s State) []Condition {
	var conds []Condition
	wantNames := map[string]bool{}
	httpPorts := map[int]bool{}
	sePorts := map[int]bool{}
	ownedIPs := slices.Clone(s.OwnedIPs)
	for _, svc := range s.Services {
		if svc.ClusterIP != "" && svc.ClusterIP != "None" {
			ownedIPs = append(ownedIPs, svc.ClusterIP)
		}
		if !s.visible(svc.Namespace, svc.Host()) {
			continue
		}
		for _, p := range svc.Ports {
			switch p.Declared() {
			case "http":
				httpPorts[p.Number] = true
			case "tcp":
				if svc.ClusterIP != "" && svc.ClusterIP != "None" {
					wantNames[listenerName(svc.ClusterIP, p.Number)] = true
				}
			}
		}
	}
	for _, se := range s.ServiceEntries {
		for _, p := range se.Ports {
			sePorts[p.Number] = true
		}
		for _, a := range se.Addresses {
			if strings.Contains(a, "/") {
				continue // a CIDR: Istio's listener naming for ranges is not asserted
			}
			ownedIPs = append(ownedIPs, a)
			if !visibleAny(s, se) {
				continue
			}
			for _, p := range se.Ports {
				if p.Declared() == "tcp" {
					wantNames[listenerName(a, p.Number)] = true
				}
			}
		}
	}
	ports := slices.Clone(s.Ports)
	for p := range httpPorts {
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	sort.Ints(ports)
	for _, p := range ports {
		name := listenerName("0.0.0.0", p)
		switch {
		case httpPorts[p]:
			wantNames[name] = true
		case !slices.Contains(s.ForeignHTTPPorts, p) && !sePorts[p]:
			conds = append(conds, absent(name, "no visible service declares HTTP on "+strconv.Itoa(p)))
		}
	}
	names := make([]string, 0, len(wantNames))
	for n := range wantNames {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		conds = append(conds, present(n))
	}
	sort.Strings(ownedIPs)
	ownedIPs = slices.Compact(ownedIPs)
	if len(ownedIPs) > 0 {
		conds = append(conds, Condition{
			What: "no other listener for the run's addresses [" + strings.Join(ownedIPs, " ") + "]",
			Check: func(d *configdump.Dump) (bool, string) {
				var extra []string
				for _, l := range d.Listeners {
					ip, _, ok := strings.Cut(l.Name, "_")
					if ok && slices.Contains(ownedIPs, ip) && !wantNames[l.Name] {
						extra = append(extra, l.Name)
					}
				}
				return len(extra) == 0, "extra listeners [" + strings.Join(extra, " ") + "]"
			},
		})
	}
	return conds
}

func visibleAny(s State, se ServiceEntry) bool {
	for _, h := range se.Hosts {
		if s.visible(se.Namespace, h) {
			return true
		}
	}
	return false
}

// envoyDefaultFiltersTimeout applies when a listener does not set
// listener_filters_timeout.
const envoyDefaultFiltersTimeout = 15 * time.Second

func timeoutCondition(s State) Condition {
	suffix := "_" + strconv.Itoa(s.Port)
	return Condition{
		What: fmt.Sprintf("listeners for port %d that sniff have listener_filters_timeout %s", s.Port, s.DetectionTimeout),
		Check: func(d *configdump.Dump) (bool, string) {
			var seen []string
			ok := true
			for _, l := range d.Listeners {
				if !strings.HasSuffix(l.Name, suffix) || !l.Sniffs() {
					continue
				}
				t := envoyDefaultFiltersTimeout
				if l.FiltersTimeout != nil {
					t = *l.FiltersTimeout
				}
				seen = append(seen, fmt.Sprintf("%s=%s", l.Name, t))
				ok = ok && t == s.DetectionTimeout
			}
			if len(seen) == 0 {
				return true, "no listener for the port sniffs"
			}
			return ok, "timeouts [" + strings.Join(seen, " ") + "]"
		},
	}
}

func policyCondition(s State) Condition {
	want, what := true, "virtualOutbound passes unmatched traffic to PassthroughCluster (ALLOW_ANY)"
	if s.RegistryOnly {
		want, what = false, "virtualOutbound sends unmatched traffic nowhere but BlackHoleCluster (REGISTRY_ONLY)"
	}
	return Condition{What: what, Check: func(d *configdump.Dump) (bool, string) {
		l, ok := d.Listener("virtualOutbound")
		if !ok {
			return false, "no virtualOutbound listener yet"
		}
		return slices.Contains(l.TCPProxyClusters, "PassthroughCluster") == want,
			"virtualOutbound clusters [" + strings.Join(l.TCPProxyClusters, " ") + "]"
	}}
}
