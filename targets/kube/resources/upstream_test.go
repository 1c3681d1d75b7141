package resources

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

var pinned = map[scenarios.Protocol]string{
	scenarios.MySQL: "mysql:8.4@sha256:" + strings.Repeat("a", 64),
	scenarios.Mongo: "mongo:8.0@sha256:" + strings.Repeat("b", 64),
	scenarios.SMTP:  "axllent/mailpit:v1.31.2@sha256:" + strings.Repeat("c", 64),
}

// renderUpstream renders a catalogue scenario with the upstream servers
// and returns its server Deployment, decoded strictly by fixtures.Render.
func renderUpstream(t *testing.T, id string) (*fixtures.Bundle, *appsv1.Deployment) {
	t.Helper()
	s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
	if !ok {
		t.Fatalf("no scenario %s", id)
	}
	ups, err := UpstreamServers(pinned)
	if err != nil {
		t.Fatal(err)
	}
	topo := fixtures.DefaultTopology()
	topo.RunID = "fb-test"
	topo.ServerIP = "10.244.0.7"
	topo.Upstream = ups
	b, err := fixtures.Render(s, topo)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range b.Base {
		if d, ok := o.Decoded.(*appsv1.Deployment); ok && o.Name == "server" {
			return b, d
		}
	}
	t.Fatalf("%s: no server Deployment rendered", id)
	return nil, nil
}

func container(t *testing.T, d *appsv1.Deployment, name string) corev1.Container {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("server Deployment has no container %s", name)
	return corev1.Container{}
}

func TestUpstreamMySQLDeployment(t *testing.T) {
	b, d := renderUpstream(t, "mysql-10000-http")
	c := container(t, d, "server")
	if c.Image != pinned[scenarios.MySQL] {
		t.Errorf("image %s, want the pinned %s", c.Image, pinned[scenarios.MySQL])
	}
	if len(c.Env) == 0 || c.Env[0].Name != "FB_PORT" || c.Env[0].Value != "10000" {
		t.Errorf("first env %+v, want FB_PORT=10000 (args and later env expand it)", c.Env)
	}
	if !slices.Equal(c.Args, []string{"--port=$(FB_PORT)"}) {
		t.Errorf("args %q", c.Args)
	}
	var fromSecret []string
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			if e.ValueFrom.SecretKeyRef.Name != UpstreamSecretName {
				t.Errorf("%s from Secret %s, want %s", e.Name, e.ValueFrom.SecretKeyRef.Name, UpstreamSecretName)
			}
			fromSecret = append(fromSecret, e.Name+"="+e.ValueFrom.SecretKeyRef.Key)
		}
	}
	if !slices.Equal(fromSecret, []string{"MYSQL_PASSWORD=password", "MYSQL_ROOT_PASSWORD=root-password"}) {
		t.Errorf("secret env %q", fromSecret)
	}
	p := c.ReadinessProbe
	if p == nil || p.Exec == nil || !strings.Contains(strings.Join(p.Exec.Command, " "), "mysqladmin ping") {
		t.Fatalf("readiness %+v, want an exec of mysqladmin ping", p)
	}
	agent := container(t, d, "agent")
	if agent.Image != b.Topology.Image {
		t.Errorf("agent container image %s, want the agent %s", agent.Image, b.Topology.Image)
	}
	if c.Ports[0].ContainerPort != 10000 {
		t.Errorf("container port %d", c.Ports[0].ContainerPort)
	}
}

func TestUpstreamMongoAndSMTPReadiness(t *testing.T) {
	var ids []string
	for _, s := range scenarios.Catalogue() {
		if s.Protocol != scenarios.MySQL && UpstreamImageKeys[s.Protocol] != "" && !slices.ContainsFunc(ids, func(id string) bool { return strings.HasPrefix(id, string(s.Protocol)) }) {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) != 2 {
		t.Fatalf("want one smtp and one mongo scenario in the catalogue, got %q", ids)
	}
	for _, id := range ids {
		_, d := renderUpstream(t, id)
		c := container(t, d, "server")
		cmd := strings.Join(c.ReadinessProbe.Exec.Command, " ")
		switch {
		case strings.HasPrefix(id, "mongo"):
			if c.Image != pinned[scenarios.Mongo] || !strings.Contains(cmd, "db.runCommand({ping:1})") {
				t.Errorf("%s: image %s readiness %q", id, c.Image, cmd)
			}
		case strings.HasPrefix(id, "smtp"):
			if c.Image != pinned[scenarios.SMTP] || cmd != "/mailpit readyz" {
				t.Errorf("%s: image %s readiness %q", id, c.Image, cmd)
			}
		}
	}
}

// DNS has no upstream image: under SERVERS=upstream the agent's embedded
// DNS server serves it.
func TestUpstreamKeepsTheEmbeddedDNS(t *testing.T) {
	b, d := renderUpstream(t, "dns-10000-no-collider")
	c := container(t, d, "server")
	if c.Image != b.Topology.Image || !strings.Contains(strings.Join(c.Args, " "), "serve dns") {
		t.Errorf("dns server container image %s args %q, want the agent %s serving dns", c.Image, c.Args, b.Topology.Image)
	}
}

func TestUpstreamServersWantsDigests(t *testing.T) {
	bad := map[scenarios.Protocol]string{scenarios.MySQL: "mysql:8.4", scenarios.Mongo: pinned[scenarios.Mongo], scenarios.SMTP: pinned[scenarios.SMTP]}
	if _, err := UpstreamServers(bad); err == nil || !strings.Contains(err.Error(), "UPSTREAM_MYSQL_IMAGE") {
		t.Errorf("a tag without digest: err %v, want one naming UPSTREAM_MYSQL_IMAGE", err)
	}
	delete(bad, scenarios.MySQL)
	if _, err := UpstreamServers(bad); err == nil || !strings.Contains(err.Error(), "hack/versions.env") {
		t.Errorf("a missing pin: err %v", err)
	}
}

func TestUpstreamSecretApplies(t *testing.T) {
	a := newApplier()
	s := UpstreamSecret("fb-server", "fb-test", "pw", "rootpw")
	if err := a.ApplyObject(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	got := &corev1.Secret{}
	if !exists(t, a, got, "fb-server", UpstreamSecretName) {
		t.Fatal("Secret not created")
	}
	if got.Labels[fixtures.LabelRun] != "fb-test" || got.StringData[UpstreamPasswordKey] != "pw" {
		t.Errorf("Secret %+v", got)
	}
}

func TestMailpitSearchPath(t *testing.T) {
	if got := MailpitSearchPath("<run-1@firstbyte.test>"); got != "/api/v1/search?query=message-id:run-1%40firstbyte.test" {
		t.Errorf("got %s", got)
	}
}
