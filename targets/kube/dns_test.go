package kube

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	appsv1 "k8s.io/api/apps/v1"
)

// A DNS-capture row on kind: the client pod carries the DNS-capture
// proxyMetadata for the real agent, the probe dials the name from the
// client, the control dials the server's address; rows whose lookup
// would go past the agent's name table to CoreDNS are skipped by name.
func TestDNSCaptureScenario(t *testing.T) {
	ctx := context.Background()
	tg, ex, cl := fakeTarget(t)
	b := renderFor(t, tg, "mysql-10000-http-dns-capture-on-static-dial-name")
	if why := tg.Requirement(b); why != "" {
		t.Fatalf("the agent answers this name from its name table, yet the row is skipped: %s", why)
	}
	if err := tg.Deploy(ctx, b); err != nil {
		t.Fatal(err)
	}
	d := &appsv1.Deployment{}
	if err := get(cl, d, "fb-client", "client"); err != nil {
		t.Fatal(err)
	}
	var pc struct {
		ProxyMetadata map[string]string `json:"proxyMetadata"`
	}
	if err := json.Unmarshal([]byte(d.Spec.Template.Annotations[fixtures.AnnotationProxyConfig]), &pc); err != nil || pc.ProxyMetadata["ISTIO_META_DNS_CAPTURE"] != "true" {
		t.Errorf("client pod annotation %s = %q (%v), want ISTIO_META_DNS_CAPTURE true", fixtures.AnnotationProxyConfig, d.Spec.Template.Annotations[fixtures.AnnotationProxyConfig], err)
	}
	if plan := strings.Join(tg.PlanDeploy(b), "\n"); !strings.Contains(plan, "Deployment fb-client/client (pod annotation proxy.istio.io/config={\"proxyMetadata\":{\"ISTIO_META_DNS_CAPTURE\":\"true\"}}") {
		t.Errorf("the plan does not show the DNS-capture annotation:\n%s", plan)
	}
	if _, err := tg.Probe(ctx, b, time.Second); err != nil || !ex.ran("[client]: /firstbyte-agent probe mysql --addr mysql.external.firstbyte.test:10000") {
		t.Errorf("Probe = %v; commands %v", err, ex.commands)
	}
	if _, err := tg.Control(ctx, b, time.Second); err != nil || !ex.ran("probe mysql --addr 198.51.100.7:10000") {
		t.Errorf("Control = %v; commands %v", err, ex.commands)
	}

	off := renderFor(t, tg, "mysql-10000-http-dns-capture-off-static-dial-name")
	if why := tg.Requirement(off); !strings.Contains(why, "mysql.external.firstbyte.test in the cluster's DNS") {
		t.Errorf("capture off: Requirement = %q, want a skip naming the cluster DNS entry", why)
	}
	if why := tg.Requirement(renderFor(t, tg, "mysql-10000-http-dns-capture-off-static-dial-ip")); why != "" {
		t.Errorf("dial ip: Requirement = %q, want none", why)
	}
}
