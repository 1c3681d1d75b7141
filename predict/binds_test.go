package predict

import (
	"testing"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// WaypointBinds is the one count of what a mesh's labels bind to its
// waypoints, for predict's scenarios and analyze's meshes alike; each case
// is one rule of Istio's binding (istio.io/use-waypoint on the object,
// else its namespace; "none" opts out; istio.io/waypoint-for; Services
// and workloads only in ambient namespaces; a waypoint's own objects
// never).
func TestWaypointBinds(t *testing.T) {
	meta := func(ns, name string, labels map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}
	}
	svc := func(ns, name string, labels map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: meta(ns, name, labels)}
	}
	deploy := func(ns, name string, labels map[string]string) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: meta(ns, name, nil)}
		d.Spec.Template.Labels = labels
		return d
	}
	gw := func(ns, name, serves string) *gatewayv1.Gateway {
		l := map[string]string{}
		if serves != "" {
			l[fixtures.LabelWaypointFor] = serves
		}
		return &gatewayv1.Gateway{ObjectMeta: meta(ns, name, l)}
	}
	ambientUsing := func(waypoint string) map[string]string {
		return map[string]string{fixtures.LabelDataplaneMode: "ambient", fixtures.LabelUseWaypoint: waypoint}
	}
	use := func(w string) map[string]string { return map[string]string{fixtures.LabelUseWaypoint: w} }
	own := map[string]string{labelGatewayName: "wp", labelGatewayManaged: "istio.io-mesh-controller"}
	for _, c := range []struct {
		name                string
		in                  BindingObjects
		services, workloads int
	}{
		{"namespace label, waypoint for services by default",
			BindingObjects{Namespaces: map[string]map[string]string{"a": ambientUsing("wp")}, Services: []*corev1.Service{svc("a", "s1", nil), svc("a", "s2", nil)}, Workloads: []*appsv1.Deployment{deploy("a", "d", nil)}, Waypoints: []*gatewayv1.Gateway{gw("a", "wp", "")}},
			2, 0},
		{"waypoint for workloads",
			BindingObjects{Namespaces: map[string]map[string]string{"a": ambientUsing("wp")}, Services: []*corev1.Service{svc("a", "s", nil)}, Workloads: []*appsv1.Deployment{deploy("a", "d", nil)}, Waypoints: []*gatewayv1.Gateway{gw("a", "wp", scenarios.WaypointWorkload)}},
			0, 1},
		{"waypoint for all; its own Service and Deployment are not bound",
			BindingObjects{Namespaces: map[string]map[string]string{"a": ambientUsing("wp")}, Services: []*corev1.Service{svc("a", "s", nil), svc("a", "wp", own)}, Workloads: []*appsv1.Deployment{deploy("a", "d", nil), deploy("a", "wp", own)}, Waypoints: []*gatewayv1.Gateway{gw("a", "wp", scenarios.WaypointAll)}},
			1, 1},
		{"an object opts out with none",
			BindingObjects{Namespaces: map[string]map[string]string{"a": ambientUsing("wp")}, Services: []*corev1.Service{svc("a", "s", use("none")), svc("a", "t", nil)}, Waypoints: []*gatewayv1.Gateway{gw("a", "wp", "")}},
			1, 0},
		{"an object's own label names a waypoint the namespace does not",
			BindingObjects{Namespaces: map[string]map[string]string{"a": {fixtures.LabelDataplaneMode: "ambient"}}, Services: []*corev1.Service{svc("a", "s", use("wp")), svc("a", "t", nil)}, Waypoints: []*gatewayv1.Gateway{gw("a", "wp", "")}},
			1, 0},
		{"a waypoint the mesh does not have binds nothing",
			BindingObjects{Namespaces: map[string]map[string]string{"a": ambientUsing("gone")}, Services: []*corev1.Service{svc("a", "s", nil)}, Waypoints: []*gatewayv1.Gateway{gw("a", "wp", "")}},
			0, 0},
		{"a waypoint of another namespace binds nothing",
			BindingObjects{Namespaces: map[string]map[string]string{"a": ambientUsing("wp")}, Services: []*corev1.Service{svc("a", "s", nil)}, Waypoints: []*gatewayv1.Gateway{gw("b", "wp", "")}},
			0, 0},
		{"Services outside ambient namespaces are not bound; ServiceEntries are",
			BindingObjects{Namespaces: map[string]map[string]string{"a": use("wp")}, Services: []*corev1.Service{svc("a", "s", nil)},
				ServiceEntries: []*networkingv1.ServiceEntry{{ObjectMeta: meta("a", "ext", nil)}}, Waypoints: []*gatewayv1.Gateway{gw("a", "wp", "")}},
			1, 0},
	} {
		s, w := c.in.WaypointBinds()
		if s != c.services || w != c.workloads {
			t.Errorf("%s: %d services and %d workloads bound, want %d and %d", c.name, s, w, c.services, c.workloads)
		}
	}
}
