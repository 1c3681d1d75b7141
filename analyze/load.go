package analyze

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/firstbyte/firstbyte/fixtures"
	"go.yaml.in/yaml/v3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Origin is where an object came from: file and line, or the cluster.
type Origin struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
}

func (o Origin) String() string {
	if o.Line == 0 {
		return o.File
	}
	return fmt.Sprintf("%s:%d", o.File, o.Line)
}

// InputError is an invalid object, named by file:line and field.
type InputError struct {
	Origin  Origin
	Field   string
	Problem string
}

func (e *InputError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Origin, e.Field, e.Problem)
}

// Load reads mesh YAML (or JSON) from files and folders: multi-document
// streams, Lists, `kubectl get -o yaml` output. Documents that are not
// Kubernetes objects, and kinds analyze does not use, are counted in
// Mesh.Skipped; invalid objects are collected in Mesh.Invalid, each with
// file:line and field.
func Load(paths []string) (*Mesh, error) {
	m := newMesh()
	for _, p := range paths {
		files, err := yamlFiles(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("reading mesh file: %w", err)
			}
			if err := m.AddYAML(f, data); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// yamlFiles expands a path: a file as is, a folder to its *.yaml, *.yml
// and *.json files, recursively, sorted.
func yamlFiles(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("mesh input %s: %w (give -f a YAML file or a folder of them)", p, err)
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var out []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				out = append(out, path)
			}
		}
		return nil
	})
	sort.Strings(out)
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("mesh input folder %s holds no .yaml, .yml or .json file", p)
	}
	return out, err
}

// AddYAML adds every object of a YAML stream; name is used in positions.
// Only a stream that is not YAML at all is an error.
func (m *Mesh) AddYAML(name string, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	var syntax *InputError
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			syntax = &InputError{Origin: Origin{File: name, Line: yamlErrorLine(err)}, Field: "(yaml)", Problem: err.Error() + ": fix the YAML syntax"}
			break
		}
		if len(doc.Content) > 0 {
			docs = append(docs, doc.Content[0])
		}
	}
	m.addNodes(name, docs)
	if syntax != nil {
		m.Invalid = append(m.Invalid, syntax)
	}
	return nil
}

// addNodes adds documents in order. Decoding each into its Kubernetes
// type (YAML to JSON to the typed object) is most of reading a mesh, 5 s
// of a 10,000-Service one, and depends on nothing but the document, so
// it runs on every core; filing the objects stays in document order.
func (m *Mesh) addNodes(file string, docs []*yaml.Node) {
	decoded := make([][]nodeResult, len(docs))
	workers := min(goruntime.GOMAXPROCS(0), max(1, len(docs)/64))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(docs); i += workers {
				decoded[i] = decodeNode(file, docs[i], nil)
			}
		}()
	}
	wg.Wait()
	for _, rs := range decoded {
		for _, r := range rs {
			switch {
			case r.skip != "":
				m.skip(r.skip, r.at)
			case r.invalid != nil:
				m.Invalid = append(m.Invalid, r.invalid)
			default:
				m.add(r.obj, r.at, r.doc)
			}
		}
	}
}

// addNode adds one document or List item.
func (m *Mesh) addNode(file string, n *yaml.Node) { m.addNodes(file, []*yaml.Node{n}) }

// nodeResult is what one document (or List item) adds to the mesh: a
// skip, an invalid object, or an object with its place and YAML.
type nodeResult struct {
	skip    string
	invalid *InputError
	obj     runtime.Object
	at      Origin
	doc     []byte
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlErrorLine(err error) int {
	if s := yamlLine.FindStringSubmatch(err.Error()); s != nil {
		n, _ := strconv.Atoi(s[1])
		return n
	}
	return 1
}

// decodeNode decodes one document or List item, appending to out what
// it adds; it changes nothing but the node.
func decodeNode(file string, n *yaml.Node, out []nodeResult) []nodeResult {
	at := Origin{File: file, Line: n.Line}
	if strings.HasPrefix(file, "cluster ") {
		at.Line = 0 // read from the API server: the name says it all
	}
	if n.Kind != yaml.MappingNode {
		return append(out, nodeResult{skip: "not a Kubernetes object (not a mapping)", at: at})
	}
	apiVersion, kind := scalar(n, "apiVersion"), scalar(n, "kind")
	if apiVersion == "" || kind == "" {
		return append(out, nodeResult{skip: "not a Kubernetes object (no apiVersion and kind)", at: at})
	}
	if strings.HasSuffix(kind, "List") {
		items := child(n, "items")
		if items == nil || items.Kind != yaml.SequenceNode {
			if items != nil {
				out = append(out, nodeResult{invalid: &InputError{Origin: at, Field: "items", Problem: "a " + kind + " needs an items list"}})
			}
			return out
		}
		for _, it := range items.Content {
			out = decodeNode(file, it, out)
		}
		return out
	}
	group, _, _ := strings.Cut(apiVersion, "/")
	if !strings.Contains(apiVersion, "/") {
		group = ""
	}
	use, ok := usedKinds[group+"/"+kind]
	if !ok {
		return append(out, nodeResult{skip: "kind " + kind + " (" + apiVersion + ") is not used by analyze", at: at})
	}
	if use.istio {
		// kubectl returns the served version (v1, v1beta1, v1alpha3):
		// the spec is the same message in all of them.
		setScalar(n, "apiVersion", group+"/v1")
		dropKey(n, "status") // written by istiod, never read here
	}
	doc, err := yaml.Marshal(n)
	if err != nil {
		return append(out, nodeResult{invalid: &InputError{Origin: at, Field: "(yaml)", Problem: err.Error()}})
	}
	obj, err := fixtures.DecodeStrict(doc)
	if err != nil {
		field, line := fieldOf(err, n)
		msg, _, _ := strings.Cut(err.Error(), "\n")
		return append(out, nodeResult{invalid: &InputError{Origin: Origin{File: file, Line: line}, Field: field, Problem: msg + ": fix or remove the object"}})
	}
	return append(out, nodeResult{obj: obj, at: at, doc: doc})
}

// usedKinds are the kinds analyze reads, by group/kind.
var usedKinds = map[string]struct{ istio bool }{
	"/Namespace":                              {},
	"/Service":                                {},
	"/ConfigMap":                              {},
	"apps/Deployment":                         {},
	"apps/StatefulSet":                        {},
	"apps/DaemonSet":                          {},
	"networking.istio.io/ServiceEntry":        {istio: true},
	"networking.istio.io/Sidecar":             {istio: true},
	"networking.istio.io/DestinationRule":     {istio: true},
	"security.istio.io/PeerAuthentication":    {istio: true},
	"security.istio.io/AuthorizationPolicy":   {istio: true},
	"networking.istio.io/VirtualService":      {istio: true},
	"networking.istio.io/WorkloadEntry":       {istio: true},
	"networking.istio.io/EnvoyFilter":         {istio: true},
	"networking.istio.io/Gateway":             {istio: true},
	"security.istio.io/RequestAuthentication": {istio: true},
	"gateway.networking.k8s.io/Gateway":       {istio: true}, // waypoints (ambient.go)
}

// add files a decoded object.
func (m *Mesh) add(obj runtime.Object, at Origin, doc []byte) {
	switch v := obj.(type) {
	case *corev1.Namespace:
		m.Namespaces[v.Name] = v
	case *corev1.Service:
		if v.Namespace == "" {
			v.Namespace = "default"
		}
		m.Services = append(m.Services, v)
	case *corev1.ConfigMap:
		if v.Name != "istio" && !strings.HasPrefix(v.Name, "istio-") || v.Data["mesh"] == "" {
			m.skip("ConfigMap other than istio's meshConfig (name istio, key mesh)", at)
			return
		}
		if v.Name != "istio" && m.MeshConfigYAML != "" {
			return // a revision's ConfigMap; the default one wins
		}
		m.MeshConfigYAML, m.MeshOrigin = v.Data["mesh"], at
	case *appsv1.Deployment:
		m.Workloads = append(m.Workloads, v)
	case *appsv1.StatefulSet:
		m.Workloads = append(m.Workloads, asDeployment(v.ObjectMeta, v.Spec.Template))
	case *appsv1.DaemonSet:
		m.Workloads = append(m.Workloads, asDeployment(v.ObjectMeta, v.Spec.Template))
	case *networkingv1.ServiceEntry:
		m.ServiceEntries = append(m.ServiceEntries, v)
	case *networkingv1.Sidecar:
		m.Sidecars = append(m.Sidecars, v)
	case *gatewayv1.Gateway:
		if !m.addWaypoint(v, at) {
			return
		}
	default:
		m.OtherIstio = append(m.OtherIstio, obj)
	}
	m.origins[objectKey(obj)] = at
	m.Objects++
}

// asDeployment stands a StatefulSet's or DaemonSet's pod template in for
// a Deployment: Istio reads only the pods.
func asDeployment(meta metav1.ObjectMeta, t corev1.PodTemplateSpec) *appsv1.Deployment {
	d := &appsv1.Deployment{ObjectMeta: *meta.DeepCopy()}
	d.APIVersion, d.Kind = "apps/v1", "Deployment"
	d.Spec.Template = *t.DeepCopy()
	return d
}

func (m *Mesh) skip(reason string, at Origin) {
	s := m.Skipped[reason]
	s.Count++
	if s.First.File == "" {
		s.First = at
	}
	m.Skipped[reason] = s
}

// fieldOf finds the field an API decoding error names, and its line.
func fieldOf(err error, n *yaml.Node) (string, int) {
	msg := err.Error()
	var path string
	if s := regexp.MustCompile(`unknown field "([^"]+)"`).FindStringSubmatch(msg); s != nil {
		path = s[1]
	} else if s := regexp.MustCompile(`Go struct field [A-Za-z]+\.([A-Za-z0-9_.]+) of type`).FindStringSubmatch(msg); s != nil {
		path = s[1]
	} else if s := regexp.MustCompile(`duplicate field "([^"]+)"`).FindStringSubmatch(msg); s != nil {
		path = s[1]
	}
	if path != "" && strings.Contains(msg, "strict decode of") && !strings.HasPrefix(path, "spec.") {
		path = "spec." + path // Istio spec errors name the field inside spec
	}
	if path == "" {
		return "(object)", n.Line
	}
	return path, lineOf(n, strings.Split(regexp.MustCompile(`\[\d+\]`).ReplaceAllString(path, ""), "."))
}

// lineOf walks a field path through a node, searching list elements for
// the next key, and returns the deepest line it reached.
func lineOf(n *yaml.Node, path []string) int {
	line := n.Line
	if len(path) == 0 {
		return line
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == path[0] {
				if len(path) == 1 {
					return n.Content[i].Line
				}
				return lineOf(n.Content[i+1], path[1:])
			}
		}
	case yaml.SequenceNode:
		for _, it := range n.Content {
			if l := lineOf(it, path); l != it.Line || hasKey(it, path[0]) {
				return l
			}
		}
	}
	return line
}

func hasKey(n *yaml.Node, k string) bool { return child(n, k) != nil }

func child(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func scalar(n *yaml.Node, key string) string {
	if c := child(n, key); c != nil && c.Kind == yaml.ScalarNode {
		return c.Value
	}
	return ""
}

func setScalar(n *yaml.Node, key, v string) {
	if c := child(n, key); c != nil {
		c.Value = v
	}
}

func dropKey(n *yaml.Node, key string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content = append(n.Content[:i], n.Content[i+2:]...)
			return
		}
	}
}
