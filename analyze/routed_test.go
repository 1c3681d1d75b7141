package analyze

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/firstbyte/firstbyte/analyze/meshgen"
	corev1 "k8s.io/api/core/v1"
)

// servicesRouted is the filter inspectorCauses applied before it looked
// Services up by name: every Service on the port whose name or name:port
// is one of the route's domains, in mesh order. Checked on a generated
// mesh with random domain sets (names, name:port, name:other-port, and
// names that are no Service).
func TestServicesRoutedIsTheDomainFilter(t *testing.T) {
	var yaml bytes.Buffer
	if err := meshgen.Write(&yaml, meshgen.Options{Services: 300, ServiceEntries: 30, Namespaces: 30, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	m := newMesh()
	if err := m.AddYAML("meshgen.yaml", yaml.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := m.Finish(); err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	ports := map[int]bool{}
	for _, s := range m.Services {
		for _, p := range s.Spec.Ports {
			ports[int(p.Port)] = true
		}
	}
	checked := 0
	for port := range ports {
		for range 20 {
			domains := map[string]bool{"nosuch.svc.cluster.local": true}
			for _, s := range m.Services {
				switch rnd.IntN(8) {
				case 0:
					domains[fqdn(s)] = true
				case 1:
					domains[fqdn(s)+fmt.Sprintf(":%d", port)] = true
				case 2:
					domains[fqdn(s)+":1"] = true
				}
			}
			var want []*corev1.Service
			for _, s := range m.servicesOnPort(port, "") {
				if domains[fqdn(s)] || domains[fqdn(s)+fmt.Sprintf(":%d", port)] {
					want = append(want, s)
				}
			}
			got, ok := m.servicesRouted(port, domains)
			if !ok {
				t.Fatal("servicesRouted: no current index after Finish")
			}
			if !slices.Equal(got, want) {
				t.Fatalf("port %d: servicesRouted gave %d Services, the domain filter %d", port, len(got), len(want))
			}
			checked += len(want)
		}
	}
	if checked == 0 {
		t.Fatal("no domain set named a Service on its port: the check compared nothing")
	}
}
