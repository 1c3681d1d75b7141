package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/envoy/configdump"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/targets/kube/sidecarsync"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

func itoa(i int) string { return strconv.Itoa(i) }

// placeholderServerIP renders a scenario before its server runs: only the
// namespaces and the server, which do not depend on the address, are used.
const placeholderServerIP = "<server-pod-IP>"

// Topology implements targets.Target: the target's topology plus the
// external server's address, its pod IP. It
// starts the scenario's server (namespaces and the server Deployment, as
// rendered) and waits for it, because a pod IP exists only once the pod
// does. The later Deploy applies the same objects unchanged.
func (t *Target) Topology(ctx context.Context, s scenarios.Scenario) (fixtures.Topology, error) {
	topo := t.cfg.topology()
	if err := t.refuseMeshWide(s); err != nil {
		return topo, err
	}
	pre := topo
	pre.ServerIP = placeholderServerIP
	b, err := fixtures.Render(s, pre)
	if err != nil {
		return topo, err
	}
	var first []fixtures.Object
	for _, o := range b.Base {
		if o.Template == "namespaces" {
			first = append(first, o)
		}
	}
	if t.upstreamFor(b) != nil { // the server reads it at start
		first = append(first, t.secretObject(topo))
	}
	for _, o := range b.Base {
		if o.Template == "server" && o.Kind == "Deployment" {
			first = append(first, o)
		}
	}
	if err := t.applier.Apply(ctx, first); err != nil {
		return topo, err
	}
	key := deploymentKey(topo.ServerNamespace, serverDeployment)
	if err := t.waitRollout(ctx, key); err != nil {
		return topo, err
	}
	pod, err := t.applier.RunningPod(ctx, key)
	if err != nil {
		return topo, err
	}
	if pod.Status.PodIP == "" {
		return topo, fmt.Errorf("server pod %s/%s is ready but has no IP", pod.Namespace, pod.Name)
	}
	topo.ServerIP = pod.Status.PodIP
	return topo, nil
}

func (t *Target) waitRollout(ctx context.Context, key types.NamespacedName) error {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.RolloutTimeout)
	defer cancel()
	return t.applier.WaitRollout(ctx, key)
}

// Deploy implements targets.Target: apply the Base objects and the control
// pod, prune what an earlier scenario left, set the scenario's mesh
// options, wait for every rollout, then wait until the client sidecar
// shows the base state.
func (t *Target) Deploy(ctx context.Context, b *fixtures.Bundle) error {
	if err := t.refuseMeshWide(b.Scenario); err != nil {
		return err
	}
	if err := t.applier.Apply(ctx, b.Base); err != nil {
		return err
	}
	control := controlObject(b.Topology)
	if err := t.applier.ApplyObject(ctx, control); err != nil {
		return fmt.Errorf("applying the control pod %s: %w", controlKey(b.Topology), err)
	}
	keep := map[string]bool{controlKey(b.Topology): true}
	for _, o := range b.Base {
		keep[o.Key()] = true
	}
	pruned, err := t.applier.Prune(ctx, t.namespacesOf(b), keep)
	if err != nil {
		return err
	}
	if len(pruned) > 0 {
		t.progress("%s: pruned %v", b.Scenario.ID, pruned)
	}
	if _, err := t.mesh.Apply(ctx, b.BaseMeshConfig); err != nil {
		return err
	}
	deployments := append(deploymentsIn(b.Base), deploymentKey(control.Namespace, control.Name))
	for _, d := range deployments {
		if err := t.waitRollout(ctx, d); err != nil {
			return err
		}
	}
	if err := t.syncSidecars(ctx, b, fixtures.Base); err != nil || b.Scenario.Ambient == nil {
		return err
	}
	return t.syncAmbient(ctx, b)
}

func (t *Target) namespacesOf(b *fixtures.Bundle) []string {
	return []string{b.Topology.ClientNamespace, b.Topology.ServerNamespace, b.Topology.ColliderNamespace}
}

func deploymentsIn(objs []fixtures.Object) []types.NamespacedName {
	var out []types.NamespacedName
	for _, o := range objs {
		if o.Kind == "Deployment" {
			out = append(out, deploymentKey(o.Namespace, o.Name))
		}
	}
	return out
}

// Remediate implements targets.Target: apply the remediation's objects,
// delete what it removes, merge its meshConfig, wait for rollouts (pod
// annotations roll the client), then wait until the client sidecar shows
// the remediated state.
func (t *Target) Remediate(ctx context.Context, b *fixtures.Bundle) error {
	rem := b.Remediation()
	if err := t.applier.Apply(ctx, rem); err != nil {
		return err
	}
	if err := t.applier.Delete(ctx, b.Removed()); err != nil {
		return err
	}
	if _, err := t.mesh.Apply(ctx, b.MeshConfig); err != nil {
		return err
	}
	for _, d := range deploymentsIn(rem) {
		if err := t.waitRollout(ctx, d); err != nil {
			return err
		}
	}
	return t.syncSidecars(ctx, b, fixtures.Remediated)
}

// Revert implements targets.Target: put back the Base version of every
// object the remediation changed, delete what it added, restore the base
// meshConfig, and wait until the client sidecar shows the base state again.
func (t *Target) Revert(ctx context.Context, b *fixtures.Bundle) error {
	base := map[string]fixtures.Object{}
	for _, o := range b.Base {
		base[o.Key()] = o
	}
	var restore, added []fixtures.Object
	for _, o := range b.Remediation() {
		if bo, ok := base[o.Key()]; ok {
			restore = append(restore, bo)
		} else {
			added = append(added, o)
		}
	}
	restore = append(restore, b.Removed()...)
	if err := t.applier.Delete(ctx, added); err != nil {
		return err
	}
	if err := t.applier.Apply(ctx, restore); err != nil {
		return err
	}
	if _, err := t.mesh.Apply(ctx, b.BaseMeshConfig); err != nil {
		return err
	}
	for _, d := range deploymentsIn(restore) {
		if err := t.waitRollout(ctx, d); err != nil {
			return err
		}
	}
	return t.syncSidecars(ctx, b, fixtures.Base)
}

// syncSidecars waits until the running client pod carries the state's
// annotations and its sidecar's config_dump shows the state's listeners,
// clusters, TLS, detection timeout and outbound policy; and, when the
// server has its own sidecar, until that one shows the state's inbound
// mTLS mode and authorization.
func (t *Target) syncSidecars(ctx context.Context, b *fixtures.Bundle, phase fixtures.Phase) error {
	clientKey := deploymentKey(b.Topology.ClientNamespace, clientDeployment)
	pod, err := t.applier.RunningPod(ctx, clientKey)
	if err != nil {
		return err
	}
	want := b.BaseAnnotations
	if phase == fixtures.Remediated {
		want = b.ClientAnnotations
	}
	if err := annotationsMatch(pod, want); err != nil {
		return err
	}
	conds, err := t.expected(ctx, b, phase)
	if err != nil {
		return err
	}
	if !b.Scenario.Security.NoClientSidecar {
		if err := t.waitSidecar(ctx, b, phase, "client", clientKey, conds.client); err != nil {
			return err
		}
	}
	if conds.server != nil {
		return t.waitSidecar(ctx, b, phase, "server", deploymentKey(b.Topology.ServerNamespace, serverDeployment), conds.server)
	}
	return nil
}

func (t *Target) waitSidecar(ctx context.Context, b *fixtures.Bundle, phase fixtures.Phase, who string, key types.NamespacedName, conds []sidecarsync.Condition) error {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.SyncTimeout)
	defer cancel()
	start := time.Now()
	err := sidecarsync.Wait(ctx, func(ctx context.Context) (*configdump.Dump, error) {
		_, d, err := t.configDump(ctx, key, ConfigDumpCommand())
		return d, err
	}, conds, 500*time.Millisecond, 10*time.Second, func(s string) { t.progress("%s: %s", b.Scenario.ID, s) })
	if err != nil {
		return fmt.Errorf("%s (%s state, %s sidecar): %w", b.Scenario.ID, phase, who, err)
	}
	t.progress("%s: %s sidecar shows the %s state (%d checks, %s)", b.Scenario.ID, who, phase, len(conds), time.Since(start).Round(time.Millisecond))
	return nil
}

// sidecarConditions are what a state's sidecars must show; server is nil
// when the server runs no sidecar.
type sidecarConditions struct{ client, server []sidecarsync.Condition }

// expected derives what the sidecars must show for a state: Istio's
// generator (Config.Expect) renders their config for the state's objects
// with the ClusterIPs the cluster assigned, and sidecarsync compares the
// run's part of it.
func (t *Target) expected(ctx context.Context, b *fixtures.Bundle, phase fixtures.Phase) (sidecarConditions, error) {
	ips, err := t.serviceIPs(ctx, b)
	if err != nil {
		return sidecarConditions{}, err
	}
	foreign, err := t.foreignPorts(ctx)
	if err != nil {
		return sidecarConditions{}, err
	}
	return t.conditions(b, phase, ips, foreign)
}

// conditions turns the expected config_dumps of a state into conditions
// on the live sidecars.
func (t *Target) conditions(b *fixtures.Bundle, phase fixtures.Phase, ips map[string]string, foreign []int) (sidecarConditions, error) {
	if t.cfg.Expect == nil {
		return sidecarConditions{}, errors.New("the kube target needs Istio's generator to know what the sidecars must show: set kube.Config.Expect (the e2e suite sets predict.ExpectedConfigDumps)")
	}
	clientDump, serverDump, err := t.cfg.Expect(b, phase, ips)
	if err != nil {
		return sidecarConditions{}, fmt.Errorf("%s (%s state): Istio's generator: %w", b.Scenario.ID, phase, err)
	}
	scope := sidecarsync.ScopeOf(b, ips)
	scope.ForeignPorts = foreign
	var out sidecarConditions
	if clientDump != nil {
		want, err := configdump.Parse(clientDump, "expected client sidecar of "+b.Scenario.ID, envoy.Strict)
		if err != nil {
			return out, err
		}
		out.client = sidecarsync.Expect(want, scope)
	}
	if serverDump != nil {
		want, err := configdump.Parse(serverDump, "expected server sidecar of "+b.Scenario.ID, envoy.Strict)
		if err != nil {
			return out, err
		}
		out.server = sidecarsync.ExpectServer(want, b.Scenario.Port)
	}
	return out, nil
}

// foreignPorts lists the ports Services outside the run declare: Istio
// may keep a wildcard listener on them whatever the run does.
func (t *Target) foreignPorts(ctx context.Context) ([]int, error) {
	list := &corev1.ServiceList{}
	if err := t.client.List(ctx, list); err != nil {
		return nil, fmt.Errorf("listing Services: %w", err)
	}
	var ports []int
	for _, svc := range list.Items {
		if svc.Labels[fixtures.LabelRun] == t.cfg.RunID {
			continue
		}
		for _, p := range svc.Spec.Ports {
			if !slices.Contains(ports, int(p.Port)) {
				ports = append(ports, int(p.Port))
			}
		}
	}
	return ports, nil
}

// configDump reads the sidecar config of a Deployment's running pod
// through pilot-agent (no port-forward needed).
func (t *Target) configDump(ctx context.Context, key types.NamespacedName, command []string) ([]byte, *configdump.Dump, error) {
	pod, err := t.applier.RunningPod(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	out, _, err := t.exec.Exec(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}, proxyContainer, command)
	if err != nil {
		return nil, nil, err
	}
	d, err := configdump.Parse(out, pod.Namespace+"/"+pod.Name, envoy.Tolerant)
	return out, d, err
}

// ConfigDumpCommand reads the sidecar's Envoy admin config_dump, as the
// waits poll it: listeners, clusters and routes, without endpoints, which
// keeps each poll small on a large cluster.
func ConfigDumpCommand() []string {
	return []string{"pilot-agent", "request", "GET", "config_dump"}
}

// EvidenceConfigDumpCommand reads the config_dump with its endpoints for
// evidence: which transport socket a cluster uses (Istio auto mTLS)
// depends on the endpoint's metadata, so explaining a live sidecar needs
// them.
func EvidenceConfigDumpCommand() []string {
	return []string{"pilot-agent", "request", "GET", "config_dump?include_eds"}
}

// StatsCommand reads the sidecar's Envoy stats that mention the port.
func StatsCommand(port int) []string {
	return []string{"pilot-agent", "request", "GET", "stats?filter=" + strconv.Itoa(port)}
}
