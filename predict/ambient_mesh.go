package predict

// The ambient half of GenerateMesh: a user's whole mesh (not a scenario's
// fixtures) through istiod's ambient index and waypoint generator, for
// firstbyte analyze. Every waypoint Gateway is stood up as a cluster runs
// it (runningGateway), the ambient index's WDS view says which waypoint
// serves which Service or ServiceEntry, and each waypoint's listeners come
// from the same FakeDiscoveryServer as a scenario's.

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/predict/generator"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/test"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// AmbientMesh is what Istio's generator makes of a mesh's ambient part.
type AmbientMesh struct {
	// Services are the Services and ServiceEntries of ztunnel's view
	// (WDS), with the waypoint each is bound to.
	Services []WDSService
	// Waypoints are the generated waypoints, by namespace/name.
	Waypoints map[string]*envoy.Config
	// Source says where the view came from.
	Source string
}

// WDSService is one Service (or ServiceEntry host) as istiod sends it to
// ztunnel.
type WDSService struct {
	Namespace, Hostname string
	VIPs                []netip.Addr
	// Waypoint is the namespace/name of the waypoint serving it, "" for
	// none (the WDS waypoint's hostname, <name>.<namespace>.svc...).
	Waypoint string
}

// IsWaypointObject reports whether labels are those istiod's gateway
// controller puts on a waypoint's own Service and pods: a mesh read from a
// cluster lists them, and they are the waypoint, not what it serves.
func IsWaypointObject(labels map[string]string) bool {
	return labels[labelGatewayName] != "" && labels[labelGatewayManaged] != ""
}

// WaypointVIPs is where GenerateAmbientMesh puts the waypoints' Services:
// the world's waypoint /24, one address each.
var WaypointVIPs = netip.PrefixFrom(WaypointClusterIP, 24).Masked()

// index is what pod admission and EndpointSlice synthesis read of the
// mesh's Kubernetes objects: namespace labels, and the Services.
func (m MeshObjects) index() (nsLabels map[string]map[string]string, services []*corev1.Service) {
	nsLabels = map[string]map[string]string{}
	for _, o := range m.Kube {
		switch v := o.(type) {
		case *corev1.Namespace:
			nsLabels[v.Name] = v.Labels
		case *corev1.Service:
			services = append(services, v)
		}
	}
	return nsLabels, services
}

// GenerateAmbientMesh runs Istio's generator with istiod's ambient
// features over the mesh and its waypoint Gateways. binds is how many
// Services and workloads the caller expects bound to some waypoint: the
// ambient index binds asynchronously, so the view is read once it shows
// at least that many (bounded; the view itself is the verdict).
func GenerateAmbientMesh(m MeshObjects, gateways []*gatewayv1.Gateway, services, workloads int, describe string) (*AmbientMesh, error) {
	build, err := generator.Istio()
	if err != nil {
		return nil, err
	}
	generator.PrepareIstio()
	defer useFeatures(true)()
	nsLabels, svcs := m.index()
	deployments := append(m.Deployments[:0:0], m.Deployments...)
	istio := append([]string(nil), m.Istio...)
	kube := append([]runtime.Object(nil), m.Kube...)
	vip := WaypointVIPs.Addr().Next()
	for _, gw := range gateways {
		doc, svc, d, err := runningGateway(gw, vip)
		if err != nil {
			return nil, fmt.Errorf("Gateway %s/%s: %w", gw.Namespace, gw.Name, err)
		}
		vip = vip.Next()
		istio = append(istio, doc)
		// A mesh read from a cluster has the Service and Deployment
		// istiod's gateway controller made already.
		if !slices.ContainsFunc(svcs, func(s *corev1.Service) bool { return s.Namespace == gw.Namespace && s.Name == gw.Name }) {
			svcs, kube = append(svcs, svc), append(kube, svc)
		}
		if !slices.ContainsFunc(deployments, func(x *appsv1.Deployment) bool { return x.Namespace == gw.Namespace && x.Name == gw.Name }) {
			deployments = append(deployments, d)
		}
	}
	pods, err := admitPods(map[string]netip.Addr{}, nsLabels, deployments)
	if err != nil {
		return nil, fmt.Errorf("admitting %s's pods: %w", describe, err)
	}
	kube = append(kube, runningPods(pods, svcs, deployments)...)
	out := &AmbientMesh{Waypoints: map[string]*envoy.Config{}}
	err = test.Wrap(func(t test.Failer) {
		cfg := strings.Join(istio, "\n---\n")
		f := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
			KubernetesObjects: kube, KubeClientBuilder: generator.FakeKubeBuilder(t),
			ConfigString: cfg, KubernetesObjectString: cfg, MeshConfig: m.Mesh,
		})
		z, err := waypointBound(f, waypointBinds{services: services, workloads: workloads})
		if err != nil {
			t.Fatalf("%s: %v", describe, err)
		}
		out.Source = fmt.Sprintf("ztunnel's workload addresses (WDS, %d) from the ambient index of %s", len(z), build)
		for _, a := range z {
			s := a.GetService()
			if s == nil {
				continue
			}
			w := WDSService{Namespace: s.GetNamespace(), Hostname: s.GetHostname()}
			for _, na := range s.GetAddresses() {
				if ip, ok := netip.AddrFromSlice(na.GetAddress()); ok {
					w.VIPs = append(w.VIPs, ip.Unmap())
				}
			}
			if h := s.GetWaypoint().GetHostname(); h != nil {
				name, _, _ := strings.Cut(h.GetHostname(), ".")
				w.Waypoint = h.GetNamespace() + "/" + name
			}
			out.Services = append(out.Services, w)
		}
		for _, gw := range gateways {
			p := pods[gw.Namespace+"/"+gw.Name]
			ip, err := netip.ParseAddr(p.pod.Status.PodIP)
			if err != nil {
				t.Fatalf("waypoint %s/%s: no pod IP: %v", gw.Namespace, gw.Name, err)
			}
			proxy := sidecarProxy(sidecarPod{Name: gw.Name, Namespace: gw.Namespace, Labels: p.pod.Labels, IP: ip, ServiceAccount: p.pod.Spec.ServiceAccountName}, build)
			proxy.Type, proxy.Metadata.InterceptionMode = model.Waypoint, ""
			out.Waypoints[gw.Namespace+"/"+gw.Name] = generatedConfig(f, proxy,
				fmt.Sprintf("waypoint %s/%s (pod %s) generated by %s from %s", gw.Namespace, gw.Name, ip, build, describe))
		}
	})
	if err != nil {
		return nil, generatorFailed(describe, err)
	}
	return out, nil
}

// WalkWaypoint walks a connection that ztunnel hands to a waypoint:
// connect_terminate, main_internal's listener filters (envoy.Inspect and
// ListenerFilters.Wait), its filter_chain_matcher and the chain's network
// filter. what names the walk in errors.
func WalkWaypoint(what string, cfg *envoy.Config, conn Connection) (Prediction, error) {
	return evaluateWaypoint(what, cfg, conn, Prediction{})
}
