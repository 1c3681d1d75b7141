package envoy

import (
	"net/netip"
	"sort"
)

// Queries on a configuration that read no run-time behaviour: which
// listeners it holds, where they bind, what their routes name.

// OutboundListeners returns the names of the sidecar's outbound listeners
// for destinations (not virtualOutbound or virtualInbound), sorted.
func (c *Config) OutboundListeners() []string {
	var out []string
	for _, l := range c.Listeners {
		if l.GetUseOriginalDst().GetValue() || l.GetName() == "virtualInbound" || l.GetAddress().GetSocketAddress() == nil {
			continue
		}
		out = append(out, l.GetName())
	}
	sort.Strings(out)
	return out
}

// ListenerAddress is the address and port a listener binds (or, with
// bind_to_port false, takes from virtualOutbound).
func (c *Config) ListenerAddress(name string) (netip.AddrPort, bool) {
	l := c.Listener(name)
	if l == nil {
		return netip.AddrPort{}, false
	}
	sa := l.GetAddress().GetSocketAddress()
	ip, err := netip.ParseAddr(sa.GetAddress())
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip, uint16(sa.GetPortValue())), true
}

// RouteDomains lists, for an HTTP route configuration the sidecar holds,
// its virtual hosts' first domains: the services the HTTP chain routes to.
func (c *Config) RouteDomains(routeConfig string) []string {
	var out []string
	for _, r := range c.Routes {
		if r.GetName() != routeConfig {
			continue
		}
		for _, vh := range r.GetVirtualHosts() {
			if d := vh.GetDomains(); len(d) > 0 {
				out = append(out, d[0])
			}
		}
	}
	return out
}

// HasListenerFilters reports whether the named listener has any listener
// filter: one without can hold no connection for client bytes.
func (c *Config) HasListenerFilters(name string) bool {
	l := c.Listener(name)
	return l != nil && len(l.GetListenerFilters()) > 0
}
