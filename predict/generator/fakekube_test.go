package generator

import (
	"testing"

	"istio.io/istio/pkg/kube/krt"
)

// Every generator run goes through QuietIstio first; after it krt keeps
// no registry of collections, so a run's informers, buffers and objects
// are garbage once the run ends (with the registry, the catalogue kept
// 330 MB live).
func TestQuietIstioDropsTheCollectionRegistry(t *testing.T) {
	QuietIstio()
	if krt.GlobalDebugHandler != nil {
		t.Fatal("krt.GlobalDebugHandler is set: every generator run's collections stay alive for the life of the process")
	}
}
