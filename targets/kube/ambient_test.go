package kube

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/targets/kube/istioinstall"
)

// PROFILE=ambient selects the ambient install values and a cluster of its
// own; set-up adds the Gateway API CRDs and waits for ztunnel; a bad value
// is refused with the valid ones named.
func TestAmbientProfileConfig(t *testing.T) {
	c := config(t, Kind, map[string]string{ProfileEnv: ProfileAmbient})
	if c.KindCluster != AmbientKindCluster || filepath.Base(c.IstioValues) != "values-ambient.yaml.tmpl" {
		t.Errorf("ambient config: cluster %q, values %s", c.KindCluster, c.IstioValues)
	}
	tg, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range tg.SetupSteps() {
		names = append(names, s.Name)
		if s.Name == "istio" && !strings.Contains(strings.Join(s.Plan, "\n"), "istio-system/ztunnel") {
			t.Errorf("the istio step does not wait for ztunnel:\n%s", strings.Join(s.Plan, "\n"))
		}
	}
	if got := strings.Join(names, ","); got != "docker,kind cluster,connect,gateway api,istio,image" {
		t.Errorf("ambient set-up steps %s", got)
	}
	if sc := config(t, Kind, nil); sc.Profile != ProfileSidecar || sc.KindCluster != DefaultKindCluster {
		t.Errorf("default profile %q, cluster %q", sc.Profile, sc.KindCluster)
	}
	_, err = ConfigFromEnv(Kind, repoRoot, func(k string) (string, bool) {
		if k == ProfileEnv {
			return "sidecarless", true
		}
		return "", false
	})
	if err == nil || !strings.Contains(err.Error(), "want sidecar (the default) or ambient") {
		t.Errorf("PROFILE=sidecarless: %v", err)
	}
}

// The ambient install values decode strictly, with the ambient profile.
func TestAmbientValuesDecodeStrictly(t *testing.T) {
	c := config(t, Kind, map[string]string{ProfileEnv: ProfileAmbient})
	r, err := istioinstall.Render(c.IstioValues, istioinstall.Values{Version: c.IstioVersion, Hub: c.Pins.IstioHub()})
	if err != nil {
		t.Fatal(err)
	}
	if r.Operator.Spec.Profile != "ambient" {
		t.Errorf("profile %q, want ambient", r.Operator.Spec.Profile)
	}
}

// Each profile skips the other's scenarios, naming why.
func TestProfileRequirement(t *testing.T) {
	amb, _ := scenarios.Lookup(scenarios.Catalogue(), "ambient-mysql-10000-waypoint-all-tcp")
	side, _ := scenarios.Lookup(scenarios.Catalogue(), "mysql-10000-http")
	sidecarRun, err := New(config(t, Kind, nil))
	if err != nil {
		t.Fatal(err)
	}
	ambientRun, err := New(config(t, Kind, map[string]string{ProfileEnv: ProfileAmbient}))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tg   *Target
		s    scenarios.Scenario
		want string
	}{
		{sidecarRun, amb, "needs the ambient profile"},
		{sidecarRun, side, ""},
		{ambientRun, amb, ""},
		{ambientRun, side, "a sidecar-mode scenario"},
	} {
		got := c.tg.profileRequirement(c.s)
		if (c.want == "") != (got == "") || !strings.HasPrefix(got, c.want) {
			t.Errorf("profile %s, %s: %q, want %q", c.tg.cfg.Profile, c.s.ID, got, c.want)
		}
	}
}

// The Gateway API CRDs come from the module go.mod pins; versions.env
// names the same version.
func TestGatewayAPIVersionMatchesGoMod(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command: cannot ask go list -m")
	}
	tg, err := New(config(t, Kind, map[string]string{ProfileEnv: ProfileAmbient}))
	if err != nil {
		t.Fatal(err)
	}
	files, version, err := tg.gatewayAPICRDs()
	if err != nil {
		t.Fatal(err)
	}
	if pin := tg.pin("GATEWAY_API_VERSION"); pin != version {
		t.Errorf("hack/versions.env GATEWAY_API_VERSION=%s, go.mod has %s %s", pin, GatewayAPIModule, version)
	}
	var gateways bool
	for _, f := range files {
		gateways = gateways || strings.HasSuffix(f, "gateway.networking.k8s.io_gateways.yaml")
	}
	if !gateways {
		t.Errorf("no Gateway CRD among %v", files)
	}
}

// ztunnel's config_dump: a Service's waypoint is read by namespace and
// hostname; an unbound Service has none; a missing one is not found.
func TestZtunnelServiceWaypoint(t *testing.T) {
	// The shape of ztunnel's ProxyState serialization (src/state.rs,
	// src/state/service.rs): services with namespace, hostname, vips and
	// an optional waypoint whose destination is a namespaced hostname.
	dump := []byte(`{"workloads": [], "policies": [], "services": [
	 {"name": "server", "namespace": "fb-server", "hostname": "server.fb-server.svc.cluster.local",
	  "vips": ["/10.96.0.20"], "ports": {"10000": 10000},
	  "waypoint": {"destination": {"hostname": {"namespace": "fb-server", "hostname": "waypoint.fb-server.svc.cluster.local"}}, "hboneMtlsPort": 15008}},
	 {"name": "other", "namespace": "fb-server", "hostname": "other.fb-server.svc.cluster.local", "vips": [], "ports": {}}]}`)
	for _, c := range []struct {
		host, want string
		found      bool
	}{
		{"server.fb-server.svc.cluster.local", "waypoint.fb-server.svc.cluster.local", true},
		{"other.fb-server.svc.cluster.local", "", true},
		{"missing.fb-server.svc.cluster.local", "", false},
	} {
		got, found, err := ZtunnelServiceWaypoint(dump, "fb-server", c.host)
		if err != nil || got != c.want || found != c.found {
			t.Errorf("%s: %q, %v, %v; want %q, %v", c.host, got, found, err, c.want, c.found)
		}
	}
	if _, _, err := ZtunnelServiceWaypoint([]byte("not json"), "a", "b"); err == nil {
		t.Error("garbage must be an error")
	}
}

// The control pod stays out of ambient capture, so the control path is
// direct even in an ambient namespace.
func TestControlPodOptsOutOfAmbient(t *testing.T) {
	d := controlObject(fixtures.DefaultTopology())
	if d.Spec.Template.Labels[fixtures.LabelDataplaneMode] != "none" {
		t.Errorf("control pod labels %v", d.Spec.Template.Labels)
	}
}

// The ambient plan shows the collider: its object (a Service beside the
// server, or the egress-collider ServiceEntry), its HTTP check through the
// waypoint, or why an external one gets none.
func TestAmbientColliderPlan(t *testing.T) {
	tg, err := New(config(t, Kind, map[string]string{ProfileEnv: ProfileAmbient}))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string][]string{
		"ambient-mysql-10000-waypoint-service-tcp-http-collider": {
			"Service/fb-server/collider", "http://collider.fb-server.svc.cluster.local:10000/", "waypoint fb-server/waypoint, whose main_internal detects HTTP",
		},
		"ambient-mysql-10000-waypoint-http-collider-client-sidecar": {"Service/fb-server/collider", "a sidecar never uses a waypoint"},
		"ambient-mysql-10000-egress-waypoint-service-tcp-http-collider": {
			"ServiceEntry/fb-server/egress-collider", "none: the collider is ServiceEntry fb-server/egress-collider",
		},
	} {
		s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
		if !ok {
			t.Fatalf("no scenario %s", id)
		}
		b, err := fixtures.Render(s, fixtures.CheckTopology())
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range b.Final {
			keys = append(keys, o.Key())
		}
		text := strings.Join(append(keys, tg.PlanCollider(b)...), "\n")
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: plan lacks %q:\n%s", id, w, text)
			}
		}
	}
}
