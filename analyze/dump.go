package analyze

import (
	"fmt"
	"net/netip"

	"github.com/firstbyte/firstbyte/envoy"
)

// AnalyzeDump walks one sidecar's config dump (istioctl proxy-config all
// -o json, or the admin /config_dump) for the same hazards. Without the
// mesh's objects, causes come from the dump's own route configurations
// and remediations cannot be checked; the report says so. Named
// destinations must be IP addresses here.
func AnalyzeDump(cfg *envoy.Config, opt Options) (*Report, error) {
	m := newMesh()
	if err := m.Finish(); err != nil {
		return nil, err
	}
	r := &Report{Istio: cfg.Source, Scopes: []string{cfg.Source}}
	for _, n := range cfg.Notes {
		r.Notes = append(r.Notes, "config dump: "+n)
	}
	r.Notes = append(r.Notes, "remediations are not checked for a config dump: analyze needs the mesh's objects to run Istio's generator again (use -f or --cluster)",
		"the pod's capture annotations are unknown in a dump: destinations are walked as captured")
	dests, err := m.destinations(opt.ServerFirst, opt.ServerFirstPorts)
	if err != nil {
		return nil, &BadInput{Err: err}
	}
	for _, p := range cfg.OutboundListeners() {
		if ap, ok := cfg.ListenerAddress(p); ok {
			if proto, ok := wellKnownServerFirst[int(ap.Port())]; ok && ap.Addr().IsUnspecified() {
				dests = append(dests, Destination{Name: fmt.Sprintf("any address on port %d (well-known %s port)", ap.Port(), proto), Addr: netip.AddrPortFrom(ProbeIP, ap.Port()), Any: true, Source: "declared", Protocol: proto, External: true})
			}
		}
	}
	s := &Scope{Members: []string{cfg.Source}, IP: proxyIPs.Addr().Next()}
	hz, err := m.scopeHazards(s, cfg)
	if err != nil {
		return nil, err
	}
	for _, f := range hz {
		f.Scopes = []string{s.String()}
		if f.Any && f.Class == InspectorHold {
			// Without the mesh's objects the dump's own routes are the
			// provenance: the services the HTTP chain serves on the port.
			if d := cfg.RouteDomains(fmt.Sprint(f.Port)); len(d) > 0 {
				f.Causes = []Cause{{Text: fmt.Sprintf("the HTTP route configuration %d serves %v: their Service ports on %d are HTTP or sniffed", f.Port, d, f.Port)}}
			}
		}
		for _, d := range dests {
			hit, err := hits(s, cfg, f, d)
			if err != nil {
				return nil, err
			}
			if hit != nil {
				f.Hits = append(f.Hits, *hit)
			}
		}
		if len(f.Hits) > 0 {
			f.ID = fmt.Sprintf("F%d", len(r.Findings)+1)
			r.Findings = append(r.Findings, f)
		} else {
			f.ID = fmt.Sprintf("E%d", len(r.Exposed)+1)
			r.Exposed = append(r.Exposed, f)
		}
	}
	return r, nil
}
