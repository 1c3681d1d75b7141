package kube

import (
	"strings"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/targets/kube/resources"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// SERVERS=upstream on the fake cluster: the Secret exists before the
// server Deployment that reads it, the Deployment runs the pinned image of
// hack/versions.env with its own readiness exec, the probe logs in with
// the run's password, and the plan shows the image but not the password.
func TestUpstreamServersOnTheFakeCluster(t *testing.T) {
	c := config(t, Kind, map[string]string{"FIRSTBYTE_RUN_ID": "fb-test"})
	c.SyncTimeout, c.RolloutTimeout = 2*time.Second, 2*time.Second
	c.Servers = "upstream"
	tg, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	cl := newFakeCluster(t)
	tg.connect(cl, &fakeExec{t: t, client: cl, observation: observationJSON("connected", "3ms"), mailbox: true})
	tg.setupRan = true
	tg.kind.Reused = true

	b := renderFor(t, tg, "mysql-10000-http")
	sec := &corev1.Secret{}
	if err := get(cl, sec, b.Topology.ServerNamespace, resources.UpstreamSecretName); err != nil {
		t.Fatalf("the credentials Secret: %v", err)
	}
	pw := sec.StringData[resources.UpstreamPasswordKey]
	if len(pw) < 32 {
		t.Fatalf("Secret password %q: want a long random one", pw)
	}
	d := &appsv1.Deployment{}
	if err := get(cl, d, b.Topology.ServerNamespace, serverDeployment); err != nil {
		t.Fatal(err)
	}
	img := d.Spec.Template.Spec.Containers[0].Image
	if want := c.Pins.Get("UPSTREAM_MYSQL_IMAGE"); img != want || !strings.HasPrefix(img, "mysql:8.4") || !strings.Contains(img, "@sha256:") {
		t.Errorf("server image %s, want the pin %s (mysql:8.4@sha256:...)", img, want)
	}
	if got := tg.ServerImplementation(b); got != img {
		t.Errorf("ServerImplementation %q, want the image %q", got, img)
	}
	cmd := strings.Join(tg.ProbeCommand(b, b.ServerAddr, time.Second, ""), " ")
	if !strings.Contains(cmd, "--user firstbyte --password "+pw) {
		t.Errorf("probe command %q does not log in with the Secret's password", cmd)
	}
	if _, container, _ := tg.controlPath(b); container != controlContainer {
		t.Errorf("external server's control probe runs in %s", container)
	}
	plan := strings.Join(append(tg.PlanDeploy(b), tg.PlanProbe(b, time.Second)...), "\n")
	for _, want := range []string{"image " + img, "mysqladmin ping", "Secret " + b.Topology.ServerNamespace + "/" + resources.UpstreamSecretName} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	if strings.Contains(plan, pw) {
		t.Errorf("plan shows the password:\n%s", plan)
	}
}

func TestMailpitFound(t *testing.T) {
	if n, err := mailpitFound(`{"total":3,"unread":1,"count":1,"messages_count":1,"messages":[]}`); err != nil || n != 1 {
		t.Errorf("found %d, %v", n, err)
	}
	if n, err := mailpitFound(`{"messages_count":0}`); err != nil || n != 0 {
		t.Errorf("found %d, %v", n, err)
	}
	if _, err := mailpitFound(`not found`); err == nil {
		t.Error("a non-JSON answer passed")
	}
}
