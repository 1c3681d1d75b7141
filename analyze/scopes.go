package analyze

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/predict/capture"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// Scope is a set of client sidecars that get the same outbound
// configuration: the same Sidecar resource (or none), the same visible
// services, the same capture annotations. analyze generates one
// representative per scope.
type Scope struct {
	// Namespace, Labels and Annotations are the representative pod's.
	Namespace   string
	Labels      map[string]string
	Annotations map[string]string
	// Sidecar is the Sidecar resource that governs the scope
	// (namespace/name), empty for none.
	Sidecar string
	// Members are the namespaces (default scope) and workloads
	// (namespace/Deployment) the scope stands for.
	Members []string
	// IP is the representative proxy's address; scopes that share a
	// configuration share it.
	IP  netip.Addr
	key string
	// config identifies the outbound configuration Istio builds for the
	// scope: its Sidecar and visibility, without the capture annotations,
	// which only istio-iptables reads.
	config string
	// name is String(), fixed once the members are: every finding lists
	// its scopes by name, and the default scope of a large mesh names
	// thousands of workloads, so each finding shares one string.
	name string
}

func (s *Scope) String() string {
	if s.name != "" {
		return s.name
	}
	return s.describe()
}

// describe names the scope by its members, Sidecar and annotations. A
// workload whose namespace is a member too is left out of the name: the
// namespace already stands for it (its default workloads share the
// namespace's scope), and listing them made a large mesh's default scope
// name every workload, so each finding's scope list ran to megabytes
// (issue "Scale": a 411 MB report at 10,000 Services). Members keeps them.
func (s *Scope) describe() string {
	var b strings.Builder
	namespaces := map[string]bool{}
	for _, m := range s.Members {
		if !strings.Contains(m, "/") {
			namespaces[m] = true
		}
	}
	named := make([]string, 0, len(s.Members))
	for _, m := range s.Members {
		if ns, _, ok := strings.Cut(m, "/"); ok && namespaces[ns] {
			continue
		}
		named = append(named, m)
	}
	b.WriteString(strings.Join(named, ", "))
	if s.Sidecar != "" {
		fmt.Fprintf(&b, " (Sidecar %s)", s.Sidecar)
	}
	if len(s.Annotations) > 0 {
		fmt.Fprintf(&b, " (%s)", annotationText(s.Annotations))
	}
	return b.String()
}

func annotationText(a map[string]string) string {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		kv = append(kv, k+"="+a[k])
	}
	return strings.Join(kv, ", ")
}

// proxyIPs is where scope representatives get addresses: nothing else in
// a mesh analyze builds uses it.
var proxyIPs = netip.MustParsePrefix("10.250.0.0/16")

const captureAnnotationPrefix = "traffic.sidecar.istio.io/"

// scopes lists the mesh's client scopes: each meshed namespace's default
// scope, each injected workload's (grouped where Sidecar, visibility and
// capture annotations agree, since Istio then builds the same outbound
// configuration).
func (m *Mesh) scopes() ([]*Scope, error) {
	workloads, err := m.admitted()
	if err != nil {
		return nil, err
	}
	restricted := m.visibilityRestricted()
	byKey := map[string]*Scope{}
	// listed holds scope key + member: a scope may stand for thousands
	// of workloads, and a scan of its members per member is quadratic.
	listed := map[string]bool{}
	var out []*Scope
	addMember := func(ns string, labels, annotations map[string]string, member string) {
		sc := m.sidecarFor(ns, labels)
		vis := "*"
		if restricted || sc != "" {
			vis = ns
		}
		config := sc + "|" + vis
		key := config + "|" + annotationText(annotations)
		s, ok := byKey[key]
		if !ok {
			s = &Scope{Namespace: ns, Labels: labels, Annotations: annotations, Sidecar: sc, key: key, config: config}
			byKey[key] = s
			out = append(out, s)
		}
		if !listed[key+"\x00"+member] {
			listed[key+"\x00"+member] = true
			s.Members = append(s.Members, member)
		}
	}
	nss := slices.Sorted(maps.Keys(m.Namespaces))
	injectedIn := map[string]bool{}
	for _, w := range workloads {
		if w.Injection.Injected {
			injectedIn[w.Namespace] = true
		}
	}
	for _, n := range nss {
		if meshed(m.Namespaces[n]) || injectedIn[n] {
			addMember(n, map[string]string{}, nil, n)
		}
	}
	sort.SliceStable(workloads, func(i, j int) bool {
		return workloads[i].Namespace+"/"+workloads[i].Deployment.Name < workloads[j].Namespace+"/"+workloads[j].Deployment.Name
	})
	for _, w := range workloads {
		if !w.Injection.Injected {
			continue
		}
		ann := map[string]string{}
		for k, v := range w.Annotations {
			if strings.HasPrefix(k, captureAnnotationPrefix) {
				ann[k] = v
			}
		}
		if len(ann) == 0 {
			ann = nil
		}
		addMember(w.Namespace, w.Labels, ann, w.Namespace+"/"+w.Deployment.Name)
	}
	ip := proxyIPs.Addr().Next()
	ips := map[string]netip.Addr{}
	for _, s := range out {
		if _, ok := ips[s.config]; !ok {
			ips[s.config], ip = ip, ip.Next()
		}
		s.IP = ips[s.config]
		s.name = s.describe()
	}
	return out, nil
}

// sidecarFor is the Sidecar resource Istio applies to a pod: one in its
// namespace whose workloadSelector matches, else the namespace's one
// without a selector, else the root namespace's one without a selector.
func (m *Mesh) sidecarFor(ns string, labels map[string]string) string {
	var nsDefault, root string
	rootNS := m.MeshConfig.GetRootNamespace()
	for _, s := range sortedSidecars(m.Sidecars) {
		sel := s.Spec.GetWorkloadSelector().GetLabels()
		switch {
		case s.Namespace == ns && len(sel) > 0 && selects(sel, labels):
			return s.Namespace + "/" + s.Name
		case s.Namespace == ns && len(sel) == 0 && nsDefault == "":
			nsDefault = s.Namespace + "/" + s.Name
		case s.Namespace == rootNS && len(sel) == 0 && root == "":
			root = s.Namespace + "/" + s.Name
		}
	}
	if nsDefault != "" {
		return nsDefault
	}
	return root
}

func sortedSidecars(in []*networkingv1.Sidecar) []*networkingv1.Sidecar {
	out := slices.Clone(in)
	sort.Slice(out, func(i, j int) bool {
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	return out
}

// visibilityRestricted reports whether any object limits where it is
// visible (exportTo): then namespaces see different services and each
// gets a scope of its own.
func (m *Mesh) visibilityRestricted() bool {
	open := func(to []string) bool { return len(to) == 0 || slices.Equal(to, []string{"*"}) }
	mc := m.MeshConfig
	if !open(mc.GetDefaultServiceExportTo()) || !open(mc.GetDefaultVirtualServiceExportTo()) || !open(mc.GetDefaultDestinationRuleExportTo()) {
		return true
	}
	for _, s := range m.Services {
		if v, ok := s.Annotations["networking.istio.io/exportTo"]; ok && strings.TrimSpace(v) != "*" {
			return true
		}
	}
	for _, se := range m.ServiceEntries {
		if !open(se.Spec.GetExportTo()) {
			return true
		}
	}
	for _, o := range m.OtherIstio {
		if x, ok := o.(interface{ GetExportTo() []string }); ok && !open(x.GetExportTo()) {
			return true
		}
		if spec := specExportTo(o); !open(spec) {
			return true
		}
	}
	return false
}

// specExportTo reads spec.exportTo of DestinationRules and
// VirtualServices.
func specExportTo(o any) []string {
	switch v := o.(type) {
	case *networkingv1.DestinationRule:
		return v.Spec.GetExportTo()
	case *networkingv1.VirtualService:
		return v.Spec.GetExportTo()
	}
	return nil
}

// proxy is the scope's representative sidecar.
func (s *Scope) proxy() predict.MeshProxy {
	return predict.MeshProxy{Name: "analyze-scope", Namespace: s.Namespace, Labels: s.Labels, IP: s.IP}
}

// capturePod is the representative pod as Istio's iptables sees it.
func (s *Scope) capturePod(extra map[string]string) capture.CapturePod {
	a := maps.Clone(s.Annotations)
	if a == nil {
		a = map[string]string{}
	}
	maps.Copy(a, extra)
	return capture.CapturePod{Annotations: a, IP: s.IP}
}

// admitted runs the mesh's workloads through Istio's injection, in order.
func (m *Mesh) admitted() ([]predict.Workload, error) {
	nsLabels := map[string]map[string]string{}
	for n, ns := range m.Namespaces {
		nsLabels[n] = ns.Labels
	}
	a, err := predict.AdmitMesh(nsLabels, m.Workloads)
	if err != nil {
		return nil, fmt.Errorf("running the mesh's workloads through Istio's injection: %w", err)
	}
	// generatorInput hands it to the generator, which would admit the
	// same pods again.
	m.admission = a
	return a.Workloads(), nil
}

// scopeScan is one scope's hazards, and for each the destinations it
// meets (its hits), in the mesh's destination order.
type scopeScan struct {
	hazards []*Finding
	hits    [][]*Hit
	err     error
}

// scanScopes generates the scopes' sidecars with one run of Istio's
// generator and walks each configuration as soon as it is built, on
// another goroutine while the generator builds the next, then hands the
// scans to merge in scope order. Scopes that differ only in capture
// annotations share one configuration (Scope.config): the annotations are
// istio-iptables' input, and Istio's generator never sees them (a
// MeshProxy has none), so it is built once and each scope's capture is
// walked over it. At 10,000 Services that saved a second build of the
// default scope's configuration, 2.6 s. At most two configurations are
// alive: the one walked and the one built; the generator waits for the
// walk before it builds a third. At 10,000 Services the default scope's
// configuration holds about 150 MiB, so walking more at once (measured)
// took the process past 1 GiB. Scans are small (hazards and hits) and
// wait for merge.
func (m *Mesh) scanScopes(in predict.MeshObjects, scopes []*Scope, dests []Destination, merge func(s *Scope, scan scopeScan)) error {
	var proxies []predict.MeshProxy
	var groups [][]int // scope indexes by configuration
	group := map[string]int{}
	for i, s := range scopes {
		g, ok := group[s.config]
		if !ok {
			g = len(proxies)
			group[s.config] = g
			proxies = append(proxies, s.proxy())
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	type walk struct {
		group int
		cfg   *envoy.Config
	}
	byPort := destinationsByPort(dests)
	scans := make([]scopeScan, len(scopes))
	walks := make(chan walk)
	walked := make(chan error, 1)
	var failed atomic.Bool
	go func() {
		var err error
		for w := range walks {
			if err != nil {
				continue // drain: the generator stops at its next hand-off
			}
			for _, i := range groups[w.group] {
				scans[i] = m.scanScope(scopes[i], w.cfg, byPort)
				if scans[i].err != nil {
					err = fmt.Errorf("scope %s: %w", scopes[i], scans[i].err)
					failed.Store(true)
					break
				}
			}
		}
		walked <- err
	}()
	genErr := predict.GenerateMeshEach(in, proxies, "the mesh", func(g int, cfg *envoy.Config) error {
		if failed.Load() {
			return errWalkFailed
		}
		walks <- walk{g, cfg}
		return nil
	})
	close(walks)
	if err := <-walked; err != nil {
		return err
	}
	if genErr != nil {
		return genErr
	}
	for i, s := range scopes {
		merge(s, scans[i])
	}
	return nil
}

// errWalkFailed stops the generator once a walk failed; the walk's own
// error is the one returned.
var errWalkFailed = errors.New("analyze: a scope's walk failed")

// scanScope finds one scope's hazards and walks to each the destinations
// it can meet: those on its port, or every one for a hazard on
// virtualOutbound. A hazard's hits depend only on what identifies it
// across scopes (class, listener, port, capture cluster), so they are the
// same as the merged finding's. Only hits are kept: pairing every hazard
// with every destination (and keeping the misses) grew as hazards ×
// destinations × scopes, the part of a 10k analysis that grew fastest.
func (m *Mesh) scanScope(s *Scope, cfg *envoy.Config, dests portedDestinations) scopeScan {
	hz, err := m.scopeHazards(s, cfg)
	if err != nil {
		return scopeScan{err: err}
	}
	out := scopeScan{hazards: hz, hits: make([][]*Hit, len(hz))}
	for j, h := range hz {
		candidates := dests.port[h.Port]
		if h.Listener == VirtualOutbound {
			candidates = dests.all
		}
		for _, d := range candidates {
			hit, err := hits(s, cfg, h, d)
			if err != nil {
				return scopeScan{err: err}
			}
			if hit != nil {
				out.hits[j] = append(out.hits[j], hit)
			}
		}
	}
	return out
}

// portedDestinations are the mesh's destinations in order, and by port.
type portedDestinations struct {
	all  []Destination
	port map[int][]Destination
}

func destinationsByPort(dests []Destination) portedDestinations {
	out := portedDestinations{all: dests, port: map[int][]Destination{}}
	for _, d := range dests {
		p := int(d.Addr.Port())
		out.port[p] = append(out.port[p], d)
	}
	return out
}
