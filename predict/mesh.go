package predict

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/predict/capture"
	"github.com/firstbyte/firstbyte/predict/generator"
	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/test"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// GenerateMesh runs Istio's generator over a whole mesh (a user's
// objects, not a scenario's rendered fixtures): the same
// FakeDiscoveryServer, pod admission and EndpointSlice synthesis as a
// scenario, for any number of sidecars at once. (firstbyte analyze is its
// user.)

// MeshObjects is a mesh as Istio's generator reads it.
type MeshObjects struct {
	// Kube holds the Kubernetes objects Istio's registry watches:
	// Namespaces and Services (with their cluster IPs).
	Kube []runtime.Object
	// Deployments become admitted, ready pods and EndpointSlices, as for
	// a scenario.
	Deployments []*appsv1.Deployment
	// Istio holds one YAML document per Istio config (ServiceEntry,
	// Sidecar, DestinationRule, PeerAuthentication, AuthorizationPolicy).
	Istio []string
	// Mesh is the mesh config with Istio's defaults applied.
	Mesh *meshconfig.MeshConfig
	// Admission, when set, is the Deployments' admission already run
	// (AdmitMesh): GenerateMesh uses it if it admitted exactly these
	// Deployments under these namespace labels, and admits them again
	// otherwise. Istio's injection of a large mesh's pods costs seconds.
	Admission *Admission
}

// MeshProxy is a sidecar to generate configuration for: a pod as istiod
// sees it when its proxy connects.
type MeshProxy struct {
	Name, Namespace string
	Labels          map[string]string
	IP              netip.Addr
}

// Workload is a Deployment's pod after admission: its address, labels
// and whether Istio's injection gives it a sidecar.
type Workload struct {
	Deployment  *appsv1.Deployment
	Pod         string // pod name
	Namespace   string
	IP          netip.Addr
	Labels      map[string]string
	Annotations map[string]string
	Injection   capture.Injection
}

// AdmitWorkloads admits one pod per Deployment as GenerateMesh does (the
// same addresses, in the same order), through Istio's sidecar injection.
func AdmitWorkloads(namespaceLabels map[string]map[string]string, deployments []*appsv1.Deployment) ([]Workload, error) {
	a, err := AdmitMesh(namespaceLabels, deployments)
	if err != nil {
		return nil, err
	}
	return a.Workloads(), nil
}

// Admission is Deployments admitted through Istio's sidecar injection,
// one pod each, as GenerateMesh admits them.
type Admission struct {
	nsLabels    map[string]map[string]string
	deployments []*appsv1.Deployment
	pods        map[string]admittedPod
}

// AdmitMesh admits one pod per Deployment as GenerateMesh does (the same
// addresses, in the same order), through Istio's sidecar injection.
func AdmitMesh(namespaceLabels map[string]map[string]string, deployments []*appsv1.Deployment) (*Admission, error) {
	pods, err := admitPods(map[string]netip.Addr{}, namespaceLabels, deployments)
	if err != nil {
		return nil, err
	}
	// A copy, so that labels changed after admission fail admits.
	labels := make(map[string]map[string]string, len(namespaceLabels))
	for n, l := range namespaceLabels {
		labels[n] = maps.Clone(l)
	}
	return &Admission{nsLabels: labels, deployments: slices.Clone(deployments), pods: pods}, nil
}

// Workloads are the admitted pods, in the Deployments' order.
func (a *Admission) Workloads() []Workload {
	out := make([]Workload, 0, len(a.deployments))
	for _, d := range a.deployments {
		p := a.pods[d.Namespace+"/"+d.Name]
		out = append(out, Workload{
			Deployment: d, Pod: p.pod.Name, Namespace: d.Namespace,
			IP: netip.MustParseAddr(p.pod.Status.PodIP), Labels: maps.Clone(p.pod.Labels),
			Annotations: p.annotations, Injection: p.injection,
		})
	}
	return out
}

// admits reports whether the admission is of exactly these Deployments
// (the same objects, in the same order, since order gives addresses)
// under the same namespace labels.
func (a *Admission) admits(nsLabels map[string]map[string]string, deployments []*appsv1.Deployment) bool {
	return a != nil && slices.Equal(a.deployments, deployments) &&
		maps.EqualFunc(a.nsLabels, nsLabels, func(x, y map[string]string) bool { return maps.Equal(x, y) })
}

// GenerateMesh runs Istio's config generator once over the mesh and
// returns each proxy's sidecar configuration, in the order asked.
// describe names the input in errors.
func GenerateMesh(m MeshObjects, proxies []MeshProxy, describe string) ([]*envoy.Config, error) {
	out := make([]*envoy.Config, len(proxies))
	err := GenerateMeshEach(m, proxies, describe, func(i int, cfg *envoy.Config) error {
		out[i] = cfg
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GenerateMeshEach runs Istio's config generator once over the mesh and
// hands each proxy's sidecar configuration to each, in the order asked,
// as soon as it is built, keeping none: the configurations of a large
// mesh's proxies do not fit in memory together (each holds a listener
// and cluster per Service port it sees). An error from each stops the
// run and is returned.
func GenerateMeshEach(m MeshObjects, proxies []MeshProxy, describe string, each func(i int, cfg *envoy.Config) error) error {
	build, err := generator.Istio()
	if err != nil {
		return err
	}
	generator.PrepareIstio()
	nsLabels, services := m.index()
	var pods map[string]admittedPod
	if m.Admission.admits(nsLabels, m.Deployments) {
		pods = m.Admission.pods
	} else if pods, err = admitPods(map[string]netip.Addr{}, nsLabels, m.Deployments); err != nil {
		return fmt.Errorf("admitting %s's pods: %w", describe, err)
	}
	kube := append(append([]runtime.Object(nil), m.Kube...), runningPods(pods, services, m.Deployments)...)
	var eachErr error
	err = test.Wrap(func(t test.Failer) {
		f := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
			KubernetesObjects: kube,
			KubeClientBuilder: generator.FakeKubeBuilder(t),
			ConfigString:      strings.Join(m.Istio, "\n---\n"),
			MeshConfig:        m.Mesh,
		})
		for i, p := range proxies {
			cfg := generatedConfig(f, sidecarProxy(sidecarPod{Name: p.Name, Namespace: p.Namespace, Labels: p.Labels, IP: p.IP}, build),
				fmt.Sprintf("sidecar of %s/%s (%s) generated by %s from %s", p.Namespace, p.Name, p.IP, build, describe))
			if eachErr = each(i, cfg); eachErr != nil {
				return
			}
		}
	})
	if err != nil {
		return generatorFailed(describe, err)
	}
	return eachErr
}

// generatorFailed names why Istio's generator run over a mesh failed. Its
// test harness reports a sync wait that ran out of time (retry.UntilOrFail
// over the fake API server's informers) the same way as a rejected object;
// a very large mesh on a loaded machine hits that wait (measured at 50,000
// Services, docs/benchmarks.md), and the fix is another run, not the input.
func generatorFailed(describe string, err error) error {
	if strings.Contains(err.Error(), "timeout while waiting") {
		return fmt.Errorf("Istio's config generator did not finish reading %s in time (its fake API server's sync wait ran out, which a very large mesh on a busy machine can cause): run again on an idle machine, or analyze a part of the mesh: %w", describe, err)
	}
	return fmt.Errorf("Istio's config generator rejected %s: %w", describe, err)
}
