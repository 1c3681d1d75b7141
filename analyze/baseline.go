package analyze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	apinetworking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// The change gate, written down: a finding stands for hazards that each
// meet one server-first destination from one client (a namespace, or a
// workload with its own Sidecar or capture annotations). Each such
// (finding, hit, scope member) is an Entry, keyed by what stays the same
// while the hazard does: class, port, scope member, cause objects and
// destination. Verdicts, IDs, cluster IPs and wording are not in the key,
// so a report of an earlier run (-o json) keys the same as a fresh one.
// An entry only in the head is new, only in the baseline fixed, in both
// unchanged. The gate fails only on new entries: they are hazards that
// meet a server-first destination, where none met it before.

// Entry is one hazard meeting one destination from one client.
type Entry struct {
	Key         string `json:"key"`
	Finding     string `json:"finding"`
	Class       string `json:"class"`
	Port        int    `json:"port"`
	Scope       string `json:"scope"`
	Cause       string `json:"cause"`
	Destination string `json:"destination"`
	Verdict     string `json:"verdict"`
	destPort    int
}

// Change is the change gate's answer: the head report, and its entries
// against the baseline's.
type Change struct {
	Head  *Report `json:"head"`
	New   []Entry `json:"new"`
	Fixed []Entry `json:"fixed"`
	// Unchanged counts the head's hazards (by finding and destination)
	// the baseline has too.
	Unchanged int `json:"unchanged"`
	// Method says how the baseline was analysed (its report, the whole
	// mesh, or the ports the change touches).
	Method string `json:"method"`
}

// Fails reports whether a new hazard meets a server-first destination:
// the gate's exit code 1.
func (c *Change) Fails() bool { return len(c.New) > 0 }

// Entries expands a report's findings into keyed entries.
func (r *Report) Entries() []Entry {
	var out []Entry
	seen := map[string]bool{}
	for _, f := range r.Findings {
		cause := causeKey(f.Causes)
		for _, h := range f.Hits {
			head, _, _ := strings.Cut(h.Scope, " (")
			for _, member := range strings.Split(head, ", ") {
				e := Entry{Finding: f.ID, Class: f.Class, Port: f.Port, Scope: member, Cause: cause, Destination: destinationKey(h.Destination), Verdict: h.Verdict, destPort: int(h.Destination.Addr.Port())}
				e.Key = strings.Join([]string{e.Class, fmt.Sprint(e.Port), e.Scope, e.Cause, e.Destination}, "|")
				if !seen[e.Key] {
					seen[e.Key] = true
					out = append(out, e)
				}
			}
		}
	}
	return out
}

// causeKey is the objects that put a hazard there, or, for a mesh
// setting, its first cause's words.
func causeKey(cs []Cause) string {
	objs := causeObjects(cs)
	if len(objs) > 0 {
		slices.Sort(objs)
		return strings.Join(objs, "+")
	}
	if len(cs) > 0 {
		return short(cs[0].Text)
	}
	return ""
}

// destinationKey names a destination by what owns it, not by its
// address: a Service's cluster IP changes when analyze allocates it.
func destinationKey(d Destination) string {
	port := d.Addr.Port()
	switch {
	case strings.HasPrefix(d.Owner, "Service/"):
		return fmt.Sprintf("%s:%d", d.Owner, port)
	case d.Owner != "" && d.Any:
		return fmt.Sprintf("%s:%d", d.Owner, port)
	case d.Owner != "":
		return fmt.Sprintf("%s@%s", d.Owner, d.Addr)
	case d.Any:
		return fmt.Sprintf("*:%d", port)
	}
	return d.Addr.String()
}

// Compare classifies head's entries against base's. touched, when not
// nil, limits the comparison to entries whose destination port it
// holds: the others are unchanged by construction (the baseline was
// analysed on the touched ports only).
func Compare(base, head *Report, touched map[int]bool) *Change {
	c := &Change{Head: head}
	in := func(e Entry) bool { return touched == nil || touched[e.destPort] }
	baseKeys := map[string]bool{}
	for _, e := range base.Entries() {
		if in(e) {
			baseKeys[e.Key] = true
		}
	}
	headKeys := map[string]bool{}
	var unchanged []Entry
	for _, e := range head.Entries() {
		headKeys[e.Key] = true
		if in(e) && !baseKeys[e.Key] {
			c.New = append(c.New, e)
		} else {
			unchanged = append(unchanged, e)
		}
	}
	c.Unchanged = len(groupEntries(unchanged))
	for _, e := range base.Entries() {
		if in(e) && !headKeys[e.Key] {
			c.Fixed = append(c.Fixed, e)
		}
	}
	return c
}

// ReadReport reads the JSON report of an earlier run (-o json); ok is
// false when path is not one (a mesh file or folder).
func ReadReport(path string) (r *Report, ok bool, err error) {
	st, err := os.Stat(path)
	if err != nil || st.IsDir() {
		return nil, false, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' || !bytes.Contains(t, []byte(`"findings"`)) {
		return nil, false, nil
	}
	r = &Report{}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, true, fmt.Errorf("--baseline %s: reading it as a firstbyte analyze -o json report: %w", path, err)
	}
	return r, true, nil
}

// Gate runs the change gate on two meshes (both after Finish). When the
// change touches only Services and ServiceEntries, the baseline is
// analysed on the ports they declare (Istio builds a port's listeners
// from the Services and ServiceEntries on it, with the mesh's scopes and
// policies, which are then the same on both sides), else as a whole.
// Remediations are checked for the new hazards only: the unchanged ones
// were there before the change, and fixed ones are gone.
func Gate(base, head *Mesh, opt Options) (*Change, error) {
	ports, ok := changedPorts(base, head)
	headOpt := opt
	headOpt.SkipRemediations = true
	hr, err := Analyze(head, headOpt)
	if err != nil {
		return nil, fmt.Errorf("the changed mesh: %w", err)
	}
	baseOpt := headOpt
	method := "the baseline mesh analysed as a whole (the change touches more than Services and ServiceEntries)"
	b := base
	if ok {
		b = base.restrict(ports)
		method = fmt.Sprintf("the baseline analysed on the %d port(s) the change touches (%s); every other entry is unchanged", len(ports), joinInts(slices.Sorted(maps.Keys(ports))))
	} else {
		ports = nil
	}
	br, err := Analyze(b, baseOpt)
	if err != nil {
		return nil, fmt.Errorf("the baseline mesh: %w", err)
	}
	c := Compare(br, hr, ports)
	c.Method = method
	if err := c.remediateNew(head, opt); err != nil {
		return nil, err
	}
	return c, nil
}

// GateReport runs the change gate against the report of an earlier run.
func GateReport(base *Report, head *Mesh, opt Options) (*Change, error) {
	headOpt := opt
	headOpt.SkipRemediations = true
	hr, err := Analyze(head, headOpt)
	if err != nil {
		return nil, err
	}
	c := Compare(base, hr, nil)
	c.Method = "the baseline's report (" + base.Istio + ")"
	return c, c.remediateNew(head, opt)
}

// remediateNew checks the remediations of the head's findings that have
// a new entry.
func (c *Change) remediateNew(head *Mesh, opt Options) error {
	c.Head.Notes = slices.DeleteFunc(c.Head.Notes, func(n string) bool { return strings.HasPrefix(n, "remediations not checked") })
	if opt.SkipRemediations {
		c.Head.Notes = append(c.Head.Notes, "remediations not checked (--check-remediations=false)")
		return nil
	}
	fs := c.newFindings()
	if len(fs) < len(c.Head.Findings) {
		c.Head.Notes = append(c.Head.Notes, "remediations are checked for the findings with new hazards only")
	}
	if err := head.remediate(fs, withDefaults(opt)); err != nil {
		return fmt.Errorf("checking the new hazards' remediations: %w", err)
	}
	return nil
}

// withDefaults fills what Analyze fills in for zero options.
func withDefaults(opt Options) Options {
	if opt.DetectionTimeout == 0 {
		opt.DetectionTimeout = time.Second // as Analyze
	}
	if opt.Parallel == 0 {
		opt.Parallel = 2
	}
	return opt
}

// changedPorts lists the ports the Services and ServiceEntries that
// differ between base and head declare (in either version); ok is false
// when anything else differs (namespaces, workloads, Sidecars, policies,
// meshConfig), which can change every port.
func changedPorts(base, head *Mesh) (map[int]bool, bool) {
	if base.MeshConfigYAML != head.MeshConfigYAML {
		return nil, false
	}
	same := func(a, b map[string]string) bool { return maps.Equal(a, b) }
	if !same(objectTexts(base.otherObjects()), objectTexts(head.otherObjects())) {
		return nil, false
	}
	ports := map[int]bool{}
	bs, hs := base.serviceTexts(), head.serviceTexts()
	for _, k := range slices.Sorted(maps.Keys(bs)) {
		if hs[k] != bs[k] {
			maps.Copy(ports, base.objectPorts(k))
			maps.Copy(ports, head.objectPorts(k))
		}
	}
	for k := range hs {
		if _, ok := bs[k]; !ok {
			maps.Copy(ports, head.objectPorts(k))
		}
	}
	return ports, true
}

// otherObjects are the objects other than Services and ServiceEntries.
func (m *Mesh) otherObjects() []runtime.Object {
	var out []runtime.Object
	for _, n := range slices.Sorted(maps.Keys(m.Namespaces)) {
		out = append(out, m.Namespaces[n])
	}
	for _, w := range m.Workloads {
		out = append(out, w)
	}
	for _, s := range m.Sidecars {
		out = append(out, s)
	}
	return append(out, m.OtherIstio...)
}

// serviceTexts are the Services and ServiceEntries as YAML by key, with
// the cluster IPs analyze allocated left out (they shift when a Service
// is added before others).
func (m *Mesh) serviceTexts() map[string]string {
	var objs []runtime.Object
	allocated := map[string]bool{}
	for _, a := range m.AllocatedIPs {
		k, _, _ := strings.Cut(a, "=")
		allocated[k] = true
	}
	for _, s := range m.Services {
		if allocated[s.Namespace+"/"+s.Name] {
			s = s.DeepCopy()
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil
		}
		objs = append(objs, s)
	}
	for _, se := range m.ServiceEntries {
		objs = append(objs, se)
	}
	return objectTexts(objs)
}

func objectTexts(objs []runtime.Object) map[string]string {
	out := map[string]string{}
	for _, o := range objs {
		doc, err := yaml.Marshal(o)
		if err != nil {
			doc = []byte(fmt.Sprintf("unreadable: %v", err)) // compares unequal to any readable object
		}
		out[kindKey(o)] = string(doc)
	}
	return out
}

// kindKey is an object's kind/namespace/name; the kind falls back to
// the Go type for objects read without one.
func kindKey(o runtime.Object) string {
	k := objectKey(o)
	if strings.HasPrefix(k, "/") {
		k = fmt.Sprintf("%T", o) + k
	}
	return k
}

// objectPorts are the ports the Service or ServiceEntry of key declares.
func (m *Mesh) objectPorts(key string) map[int]bool {
	out := map[int]bool{}
	for _, s := range m.Services {
		if kindKey(s) == key {
			for _, p := range s.Spec.Ports {
				out[int(p.Port)] = true
			}
		}
	}
	for _, se := range m.ServiceEntries {
		if kindKey(se) == key {
			for _, p := range se.Spec.Ports {
				out[int(p.Number)] = true
			}
		}
	}
	return out
}

// restrict is the mesh with only the Service and ServiceEntry ports in
// ports (objects without one left out); namespaces, workloads, Sidecars
// and policies stay, so the scopes are the same.
func (m *Mesh) restrict(ports map[int]bool) *Mesh {
	c := m.clone()
	c.Services = slices.DeleteFunc(c.Services, func(s *corev1.Service) bool {
		s.Spec.Ports = slices.DeleteFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return !ports[int(p.Port)] })
		return len(s.Spec.Ports) == 0
	})
	c.ServiceEntries = slices.DeleteFunc(c.ServiceEntries, func(se *networkingv1.ServiceEntry) bool {
		se.Spec.Ports = slices.DeleteFunc(se.Spec.Ports, func(p *apinetworking.ServicePort) bool { return !ports[int(p.Number)] })
		return len(se.Spec.Ports) == 0
	})
	return c
}

// sortEntries orders entries by finding, then key, for stable output.
func sortEntries(es []Entry) {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Finding != es[j].Finding {
			return es[i].Finding < es[j].Finding
		}
		return es[i].Key < es[j].Key
	})
}
