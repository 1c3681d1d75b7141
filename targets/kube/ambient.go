package kube

// The ambient profile (issue 14). Switching Istio's data-plane profile is
// cluster-wide (istio-cni and ztunnel run on every node), so ambient
// scenarios run in a kind cluster of their own (PROFILE=ambient; the e2e
// workflow's kind-ambient job, one per Istio line), and each profile skips
// the other's scenarios with the reason named.
//
// Set-up adds the Gateway API CRDs (a waypoint is a Gateway) from the
// sigs.k8s.io/gateway-api module go.mod pins, the same version whose Go
// types the fixtures decode into, and installs Istio with profile ambient,
// then waits for the istio-cni and ztunnel DaemonSets. Before each probe
// the waits are on configuration, never sleeps: the waypoint's Envoy
// config_dump must inspect the scenario's port as Istio's generator builds
// it, and ztunnel's config_dump (istioctl ztunnel-config all -o json) must
// bind the destination Service to the waypoint predict's WDS names (or to
// none). Evidence saves both.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

// Data-plane profiles of the kube targets (env PROFILE).
const (
	ProfileSidecar = "sidecar"
	ProfileAmbient = "ambient"
	// ProfileEnv selects the profile.
	ProfileEnv = "PROFILE"
	// AmbientKindCluster is the ambient profile's kind cluster when
	// KIND_CLUSTER is unset.
	AmbientKindCluster = "firstbyte-ambient"
	// GatewayAPIModule provides the Gateway API CRDs.
	GatewayAPIModule = "sigs.k8s.io/gateway-api"
)

// ambientDaemonSets are what the ambient profile adds on every node.
var ambientDaemonSets = []string{"istio-cni-node", "ztunnel"}

// AmbientWant is what an ambient scenario's cluster must show, from
// Istio's generator (the e2e suite wires predict.ExpectedAmbient).
type AmbientWant struct {
	// WaypointDump is the waypoint's expected config_dump; nil when the
	// scenario has no waypoint.
	WaypointDump []byte
	// WaypointName is the Gateway the dump is of: the scenario's waypoint,
	// or the server's own (serverWaypoint: own).
	WaypointName string
	// Inspect says what a waypoint config_dump's main_internal does on a
	// port (predict.WaypointInspection): live and expected must agree.
	Inspect func(dump []byte, source string, port int) (string, error)
	// ServiceNamespace/ServiceHostname is the destination as ztunnel
	// knows it; ServiceWaypoint its waypoint's hostname, "" for none.
	ServiceNamespace, ServiceHostname, ServiceWaypoint string
	// ColliderNamespace/ColliderHostname is the collider as ztunnel
	// knows it (empty without one); ColliderWaypoint its waypoint.
	ColliderNamespace, ColliderHostname, ColliderWaypoint string
}

// bindings are the WDS Services the ztunnel wait checks: the
// destination, then the collider (behind the same waypoint, it is what
// keeps the waypoint's http_inspector on).
func (w AmbientWant) bindings() [][3]string {
	out := [][3]string{{w.ServiceNamespace, w.ServiceHostname, w.ServiceWaypoint}}
	if w.ColliderHostname != "" {
		out = append(out, [3]string{w.ColliderNamespace, w.ColliderHostname, w.ColliderWaypoint})
	}
	return out
}

// AmbientExpecter renders AmbientWant for the cluster's ClusterIPs.
type AmbientExpecter func(b *fixtures.Bundle, clusterIPs map[string]string) (AmbientWant, error)

func (t *Target) ambient() bool { return t.cfg.Profile == ProfileAmbient }

// profileRequirement skips the other profile's scenarios.
func (t *Target) profileRequirement(s scenarios.Scenario) string {
	switch {
	case s.Mode() == scenarios.ModeAmbient && !t.ambient() && t.cfg.Target == Kind:
		return fmt.Sprintf("needs the ambient profile (istio-cni, ztunnel, Gateway API CRDs), which is cluster-wide: run it with %s=%s in its own kind cluster %q (the e2e workflow's kind-ambient job)", ProfileEnv, ProfileAmbient, AmbientKindCluster)
	case s.Mode() == scenarios.ModeAmbient && !t.ambient():
		return fmt.Sprintf("needs the ambient profile (istio-cni, ztunnel, Gateway API CRDs): run it with %s=%s against a cluster whose Istio runs that profile", ProfileEnv, ProfileAmbient)
	case s.Mode() != scenarios.ModeAmbient && t.ambient():
		return fmt.Sprintf("a sidecar-mode scenario: the %s=%s run covers only mode:ambient; run it without %s", ProfileEnv, ProfileAmbient, ProfileEnv)
	}
	return ""
}

// Requirement implements targets.Skipper: the profile a row needs (the
// ambient profile, or the sidecar one), then what the dns-capture family
// needs (dns.go).
func (t *Target) Requirement(b *fixtures.Bundle) string {
	if why := t.profileRequirement(b.Scenario); why != "" {
		return why
	}
	return t.dnsRequirement(b)
}

// gatewayAPICRDs returns the standard-channel CRD manifests of the
// gateway-api module in go.mod, and the module version.
func (t *Target) gatewayAPICRDs() (files []string, version string, err error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", GatewayAPIModule)
	cmd.Dir = t.cfg.RepoRoot
	out, err := cmd.Output()
	if err != nil {
		return nil, "", fmt.Errorf("locating %s (go list -m in %s): %w: run go mod download", GatewayAPIModule, t.cfg.RepoRoot, err)
	}
	dir, version, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	files, err = filepath.Glob(filepath.Join(dir, "config", "crd", "standard", "gateway.networking.k8s.io_*.yaml"))
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("%s %s has no config/crd/standard CRDs in %s", GatewayAPIModule, version, dir)
	}
	return files, version, err
}

func (t *Target) stepGatewayAPI() Step {
	version := t.pin("GATEWAY_API_VERSION")
	plan := []string{
		fmt.Sprintf("Gateway API CRDs, standard channel, from %s %s (the version go.mod pins and hack/versions.env GATEWAY_API_VERSION names; a test keeps them equal): server-side apply of config/crd/standard/*.yaml", GatewayAPIModule, version),
		"then wait until the API server serves gateway.networking.k8s.io/v1 Gateway (waypoints are Gateways of class istio-waypoint)",
	}
	return Step{Name: "gateway api", Plan: plan, Run: func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		files, v, err := t.gatewayAPICRDs()
		if err != nil {
			return ctx, err
		}
		if version != "" && v != version {
			return ctx, fmt.Errorf("go.mod pins %s %s but hack/versions.env GATEWAY_API_VERSION=%s: make them equal", GatewayAPIModule, v, version)
		}
		for _, f := range files {
			if err := t.applyManifestFile(ctx, f); err != nil {
				return ctx, err
			}
		}
		wctx, cancel := context.WithTimeout(ctx, t.cfg.RolloutTimeout)
		defer cancel()
		return ctx, wait.PollUntilContextCancel(wctx, time.Second, true, func(ctx context.Context) (bool, error) {
			return t.client.List(ctx, &gatewayv1.GatewayList{}) == nil, nil
		})
	}}
}

// applyManifestFile server-side applies every document of a YAML file.
func (t *Target) applyManifestFile(ctx context.Context, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for _, doc := range bytes.Split(data, []byte("\n---")) {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := t.client.Patch(ctx, u, client.Apply, client.FieldOwner("firstbyte"), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s %s from %s: %w", u.GetKind(), u.GetName(), path, err)
		}
	}
	return nil
}

// withAmbientDaemonSets extends the Istio install step: the ambient
// profile is ready when its node agents are.
func (t *Target) withAmbientDaemonSets(s Step) Step {
	s.Plan = append(s.Plan, fmt.Sprintf("profile ambient: istiod with PILOT_ENABLE_AMBIENT, the istio-cni node agent and ztunnel; then wait for DaemonSets %s/%s and %s/%s to be ready on every node",
		"istio-system", ambientDaemonSets[0], "istio-system", ambientDaemonSets[1]))
	run := s.Run
	s.Run = func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		ctx, err := run(ctx, cfg)
		if err != nil {
			return ctx, err
		}
		for _, name := range ambientDaemonSets {
			if err := t.waitDaemonSet(ctx, types.NamespacedName{Namespace: "istio-system", Name: name}); err != nil {
				return ctx, err
			}
		}
		return ctx, nil
	}
	return s
}

func (t *Target) waitDaemonSet(ctx context.Context, key types.NamespacedName) error {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.RolloutTimeout)
	defer cancel()
	var last string
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		ds := &appsv1.DaemonSet{}
		if err := t.client.Get(ctx, key, ds); err != nil {
			last = err.Error()
			return false, nil
		}
		s := ds.Status
		last = fmt.Sprintf("%d ready of %d scheduled", s.NumberReady, s.DesiredNumberScheduled)
		return s.DesiredNumberScheduled > 0 && s.NumberReady == s.DesiredNumberScheduled && s.UpdatedNumberScheduled == s.DesiredNumberScheduled, nil
	})
	if err != nil {
		return fmt.Errorf("DaemonSet %s not ready (%s): %w", key, last, err)
	}
	return nil
}

// serviceIPs are the ClusterIPs the cluster gave the bundle's Services.
func (t *Target) serviceIPs(ctx context.Context, b *fixtures.Bundle) (map[string]string, error) {
	ips := map[string]string{}
	for _, o := range append(slices.Clone(b.Base), b.Final...) {
		if o.Kind != "Service" {
			continue
		}
		svc := &corev1.Service{}
		err := t.client.Get(ctx, types.NamespacedName{Namespace: o.Namespace, Name: o.Name}, svc)
		if client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("reading Service %s/%s: %w", o.Namespace, o.Name, err)
		}
		if err == nil {
			ips[o.Namespace+"/"+o.Name] = svc.Spec.ClusterIP
		}
	}
	return ips, nil
}

// waypointKey is the Deployment istiod's gateway controller makes for the
// scenario's waypoint Gateway.
func waypointKey(b *fixtures.Bundle) types.NamespacedName {
	return deploymentKey(b.Topology.ServerNamespace, fixtures.WaypointName)
}

// destinationWaypoint is the Deployment of the waypoint the destination
// is bound to: the scenario's, or the server's own.
func (w AmbientWant) destinationWaypoint(b *fixtures.Bundle) types.NamespacedName {
	if w.WaypointName == "" {
		return waypointKey(b)
	}
	return deploymentKey(b.Topology.ServerNamespace, w.WaypointName)
}

// syncAmbient waits until the waypoint and ztunnel carry what Istio's
// generator builds for the scenario.
func (t *Target) syncAmbient(ctx context.Context, b *fixtures.Bundle) error {
	if t.cfg.ExpectAmbient == nil {
		return errors.New("the kube target needs Istio's generator to know what the waypoint and ztunnel must show: set kube.Config.ExpectAmbient (the e2e suite sets predict.ExpectedAmbient)")
	}
	ips, err := t.serviceIPs(ctx, b)
	if err != nil {
		return err
	}
	want, err := t.cfg.ExpectAmbient(b, ips)
	if err != nil {
		return fmt.Errorf("%s: Istio's generator: %w", b.Scenario.ID, err)
	}
	if want.WaypointDump != nil {
		if err := t.waitRollout(ctx, want.destinationWaypoint(b)); err != nil {
			return err
		}
		if err := t.waitWaypoint(ctx, b, want); err != nil {
			return err
		}
	}
	return t.waitZtunnel(ctx, b, want)
}

// waitWaypoint polls the waypoint's config_dump until main_internal
// inspects the scenario's port as the generated waypoint does.
func (t *Target) waitWaypoint(ctx context.Context, b *fixtures.Bundle, want AmbientWant) error {
	wantText, err := want.Inspect(want.WaypointDump, "expected waypoint of "+b.Scenario.ID, b.Scenario.Port)
	if err != nil {
		return err
	}
	return t.pollConfig(ctx, b, "waypoint "+wantText, func(ctx context.Context) (bool, string, error) {
		key := want.destinationWaypoint(b)
		raw, err := t.rawConfigDump(ctx, key, ConfigDumpCommand())
		if err != nil {
			return false, err.Error(), nil
		}
		got, err := want.Inspect(raw, "waypoint "+key.String(), b.Scenario.Port)
		if err != nil {
			return false, err.Error(), nil
		}
		return got == wantText, got, nil
	})
}

// waitZtunnel polls ztunnel's config until the destination Service (and
// the collider, if any) is bound to the expected waypoint (or to none).
func (t *Target) waitZtunnel(ctx context.Context, b *fixtures.Bundle, want AmbientWant) error {
	for _, bd := range want.bindings() {
		what := fmt.Sprintf("ztunnel: Service %s/%s with waypoint %q", bd[0], bd[1], bd[2])
		err := t.pollConfig(ctx, b, what, func(ctx context.Context) (bool, string, error) {
			raw, err := t.ztunnelConfig(ctx)
			if err != nil {
				return false, err.Error(), nil
			}
			got, found, err := ZtunnelServiceWaypoint(raw, bd[0], bd[1])
			if err != nil || !found {
				return false, fmt.Sprintf("service not in ztunnel's config (%v)", err), nil
			}
			return got == bd[2], fmt.Sprintf("waypoint %q", got), nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (t *Target) pollConfig(ctx context.Context, b *fixtures.Bundle, what string, check func(context.Context) (bool, string, error)) error {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.SyncTimeout)
	defer cancel()
	start := time.Now()
	var seen string
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		ok, s, err := check(ctx)
		seen = s
		return ok, err
	})
	if err != nil {
		return fmt.Errorf("%s: waiting for %s: last seen %s: %w", b.Scenario.ID, what, seen, err)
	}
	t.progress("%s: %s (%s)", b.Scenario.ID, what, time.Since(start).Round(time.Millisecond))
	return nil
}

func (t *Target) rawConfigDump(ctx context.Context, key types.NamespacedName, command []string) ([]byte, error) {
	pod, err := t.applier.RunningPod(ctx, key)
	if err != nil {
		return nil, err
	}
	out, _, err := t.exec.Exec(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}, proxyContainer, command)
	return out, err
}

// ZtunnelConfigCommand reads every ztunnel's admin /config_dump (istioctl
// port-forwards to its admin port; the ztunnel image has no shell).
func ZtunnelConfigCommand(istioctl, kubeconfig string) []string {
	return []string{istioctl, "ztunnel-config", "all", "-o", "json", "--kubeconfig", kubeconfig}
}

func (t *Target) ztunnelConfig(ctx context.Context) ([]byte, error) {
	if t.ztunnelFetch != nil {
		return t.ztunnelFetch(ctx)
	}
	argv := ZtunnelConfigCommand(t.istioctl.Path, t.env.KubeconfigFile())
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", strings.Join(argv[:4], " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// ZtunnelServiceWaypoint finds a Service in ztunnel's config_dump (the
// "services" list of ztunnel's ProxyState serialization, src/state.rs;
// each Service has namespace, hostname and, when bound, a waypoint:
// src/state/service.rs) and returns its waypoint's hostname ("" for
// none).
func ZtunnelServiceWaypoint(raw []byte, namespace, hostname string) (waypoint string, found bool, err error) {
	var dump struct {
		Services []struct {
			Namespace string          `json:"namespace"`
			Hostname  string          `json:"hostname"`
			Waypoint  json.RawMessage `json:"waypoint"`
		} `json:"services"`
	}
	if err := json.Unmarshal(raw, &dump); err != nil {
		return "", false, fmt.Errorf("ztunnel config is not ztunnel's config_dump JSON: %w", err)
	}
	for _, s := range dump.Services {
		if s.Namespace != namespace || s.Hostname != hostname {
			continue
		}
		if len(s.Waypoint) == 0 || string(s.Waypoint) == "null" {
			return "", true, nil
		}
		var w struct {
			Destination struct {
				Hostname struct {
					Hostname string `json:"hostname"`
				} `json:"hostname"`
			} `json:"destination"`
		}
		if err := json.Unmarshal(s.Waypoint, &w); err != nil {
			return "", true, fmt.Errorf("service %s/%s: waypoint %s: %w", namespace, hostname, s.Waypoint, err)
		}
		if w.Destination.Hostname.Hostname == "" {
			return string(s.Waypoint), true, nil
		}
		return w.Destination.Hostname.Hostname, true, nil
	}
	return "", false, nil
}

// ambientEvidence saves the waypoint's config_dump and ztunnel's config.
func (t *Target) ambientEvidence(ctx context.Context, b *fixtures.Bundle, write func(string, []byte)) []error {
	var errs []error
	if b.Scenario.Ambient.Waypoint != scenarios.WaypointNone {
		raw, err := t.rawConfigDump(ctx, waypointKey(b), EvidenceConfigDumpCommand())
		if err != nil {
			errs = append(errs, fmt.Errorf("waypoint config_dump: %w", err))
		} else {
			write("waypoint_config_dump.json", raw)
		}
	}
	raw, err := t.ztunnelConfig(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("ztunnel config: %w", err))
	} else {
		write("ztunnel_config_dump.json", raw)
	}
	return errs
}

// planAmbient describes syncAmbient with the plan's addresses.
func (t *Target) planAmbient(b *fixtures.Bundle) []string {
	if b.Scenario.Ambient == nil {
		return nil
	}
	if t.cfg.ExpectAmbient == nil {
		return []string{"wait: the waypoint's and ztunnel's config (no generator wired: set kube.Config.ExpectAmbient)"}
	}
	sb, ips, _, err := planStandIns(b)
	if err != nil {
		return []string{"wait: the waypoint's and ztunnel's config: " + err.Error()}
	}
	want, err := t.cfg.ExpectAmbient(sb, ips)
	if err != nil {
		return []string{"wait: the waypoint's and ztunnel's config: Istio's generator failed: " + err.Error()}
	}
	var lines []string
	if want.WaypointDump != nil {
		text, err := want.Inspect(want.WaypointDump, "expected waypoint of "+b.Scenario.ID, b.Scenario.Port)
		if err != nil {
			text = "(" + err.Error() + ")"
		}
		key := want.destinationWaypoint(b)
		lines = append(lines,
			fmt.Sprintf("wait: rollout of Deployment %s (istiod's gateway controller creates the waypoint for Gateway %s)", key, key),
			fmt.Sprintf("wait: the waypoint's config_dump (%s in %s) shows what Istio's generator builds: %s", strings.Join(ConfigDumpCommand(), " "), proxyContainer, text))
	}
	for i, bd := range want.bindings() {
		wp, role := bd[2], "the destination"
		if wp == "" {
			wp = "none"
		}
		if i > 0 {
			role = "the collider"
		}
		lines = append(lines, fmt.Sprintf("wait: ztunnel's config_dump (istioctl ztunnel-config all -o json) binds Service %s/%s (%s) to waypoint %s, as istiod's WDS does", bd[0], bd[1], role, wp))
	}
	return lines
}

// ambientColliderPath says how an ambient collider check travels: the
// client's ztunnel sends the service-addressed request to the collider's
// waypoint when WDS binds one (the same waypoint as the server's).
func ambientColliderPath(b *fixtures.Bundle) string {
	switch a := b.Scenario.Ambient; {
	case a.Client == scenarios.ClientSidecar:
		return "the client sidecar sends it to the collider's endpoint (a sidecar never uses a waypoint)"
	case a.Client == scenarios.ClientOutside:
		return "from outside the mesh, in plaintext to the collider's ztunnel"
	case a.Waypoint == scenarios.WaypointService || a.Waypoint == scenarios.WaypointAll:
		return fmt.Sprintf("through the client's ztunnel and waypoint %s/%s, whose main_internal detects HTTP and routes it to the collider", b.Topology.ServerNamespace, fixtures.WaypointName)
	}
	return "through the client's ztunnel at L4 (no waypoint serves the collider Service)"
}

// ambientColliderUnchecked says why an ambient collider gets no HTTP
// check: an external server's collider is a ServiceEntry for a name that
// resolves nowhere.
func ambientColliderUnchecked(b *fixtures.Bundle) string {
	if b.Scenario.Ambient == nil || !b.Scenario.Collider.Present || b.Scenario.Placement != scenarios.External {
		return ""
	}
	return fmt.Sprintf("none: the collider is ServiceEntry %s/%s (host %s, bound to the egress waypoint), an external name that resolves nowhere; it is there for its port declaration and gets no traffic", b.Topology.ServerNamespace, fixtures.EgressColliderServiceEntry, fixtures.EgressColliderHost)
}

// PlanAmbientProfile describes the ambient profile's own run, for the
// plan of the other profile (its scenarios are skipped there).
func (t *Target) PlanAmbientProfile() []string {
	if t.ambient() || t.cfg.Target != Kind {
		return nil
	}
	return []string{
		fmt.Sprintf("ambient profile: a separate run per Istio line (%s=%s; the e2e workflow's kind-ambient job) in its own kind cluster %q:", ProfileEnv, ProfileAmbient, AmbientKindCluster),
		fmt.Sprintf("  Gateway API CRDs %s from %s; Istio with hack/istio/values-ambient.yaml.tmpl (profile ambient: istiod, istio-cni, ztunnel); waits for the istio-cni-node and ztunnel DaemonSets", t.pin("GATEWAY_API_VERSION"), GatewayAPIModule),
		"  each ambient scenario: its waypoint Gateway (gatewayClassName istio-waypoint, label istio.io/waypoint-for) and istio.io/use-waypoint bindings; waits on the waypoint's config_dump and on ztunnel's config (istioctl ztunnel-config all -o json), evidence saves both",
		fmt.Sprintf("  print that plan: %s=%s make e2e DRY_RUN=1", ProfileEnv, ProfileAmbient),
	}
}
