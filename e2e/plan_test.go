package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/runner"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/targets/kube/resources"
)

func planFor(t *testing.T, name string) (string, *runner.Plan) {
	t.Helper()
	o, err := runner.OptionsFromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	o.Target = name
	tg, err := NewTarget(o)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := tg.(runner.Planner)
	if !ok {
		t.Fatalf("%s is not a runner.Planner", name)
	}
	var out strings.Builder
	plan, err := runner.WritePlan(&out, p, scenarios.Catalogue(), scenarios.CatalogueFile, o)
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), plan
}

// index returns where s first appears at or after from, failing when it
// does not.
func index(t *testing.T, text, s string, from int) int {
	t.Helper()
	i := strings.Index(text[from:], s)
	if i < 0 {
		t.Fatalf("the plan lacks %q after offset %d", s, from)
	}
	return from + i
}

// The dry-run plan of the kind target: set-up (Docker check, kind cluster
// with its pinned node image and config, Istio with its values, image build
// and load) before every catalogue scenario in order, each scenario's
// phases in the suite's order, then tear-down and reports.
func TestKindPlan(t *testing.T) {
	text, plan := planFor(t, "kind")
	pos := 0
	for _, s := range []string{
		"target kind", "== Istio lines", "Istio 1.30.8 on node image kindest/node:v1.34.11@sha256:",
		"Istio 1.31.4 on node image kindest/node:v1.35.8@sha256:", "Istio 1.32.0 on node image kindest/node:v1.36.4@sha256:",
		"== set-up", "1. docker", "2. kind cluster", "node image: kindest/node:", "@sha256:",
		"kind config: hack/kind-config.yaml", "3. connect", "4. istio", "istioctl", "kind: IstioOperator",
		"mode: ALLOW_ANY", "accessLogFile: /dev/stdout", "5. image", "docker build -f servers/Dockerfile", "ctr images import",
		"== scenarios",
	} {
		pos = index(t, text, s, pos)
	}
	all := scenarios.Catalogue()
	if len(plan.Scenarios) != len(all) {
		t.Fatalf("planned %d scenarios, the catalogue has %d", len(plan.Scenarios), len(all))
	}
	for i, s := range all {
		pos = index(t, text, fmt.Sprintf("-- [%d/%d] ", i+1, len(all))+s.ID+": expect "+s.Expect.String(), pos)
		// A row the target skips (targets.Skipper) says so instead of
		// listing phases.
		entry := text[pos:]
		if next := strings.Index(entry[1:], "\n-- ["); next >= 0 {
			entry = entry[:next+1]
		}
		if s.Mode() == scenarios.ModeAmbient && !strings.Contains(entry, "skipped on this target (counted as skipped): needs the ambient profile") {
			// The ambient profile runs in its own cluster (PROFILE=ambient).
			t.Errorf("%s: the default plan must skip it for the ambient profile:\n%s", s.ID, entry)
		}
		if strings.Contains(entry, "\n   skipped on this target (counted as skipped): ") {
			continue
		}
		for _, ph := range append([]string{"render"}, runner.PhaseNames()...) {
			pos = index(t, text, "\n   "+ph+":\n", pos)
		}
	}
	for _, s := range []string{"== tear-down", "mesh config", "run objects", "kind cluster", "== reports", "junit.xml", "report.json", "report.md", "object kinds rendered:"} {
		pos = index(t, text, s, pos)
	}
	if strings.Count(text, "docker") == 0 || !strings.Contains(strings.ToLower(text), "istio") {
		t.Error("the plan must mention kind and istio")
	}
}

// The plan names each scenario's objects, remediation, mesh config
// changes, probes with their budgets, collider check and revert.
func TestPlanScenarioDetail(t *testing.T) {
	text, _ := planFor(t, "kind")
	block := func(id string) string { return planBlock(t, text, id) }
	se := block("mysql-10000-http-serviceentry-tcp")
	for _, want := range []string{
		"Deployment fb-collider/collider", "Service fb-collider/collider", "Deployment fb-server/control",
		"apply ServiceEntry fb-client/external-mysql (new)", "listener <server-pod-IP>_10000 present",
		"/firstbyte-agent probe mysql --addr <server-pod-IP>:10000 --budget 1s",
		"get --url http://collider.fb-collider.svc.cluster.local:10000/", "delete ServiceEntry fb-client/external-mysql",
		"expect connects", "control (only when the probe hangs)",
	} {
		if !strings.Contains(se, want) {
			t.Errorf("serviceentry-tcp block lacks %q:\n%s", want, se)
		}
	}
	pdt := block("mysql-10000-http-protocol-detection-timeout")
	for _, want := range []string{"mesh config: merge into ConfigMap istio-system/istio", "protocolDetectionTimeout: 1s", "listener_filters_timeout 1s", "--budget 2s", "mesh config: merge the base fragment again"} {
		if !strings.Contains(pdt, want) {
			t.Errorf("protocol-detection-timeout block lacks %q:\n%s", want, pdt)
		}
	}
	ex := block("mysql-10000-http-exclude-ip-ranges")
	if !strings.Contains(ex, "excludeOutboundIPRanges=<server-pod-IP>/32: rolls the client") {
		t.Errorf("exclude-ip-ranges block does not say the client rolls:\n%s", ex)
	}
	smtp := block("smtp-25-http")
	if !strings.Contains(smtp, "--message-id") || !strings.Contains(smtp, "/messages?message-id=") {
		t.Errorf("smtp block does not confirm delivery:\n%s", smtp)
	}
	if late := block("mysql-10000-http-protocol-detection-timeout"); !strings.Contains(late, "expect connects-after 1s (budget 2s)") {
		t.Errorf("a late connect widens the budget (Expectation.Budget):\n%s", late[:200])
	}
}

// Every object the plan rendered decodes strictly, every kind is listed
// in the plan, and the target knows how to prune and tear down each
// namespaced kind.
func TestPlanObjectsDecodeStrictly(t *testing.T) {
	text, plan := planFor(t, "kind")
	kinds := map[string]bool{}
	for _, ps := range plan.Scenarios {
		for _, o := range append(append([]fixtures.Object{}, ps.Bundle.Base...), ps.Bundle.Final...) {
			if _, err := fixtures.DecodeStrict(o.YAML); err != nil {
				t.Errorf("%s: %s: %v", ps.Scenario.ID, o.Key(), err)
			}
			kinds[o.Kind] = true
		}
		if _, err := fixtures.DecodeMeshConfig(ps.Bundle.MeshConfig); err != nil {
			t.Errorf("%s: meshConfig: %v", ps.Scenario.ID, err)
		}
	}
	var pruned []string
	for _, gvk := range resources.PrunedKinds {
		pruned = append(pruned, gvk.Kind)
	}
	for k := range kinds {
		if !strings.Contains(text, "object kinds rendered:") || !strings.Contains(text[strings.Index(text, "object kinds rendered:"):], k) {
			t.Errorf("kind %s is rendered but not listed in the plan", k)
		}
		if k != "Namespace" && !slices.Contains(pruned, k) {
			t.Errorf("kind %s is rendered but resources.PrunedKinds lacks it: prune and tear-down would leave it behind", k)
		}
	}
}

func TestClusterPlan(t *testing.T) {
	text, _ := planFor(t, "cluster")
	pos := 0
	for _, s := range []string{"target cluster", "== mesh-wide changes", "the run stops here, before set-up", "FIRSTBYTE_DISPOSABLE_MESH", "1. connect", "KUBECONFIG", "2. istio", "istiod", "3. image", "FIRSTBYTE_IMAGE", "== scenarios", "fb-client-", "== tear-down", "delete every object and namespace labelled firstbyte.dev/run="} {
		pos = index(t, text, s, pos)
	}
	if strings.Contains(text, "kind cluster \"") {
		t.Error("the cluster plan mentions creating a kind cluster")
	}
}

func TestLabelFilterForThePlan(t *testing.T) {
	got, err := runner.FilterByLabels(scenarios.Catalogue(), "protocol:smtp && remediation:serviceentry-tcp")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Fatal("no scenario matched")
	}
	for _, s := range got {
		if s.Protocol != scenarios.SMTP || s.Remediation.Kind != scenarios.ServiceEntryTCP {
			t.Errorf("%s matched the filter", s.ID)
		}
	}
	if _, err := runner.FilterByLabels(nil, "(("); err == nil {
		t.Error("a malformed filter passed")
	}
}

// The default plan names the ambient profile's own run (ztunnel, the
// waypoints); PROFILE=ambient plans it: Gateway API CRDs, Istio's ambient
// profile and its DaemonSets, then each ambient scenario with its waypoint
// Gateway and the waits on the waypoint's and ztunnel's configuration.
func TestAmbientPlan(t *testing.T) {
	text, _ := planFor(t, "kind")
	pos := index(t, text, "== data-plane profiles", 0)
	for _, s := range []string{"ambient profile", "ztunnel", "istio-waypoint", "PROFILE=ambient make e2e DRY_RUN=1"} {
		pos = index(t, text, s, pos)
	}
	t.Setenv("PROFILE", "ambient")
	text, plan := planFor(t, "kind")
	pos = 0
	for _, s := range []string{
		`kind cluster "firstbyte-ambient"`, "gateway api", "sigs.k8s.io/gateway-api v1.6.0", "profile: ambient",
		"DaemonSets istio-system/istio-cni-node and istio-system/ztunnel",
	} {
		pos = index(t, text, s, pos)
	}
	var ambient int
	for _, ps := range plan.Scenarios {
		if ps.Scenario.Mode() != scenarios.ModeAmbient {
			continue
		}
		ambient++
		start := strings.Index(text, "] "+ps.Scenario.ID+": ")
		end := strings.Index(text[start+1:], "\n-- [")
		if end < 0 {
			end = strings.Index(text[start+1:], "\n== tear-down")
		}
		block := text[start : start+1+end]
		for _, want := range []string{"ztunnel's config_dump (istioctl ztunnel-config all -o json) binds Service"} {
			if !strings.Contains(block, want) {
				t.Errorf("%s: the block lacks %q:\n%s", ps.Scenario.ID, want, block)
			}
		}
		// The collider is an object of the plan (a Service beside the
		// server, or the egress-collider ServiceEntry) and ztunnel's
		// binding of it a wait.
		if c := ps.Scenario; c.Collider.Present {
			obj := "Service fb-server/collider"
			if c.Placement == scenarios.External {
				obj = "ServiceEntry fb-server/egress-collider"
			}
			for _, want := range []string{obj, "(the collider) to waypoint"} {
				if !strings.Contains(block, want) {
					t.Errorf("%s: the block lacks %q:\n%s", c.ID, want, block)
				}
			}
		}
		if ps.Scenario.Ambient.Waypoint != scenarios.WaypointNone {
			for _, want := range []string{"Gateway fb-server/waypoint", "wait: rollout of Deployment fb-server/", "the waypoint's config_dump", fmt.Sprintf("main_internal port %d", ps.Scenario.Port)} {
				if !strings.Contains(block, want) {
					t.Errorf("%s: the block lacks %q:\n%s", ps.Scenario.ID, want, block)
				}
			}
		}
	}
	if ambient < 8 {
		t.Errorf("%d ambient scenarios planned, want at least 8", ambient)
	}
	if !strings.Contains(text, "skipped on this target (counted as skipped): a sidecar-mode scenario") {
		t.Error("the ambient plan must skip the sidecar scenarios with the reason")
	}
}

// planBlock is one scenario's part of a plan's text, from its "-- [n/N]
// <id>:" line to the next scenario's.
func planBlock(t *testing.T, text, id string) string {
	t.Helper()
	start := strings.Index(text, "] "+id+": ")
	if start < 0 {
		t.Fatalf("no block for %s", id)
	}
	end := strings.Index(text[start+1:], "\n-- [")
	if end < 0 {
		end = len(text) - start - 1
	}
	return text[start : start+1+end]
}

func TestUnknownTarget(t *testing.T) {
	_, err := NewTarget(runner.Options{Target: "minikube"})
	if err == nil || !strings.Contains(err.Error(), "cluster, kind") {
		t.Errorf("NewTarget(minikube) = %v, want the known targets named", err)
	}
}
