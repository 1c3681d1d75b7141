package analyze

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

// TestLoadClusterIsReadOnly reads a mesh from a fake cluster and asserts
// that analyze only listed: no get-then-update, no create, no delete.
func TestLoadClusterIsReadOnly(t *testing.T) {
	listKinds := map[schema.GroupVersionResource]string{}
	for _, gvr := range ClusterResources {
		listKinds[gvr] = "List"
	}
	obj := func(apiVersion, kind, ns, name string, spec map[string]any) runtime.Object {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": name, "namespace": ns}}}
		if spec != nil {
			u.Object["spec"] = spec
		}
		return u
	}
	c := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds,
		obj("v1", "Namespace", "", "shop", nil),
		obj("v1", "Service", "shop", "catalog-api", map[string]any{"clusterIP": "10.96.10.10", "ports": []any{map[string]any{"name": "http", "port": int64(10000)}}}),
		obj("networking.istio.io/v1", "ServiceEntry", "shop", "db", map[string]any{"hosts": []any{"db.example.com"}, "ports": []any{map[string]any{"number": int64(3306), "name": "tcp", "protocol": "TCP"}}, "resolution": "DNS"}),
	)
	m, notes, err := LoadCluster(context.Background(), c, "fake")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Invalid) > 0 {
		t.Fatalf("invalid: %v", m.Invalid)
	}
	if len(m.Services) != 1 || len(m.ServiceEntries) != 1 || m.Namespaces["shop"] == nil {
		t.Errorf("read %d Services, %d ServiceEntries, namespaces %v (notes %v)", len(m.Services), len(m.ServiceEntries), m.Namespaces, notes)
	}
	if got := m.OriginOf("Service", "shop", "catalog-api").String(); got != "cluster fake: Service shop/catalog-api" {
		t.Errorf("origin %q", got)
	}
	actions := c.Actions()
	if len(actions) != len(ClusterResources) {
		t.Errorf("%d API calls, want one list per resource (%d)", len(actions), len(ClusterResources))
	}
	for _, a := range actions {
		if v := a.GetVerb(); v != "list" && v != "get" && v != "watch" {
			t.Errorf("analyze called %s on %s: it must only get, list and watch", v, a.GetResource())
		}
	}
}
