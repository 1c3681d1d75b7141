package kube

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/targets/kube/sidecarsync"
)

// The Plan* methods describe, without touching anything, what the methods
// of the same name do; `make e2e DRY_RUN=1` prints them. They share the
// command lines, object lists and sidecar checks with the real methods.

// PlanTopology returns the topology a dry run renders with (the server's
// pod IP stands as a placeholder) and the step that learns the real one.
func (t *Target) PlanTopology(s scenarios.Scenario) (fixtures.Topology, []string) {
	topo := t.cfg.topology()
	topo.ServerIP = placeholderServerIP
	return topo, []string{fmt.Sprintf("start namespaces and Deployment %s/%s, wait for its rollout, and render the scenario with the server pod's IP", topo.ServerNamespace, serverDeployment)}
}

func objectLine(o fixtures.Object) string {
	if o.Namespace == "" {
		return fmt.Sprintf("%s %s", o.Kind, o.Name)
	}
	return fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name)
}

func fragmentLines(y []byte) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(stripComments(string(y)), "\n"), "\n") {
		out = append(out, "  | "+l)
	}
	return out
}

func (t *Target) meshConfigMapName() string {
	if t.mesh != nil {
		return t.mesh.ConfigMap().String()
	}
	return "istio-system/istio"
}

// planIPs stands in for the ClusterIPs the cluster assigns.
func planIPs(b *fixtures.Bundle) map[string]string {
	ips := map[string]string{}
	for _, o := range append(append([]fixtures.Object{}, b.Base...), b.Final...) {
		if o.Kind == "Service" {
			ips[o.Namespace+"/"+o.Name] = fmt.Sprintf("<ClusterIP of %s/%s>", o.Namespace, o.Name)
		}
	}
	return ips
}

// planConditions derives a state's sidecar conditions for the plan, before
// the cluster has assigned any address: documentation addresses (RFC 5737
// TEST-NET-2, all with three-digit last octets so none is a prefix of
// another) stand in for the server pod's IP and the ClusterIPs, so Istio's
// generator can build the expected config; the plan prints each stand-in
// as its placeholder (standIns maps one to the other).
func (t *Target) planConditions(b *fixtures.Bundle, phase fixtures.Phase) (sidecarConditions, map[string]string, error) {
	sb, ips, standIns, err := planStandIns(b)
	if err != nil {
		return sidecarConditions{}, nil, err
	}
	conds, err := t.conditions(sb, phase, ips, nil)
	return conds, standIns, err
}

// planStandIns renders the scenario with documentation addresses standing
// in for what the cluster assigns, and returns them with the placeholder
// each stands for.
func planStandIns(b *fixtures.Bundle) (sb *fixtures.Bundle, ips, standIns map[string]string, err error) {
	topo := b.Topology
	standIns = map[string]string{}
	if topo.ServerIP == placeholderServerIP {
		topo.ServerIP = "198.51.100.199"
		standIns[topo.ServerIP] = placeholderServerIP
	}
	ips = map[string]string{}
	placeholders := planIPs(b)
	for _, key := range slices.Sorted(maps.Keys(placeholders)) {
		ip := fmt.Sprintf("198.51.100.%d", 200+len(ips))
		ips[key], standIns[ip] = ip, placeholders[key]
	}
	sb, err = fixtures.Render(b.Scenario, topo)
	return sb, ips, standIns, err
}

func (t *Target) planSync(b *fixtures.Bundle, phase fixtures.Phase) []string {
	want := b.BaseAnnotations
	if phase == fixtures.Remediated {
		want = b.ClientAnnotations
	}
	var ann []string
	for _, k := range clientPodAnnotations {
		v := want[k]
		if v == "" {
			v = "<unset>"
		}
		ann = append(ann, k+"="+v)
	}
	lines := []string{"wait: the running client pod has " + strings.Join(ann, ", ")}
	conds, standIns, err := t.planConditions(b, phase)
	describe := func(cs []sidecarsync.Condition) []string {
		out := sidecarsync.Describe(cs)
		for i := range out {
			for ip, placeholder := range standIns {
				out[i] = strings.ReplaceAll(out[i], ip, placeholder)
			}
		}
		return out
	}
	if err != nil {
		return append(lines, "wait: (cannot derive the sidecar checks: "+err.Error()+")")
	}
	if b.Scenario.Security.NoClientSidecar {
		lines = append(lines, "the client has no sidecar: nothing to wait for on the client side")
	} else {
		lines = append(lines, "wait: the client sidecar's config ("+strings.Join(ConfigDumpCommand(), " ")+" in istio-proxy) shows what Istio's generator builds for the state:")
		for _, c := range describe(conds.client) {
			lines = append(lines, "  - "+c)
		}
	}
	if conds.server != nil {
		lines = append(lines, "wait: the server's own sidecar shows:")
		for _, c := range describe(conds.server) {
			lines = append(lines, "  - "+c)
		}
	}
	return lines
}

func rollouts(objs []fixtures.Object, extra ...string) string {
	var names []string
	for _, d := range deploymentsIn(objs) {
		names = append(names, d.String())
	}
	names = append(names, extra...)
	if len(names) == 0 {
		return ""
	}
	return "wait: rollout of Deployment " + strings.Join(names, ", ")
}

// PlanDeploy describes Deploy.
func (t *Target) PlanDeploy(b *fixtures.Bundle) []string {
	lines := []string{"apply (create or update, in order):"}
	for _, o := range b.Base {
		lines = append(lines, "  "+objectLine(o)+dnsCaptureNote(b, o))
	}
	lines = append(lines, fmt.Sprintf("  Deployment %s/%s (the control pod: agent without a sidecar, for control probes)", b.Topology.ServerNamespace, controlDeployment))
	lines = append(lines, t.planUpstream(b)...)
	lines = append(lines, fmt.Sprintf("prune: delete objects labelled %s=%s in %s that this list lacks", fixtures.LabelRun, b.Topology.RunID, strings.Join(t.namespacesOf(b), ", ")))
	lines = append(lines, "mesh config: merge into ConfigMap "+t.meshConfigMapName()+" key mesh (over the text found at the first change):")
	lines = append(lines, fragmentLines(b.BaseMeshConfig)...)
	lines = append(lines, rollouts(b.Base, b.Topology.ServerNamespace+"/"+controlDeployment))
	lines = append(lines, t.planSync(b, fixtures.Base)...)
	return append(lines, t.planAmbient(b)...)
}

// PlanRemediate describes Remediate.
func (t *Target) PlanRemediate(b *fixtures.Bundle) []string {
	if b.Scenario.Remediation.Kind == scenarios.NoRemediation {
		return []string{"none"}
	}
	rem := b.Remediation()
	lines := []string{fmt.Sprintf("remediation %s:", b.Scenario.Remediation)}
	if len(rem) == 0 {
		lines = append(lines, "  no object changes")
	}
	for _, o := range rem {
		lines = append(lines, "  apply "+objectLine(o)+changeNote(b, o))
	}
	for _, o := range b.Removed() {
		lines = append(lines, "  delete "+objectLine(o))
	}
	if bytes.Equal(b.MeshConfig, b.BaseMeshConfig) {
		lines = append(lines, "mesh config: unchanged")
	} else {
		lines = append(lines, "mesh config: merge into ConfigMap "+t.meshConfigMapName()+" key mesh:")
		lines = append(lines, fragmentLines(b.MeshConfig)...)
	}
	if r := rollouts(rem); r != "" {
		lines = append(lines, r)
	}
	return append(lines, t.planSync(b, fixtures.Remediated)...)
}

// changeNote says what a remediation object changes in its Base version.
func changeNote(b *fixtures.Bundle, o fixtures.Object) string {
	for _, bo := range b.Base {
		if bo.Key() != o.Key() {
			continue
		}
		if o.Kind == "Deployment" && o.Name == clientDeployment {
			var ann []string
			for k, v := range b.ClientAnnotations {
				ann = append(ann, k+"="+v)
			}
			sort.Strings(ann)
			return " (pod annotations " + strings.Join(ann, ", ") + ": rolls the client)"
		}
		return " (changed)"
	}
	return " (new)"
}

// PlanProbe describes Probe.
func (t *Target) PlanProbe(b *fixtures.Bundle, budget time.Duration) []string {
	lines := []string{t.hidePassword(b, fmt.Sprintf("exec in %s/%s container %s (through its sidecar): %s", b.Topology.ClientNamespace, clientDeployment, clientContainer,
		strings.Join(t.ProbeCommand(b, b.ServerAddr, budget, msgIDPlaceholder(b)), " ")))}
	return append(lines, t.planConfirm(b)...)
}

func msgIDPlaceholder(b *fixtures.Bundle) string {
	if b.Scenario.Protocol == scenarios.SMTP {
		return "<run-scenario-unique@firstbyte.test>"
	}
	return ""
}

func (t *Target) planConfirm(b *fixtures.Bundle) []string {
	if b.Scenario.Protocol != scenarios.SMTP {
		return nil
	}
	return []string{fmt.Sprintf("when connected: confirm delivery in %s/%s container %s: %s", b.Topology.ServerNamespace, serverDeployment, t.serverAgentContainer(b), strings.Join(GetCommand(t.confirmURL(b, msgIDPlaceholder(b))), " "))}
}

// PlanControl describes Control.
func (t *Target) PlanControl(b *fixtures.Bundle, budget time.Duration) []string {
	from, container, addr := t.controlPath(b)
	why := "no sidecar"
	if b.Scenario.Security.ServerSidecar {
		why = "the server's own pod over loopback, past its sidecar"
	}
	lines := []string{t.hidePassword(b, fmt.Sprintf("exec in %s container %s (%s): %s", from, container, why,
		strings.Join(t.ProbeCommand(b, addr, budget, msgIDPlaceholder(b)), " ")))}
	return append(lines, t.planConfirm(b)...)
}

// PlanCollider describes ColliderHTTP.
func (t *Target) PlanCollider(b *fixtures.Bundle) []string {
	if b.ColliderAddr == "" {
		if why := ambientColliderUnchecked(b); why != "" {
			return []string{why}
		}
		return []string{"none (no collider)"}
	}
	line := fmt.Sprintf("exec in %s/%s container %s: %s (must answer 2xx)", b.Topology.ClientNamespace, clientDeployment, clientContainer, strings.Join(GetCommand(ColliderURL(b)), " "))
	if b.Scenario.Ambient != nil {
		line += "; " + ambientColliderPath(b)
	}
	return []string{line}
}

// PlanRevert describes Revert.
func (t *Target) PlanRevert(b *fixtures.Bundle) []string {
	if b.Scenario.Remediation.Kind == scenarios.NoRemediation {
		return []string{"none"}
	}
	base := map[string]bool{}
	for _, o := range b.Base {
		base[o.Key()] = true
	}
	var lines []string
	for _, o := range b.Remediation() {
		if base[o.Key()] {
			lines = append(lines, "apply the base "+objectLine(o))
		} else {
			lines = append(lines, "delete "+objectLine(o))
		}
	}
	for _, o := range b.Removed() {
		lines = append(lines, "re-create "+objectLine(o))
	}
	if !bytes.Equal(b.MeshConfig, b.BaseMeshConfig) {
		lines = append(lines, "mesh config: merge the base fragment again (drops the remediation's fields)")
	}
	return append(lines, t.planSync(b, fixtures.Base)...)
}

// PlanEvidence describes Evidence.
func (t *Target) PlanEvidence(*fixtures.Bundle) []string {
	return []string{"on failure: " + strings.Join(EvidenceFiles, ", ")}
}

// PlanSetup describes Setup: its steps, numbered, with their plan lines.
func (t *Target) PlanSetup() []string { return planSteps(t.SetupSteps()) }

// PlanTeardown describes Teardown.
func (t *Target) PlanTeardown() []string { return planSteps(t.TeardownSteps()) }

func planSteps(steps []Step) []string {
	var out []string
	for i, s := range steps {
		out = append(out, fmt.Sprintf("%d. %s", i+1, s.Name))
		for _, l := range s.Plan {
			out = append(out, "   "+l)
		}
	}
	return out
}

// PlanIstioLines names, for the dry run, every Istio line of the CI matrix
// (ISTIO_VERSIONS) with the kind node image it runs on, and marks this
// run's line (ISTIO_VERSION). The cluster target runs the cluster's own.
func (t *Target) PlanIstioLines() []string {
	if t.cfg.Target != Kind || t.cfg.Pins == nil {
		return []string{"the cluster's own Istio (read from istiod at set-up)"}
	}
	var out []string
	for _, v := range t.cfg.Pins.IstioVersions() {
		line := fmt.Sprintf("Istio %s on node image %s", v, t.cfg.Pins.NodeImage(v, nil))
		if v == t.cfg.IstioVersion {
			line += "  <- this run (ISTIO_VERSION)"
		}
		out = append(out, line)
	}
	if !slices.Contains(t.cfg.Pins.IstioVersions(), t.cfg.IstioVersion) {
		out = append(out, fmt.Sprintf("this run: Istio %s on node image %s (not a matrix line)", t.cfg.IstioVersion, t.cfg.NodeImage))
	}
	return out
}
