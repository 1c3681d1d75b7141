package generator

import (
	"context"
	"testing"

	"istio.io/istio/pkg/config/schema/gvr"
	kubelib "istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/kclient/clienttest"
	"istio.io/istio/pkg/kube/krt"
	"istio.io/istio/pkg/kube/mcs"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Every generator run goes through PrepareIstio first; after it krt keeps
// no registry of collections, so a run's informers, buffers and objects
// are garbage once the run ends (with the registry, the catalogue kept
// 330 MB live).
func TestPrepareIstioDropsTheCollectionRegistry(t *testing.T) {
	PrepareIstio()
	if krt.GlobalDebugHandler != nil {
		t.Fatal("krt.GlobalDebugHandler is set: every generator run's collections stay alive for the life of the process")
	}
}

// The lean scheme still serves every list Istio's generator makes through
// the fake dynamic and metadata clients: the multi-cluster ServiceExport
// and ServiceImport informers and the CRD watcher. A resource outside it
// makes the fake dynamic client panic, so a reader this list misses fails
// loudly instead of seeing an empty list; the last case proves that.
func TestFakeAPISchemeServesIstiosReaders(t *testing.T) {
	PrepareIstio()
	c := kubelib.NewFakeClient()
	ctx := context.Background()
	for _, gvr := range []schema.GroupVersionResource{mcs.ServiceExportGVR, mcs.ServiceImportGVR} {
		if _, err := c.Dynamic().Resource(gvr).Namespace("default").List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("listing %s through the fake dynamic client: %v", gvr, err)
		}
	}
	// The fake discovery server declares its CRDs as clienttest.MakeCRD
	// does, into the fake metadata client, where the CRD watcher lists them.
	clienttest.MakeCRD(t, c, gvr.ServiceEntry)
	if l, err := c.Metadata().Resource(gvr.CustomResourceDefinition).List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 1 {
		t.Errorf("listing CRDs through the fake metadata client after declaring one: %v, %v", l, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("listing Services through the fake dynamic client did not panic: a kind outside the lean scheme would read as an empty list")
		}
	}()
	_, _ = c.Dynamic().Resource(gvr.Service).Namespace("default").List(ctx, metav1.ListOptions{})
}
