package kube

import (
	"fmt"
	"sort"
	"strings"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/targets/kube/istioinstall"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// DisposableMeshEnv is the opt-in the cluster target needs before it makes
// mesh-wide changes on the cluster KUBECONFIG names.
const DisposableMeshEnv = "FIRSTBYTE_DISPOSABLE_MESH"

// ReinstallIstioEnv lets the kind target replace the Istio of a reused
// cluster that runs another version than ISTIO_VERSION.
const ReinstallIstioEnv = "REINSTALL_ISTIO"

// MeshWideChanges lists what a scenario changes beyond its own namespaces,
// for every sidecar of the mesh while the scenario runs: the collider
// Services (an HTTP port on a server-first port number is the failure the
// suite reproduces, in every pod of the mesh), ServiceEntries visible to
// every namespace, objects in Istio's root namespace, and the meshConfig
// fields merged into the istio ConfigMap. Each line names the object or
// field; the list is what a cluster run without FIRSTBYTE_DISPOSABLE_MESH
// prints before it stops.
func MeshWideChanges(b *fixtures.Bundle) []string {
	var out []string
	seen := map[string]bool{}
	for _, o := range append(append([]fixtures.Object{}, b.Base...), b.Remediation()...) {
		line := meshWideObject(b, o)
		if line == "" || seen[line] {
			continue
		}
		seen[line] = true
		out = append(out, line)
	}
	for _, frag := range [][]byte{b.BaseMeshConfig, b.MeshConfig} {
		if line := meshConfigLine(frag); line != "" && !seen[line] {
			seen[line] = true
			out = append(out, line)
		}
	}
	return out
}

func meshWideObject(b *fixtures.Bundle, o fixtures.Object) string {
	switch obj := o.Decoded.(type) {
	case *corev1.Service:
		if o.Namespace != b.Topology.ColliderNamespace {
			return ""
		}
		var ports []string
		for _, p := range obj.Spec.Ports {
			s := fmt.Sprintf("port %d name %q", p.Port, p.Name)
			if p.AppProtocol != nil {
				s += fmt.Sprintf(" appProtocol %q", *p.AppProtocol)
			}
			ports = append(ports, s)
		}
		return fmt.Sprintf("collider Service %s/%s (%s): every sidecar of the mesh gets it", o.Namespace, o.Name, strings.Join(ports, ", "))
	case *networkingv1.ServiceEntry:
		if exp := obj.Spec.GetExportTo(); len(exp) == 1 && exp[0] == "." {
			return ""
		}
		var ports []string
		for _, p := range obj.Spec.GetPorts() {
			ports = append(ports, fmt.Sprintf("%d/%s", p.GetNumber(), p.GetProtocol()))
		}
		return fmt.Sprintf("ServiceEntry %s/%s (hosts %s, addresses [%s], ports %s): exported to every namespace", o.Namespace, o.Name,
			strings.Join(obj.Spec.GetHosts(), ","), strings.Join(obj.Spec.GetAddresses(), ","), strings.Join(ports, ","))
	}
	if o.Namespace == istioinstall.Namespace {
		return fmt.Sprintf("%s %s/%s in Istio's root namespace: applies to the whole mesh", o.Kind, o.Namespace, o.Name)
	}
	return ""
}

func meshConfigLine(fragment []byte) string {
	js, err := yaml.YAMLToJSON(fragment)
	if err != nil || string(js) == "null" || string(js) == "{}" {
		return ""
	}
	return fmt.Sprintf("meshConfig %s merged into ConfigMap %s/istio: every sidecar of the mesh", js, istioinstall.Namespace)
}

// MeshWideError is the cluster target's refusal: the changes, and which
// scenarios make each.
type MeshWideError struct {
	// Changes maps a change to the scenarios that make it.
	Changes map[string][]string
}

func (e *MeshWideError) Error() string {
	var lines []string
	for c := range e.Changes {
		lines = append(lines, c)
	}
	sort.Strings(lines)
	var sb strings.Builder
	fmt.Fprintf(&sb, "the cluster target would make %d mesh-wide change(s) on the cluster KUBECONFIG names, and %s is not 1. "+
		"While a scenario runs (each is reverted after it, and at the end), every workload of that mesh would see:\n", len(lines), DisposableMeshEnv)
	for _, l := range lines {
		ids := e.Changes[l]
		who := strings.Join(ids, ", ")
		if len(ids) > 3 {
			who = fmt.Sprintf("%s and %d more", strings.Join(ids[:3], ", "), len(ids)-3)
		}
		fmt.Fprintf(&sb, "  - %s (%s)\n", l, who)
	}
	fmt.Fprintf(&sb, "Run it on a mesh you may disrupt (a dedicated cluster) with %s=1, or use make e2e (kind: a cluster of its own), TARGET=local or TARGET=predict", DisposableMeshEnv)
	return sb.String()
}

// meshWideAllowed says whether this target may make mesh-wide changes:
// kind always (the cluster is the suite's own), cluster only with the
// opt-in.
func (t *Target) meshWideAllowed() bool {
	return t.cfg.Target == Kind || t.cfg.DisposableMesh
}

// Admit checks a whole run before set-up: on the cluster target without
// FIRSTBYTE_DISPOSABLE_MESH=1 it returns a *MeshWideError listing every
// mesh-wide change the scenarios would make, and the run stops before it
// touches the cluster.
func (t *Target) Admit(list []scenarios.Scenario) error {
	if t.meshWideAllowed() {
		return nil
	}
	e := &MeshWideError{Changes: map[string][]string{}}
	for _, s := range list {
		changes, err := t.scenarioMeshWide(s)
		if err != nil {
			return err
		}
		for _, c := range changes {
			e.Changes[c] = append(e.Changes[c], s.ID)
		}
	}
	if len(e.Changes) == 0 {
		return nil
	}
	return e
}

// PlanMeshWide describes Admit for the dry run.
func (t *Target) PlanMeshWide(list []scenarios.Scenario) []string {
	switch {
	case t.cfg.Target == Kind:
		return []string{"kind: the cluster is the suite's own, so its collider Services and meshConfig edits need no opt-in"}
	case t.cfg.DisposableMesh:
		return []string{DisposableMeshEnv + "=1: the scenarios' mesh-wide changes (collider Services, meshConfig edits) are allowed on this cluster"}
	}
	err := t.Admit(list)
	if err == nil {
		return []string{"no mesh-wide changes"}
	}
	return append([]string{"the run stops here, before set-up:"}, strings.Split(err.Error(), "\n")...)
}

func (t *Target) scenarioMeshWide(s scenarios.Scenario) ([]string, error) {
	topo, _ := t.PlanTopology(s)
	b, err := fixtures.Render(s, topo)
	if err != nil {
		return nil, fmt.Errorf("rendering %s to list its mesh-wide changes: %w", s.ID, err)
	}
	return MeshWideChanges(b), nil
}

// refuseMeshWide guards each scenario too, so a caller that skipped Admit
// still changes nothing mesh-wide without the opt-in.
func (t *Target) refuseMeshWide(s scenarios.Scenario) error {
	return t.Admit([]scenarios.Scenario{s})
}
