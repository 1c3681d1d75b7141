package kube

import (
	"github.com/firstbyte/firstbyte/fixtures"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Names of the pods the target execs into.
const (
	clientDeployment  = "client"
	clientContainer   = "client"
	proxyContainer    = "istio-proxy"
	serverDeployment  = "server"
	serverContainer   = "server"
	controlDeployment = "control"
	controlContainer  = "control"
)

// LabelRole marks objects the target adds next to the rendered fixtures.
const LabelRole = "firstbyte.dev/role"

// controlObject is the control pod: the agent in the server's namespace,
// which is not injected, so its probes reach the server without any
// sidecar. The hung rule needs it: a hang only counts when this pod gets
// the server's greeting fast.
func controlObject(t fixtures.Topology) *appsv1.Deployment {
	one := int32(1)
	labels := map[string]string{"app": controlDeployment, fixtures.LabelRun: t.RunID, LabelRole: "control"}
	// No sidecar, and out of ambient capture even in an ambient namespace
	// (pod label istio.io/dataplane-mode=none): the control path is direct.
	podLabels := map[string]string{"app": controlDeployment, fixtures.LabelRun: t.RunID, "sidecar.istio.io/inject": "false", fixtures.LabelDataplaneMode: "none"}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Namespace: t.ServerNamespace, Name: controlDeployment, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": controlDeployment}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:            controlContainer,
					Image:           t.Image,
					ImagePullPolicy: corev1.PullIfNotPresent,
					// Idle as an HTTP server so the pod stays up for exec.
					Args: []string{"serve", "http", "--listen", ":8080", "--status", ":" + itoa(t.StatusPort)},
				}}},
			},
		},
	}
}

func controlKey(t fixtures.Topology) string {
	return fixtures.Object{Kind: "Deployment", Namespace: t.ServerNamespace, Name: controlDeployment}.Key()
}

func deploymentKey(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}
