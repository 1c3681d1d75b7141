package analyze

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"

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
	// IP is the representative proxy's address.
	IP  netip.Addr
	key string
}

func (s *Scope) String() string {
	var b strings.Builder
	b.WriteString(strings.Join(s.Members, ", "))
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
	var out []*Scope
	addMember := func(ns string, labels, annotations map[string]string, member string) {
		sc := m.sidecarFor(ns, labels)
		vis := "*"
		if restricted || sc != "" {
			vis = ns
		}
		key := sc + "|" + vis + "|" + annotationText(annotations)
		s, ok := byKey[key]
		if !ok {
			s = &Scope{Namespace: ns, Labels: labels, Annotations: annotations, Sidecar: sc, key: key}
			byKey[key] = s
			out = append(out, s)
		}
		if !slices.Contains(s.Members, member) {
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
	for _, s := range out {
		s.IP, ip = ip, ip.Next()
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
	workloads, err := predict.AdmitWorkloads(nsLabels, m.Workloads)
	if err != nil {
		return nil, fmt.Errorf("running the mesh's workloads through Istio's injection: %w", err)
	}
	return workloads, nil
}
