package meshconfig

import (
	"context"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"
)

const installed = `accessLogFile: /dev/stdout
defaultConfig:
  discoveryAddress: istiod.istio-system.svc:15012
  holdApplicationUntilProxyStarts: true
outboundTrafficPolicy:
  mode: ALLOW_ANY
rootNamespace: istio-system
`

var name = types.NamespacedName{Namespace: "istio-system", Name: "istio"}

func newEditor(t *testing.T) (*Editor, func() string) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: name.Namespace, Name: name.Name}, Data: map[string]string{Key: installed, "meshNetworks": "networks: {}"}}
	c := fake.NewClientBuilder().WithScheme(fixtures.Scheme).WithObjects(cm).Build()
	read := func() string {
		got := &corev1.ConfigMap{}
		if err := c.Get(context.Background(), name, got); err != nil {
			t.Fatal(err)
		}
		if got.Data["meshNetworks"] != "networks: {}" {
			t.Errorf("other keys of the ConfigMap changed: %v", got.Data)
		}
		return got.Data[Key]
	}
	return New(c, name), read
}

func bundle(t *testing.T, id string) *fixtures.Bundle {
	t.Helper()
	s, _ := scenarios.Lookup(scenarios.Catalogue(), id)
	topo := fixtures.DefaultTopology()
	topo.ServerIP = "10.244.0.7"
	b, err := fixtures.Render(s, topo)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func field(t *testing.T, mesh, path string) any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(mesh), &m); err != nil {
		t.Fatal(err)
	}
	var v any = m
	for _, k := range strings.Split(path, ".") {
		v = v.(map[string]any)[k]
	}
	return v
}

// The protocol-detection-timeout remediation is merged over the installed
// mesh config, keeps every other field, and is reverted to the exact text.
func TestApplyRevertRestore(t *testing.T) {
	ctx := context.Background()
	e, read := newEditor(t)
	b := bundle(t, "mysql-10000-http-protocol-detection-timeout")

	changed, err := e.Apply(ctx, b.BaseMeshConfig)
	if err != nil || changed {
		t.Fatalf("applying the base mesh (ALLOW_ANY, as installed) = changed %v, %v; want no change", changed, err)
	}
	if changed, err = e.Apply(ctx, b.MeshConfig); err != nil || !changed {
		t.Fatalf("applying the remediation = changed %v, %v", changed, err)
	}
	got := read()
	if field(t, got, "protocolDetectionTimeout") != "1s" {
		t.Errorf("protocolDetectionTimeout not set:\n%s", got)
	}
	if field(t, got, "defaultConfig.discoveryAddress") != "istiod.istio-system.svc:15012" || field(t, got, "accessLogFile") != "/dev/stdout" {
		t.Errorf("the merge lost installed fields:\n%s", got)
	}
	if _, err := fixtures.DecodeMeshConfig([]byte(got)); err != nil {
		t.Errorf("merged mesh config does not decode strictly: %v", err)
	}

	// Revert = apply the base fragment: merged over the original, so the
	// timeout is gone again.
	if _, err := e.Apply(ctx, b.BaseMeshConfig); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(read(), "protocolDetectionTimeout") {
		t.Errorf("reverting kept the remediation:\n%s", read())
	}

	// A REGISTRY_ONLY scenario, then Restore: the text is the original.
	r := bundle(t, "mysql-10000-http-registry-only")
	if _, err := e.Apply(ctx, r.BaseMeshConfig); err != nil {
		t.Fatal(err)
	}
	if field(t, read(), "outboundTrafficPolicy.mode") != "REGISTRY_ONLY" {
		t.Errorf("REGISTRY_ONLY not applied:\n%s", read())
	}
	for range 2 {
		if _, err := e.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		if read() != installed {
			t.Errorf("Restore left:\n%s\nwant the installed text:\n%s", read(), installed)
		}
	}
}

func TestRestoreWithoutApplyDoesNothing(t *testing.T) {
	e, read := newEditor(t)
	if changed, err := e.Restore(context.Background()); err != nil || changed {
		t.Errorf("Restore before Apply = %v, %v", changed, err)
	}
	if read() != installed {
		t.Error("Restore before Apply changed the ConfigMap")
	}
}

func TestMissingConfigMap(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(fixtures.Scheme).Build()
	_, err := New(c, name).Apply(context.Background(), []byte("outboundTrafficPolicy: {mode: ALLOW_ANY}\n"))
	if err == nil || !strings.Contains(err.Error(), "istio-system/istio") || !strings.Contains(err.Error(), "is Istio installed") {
		t.Errorf("Apply without the ConfigMap = %v, want an error naming it and the fix", err)
	}
}
