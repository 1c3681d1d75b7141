package analyze

import (
	"context"
	"fmt"

	"go.yaml.in/yaml/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
)

// ClusterResources are what LoadCluster lists: the kinds `kubectl get
// svc,serviceentries,sidecars,destinationrules,peerauthentications,
// authorizationpolicies,namespaces,deployments -A` reads, plus
// StatefulSets and DaemonSets (their pods get sidecars too), the
// VirtualServices that may route a port, and Istio's ConfigMaps.
var ClusterResources = []schema.GroupVersionResource{
	{Version: "v1", Resource: "namespaces"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "configmaps"},
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "apps", Version: "v1", Resource: "statefulsets"},
	{Group: "apps", Version: "v1", Resource: "daemonsets"},
	{Group: "networking.istio.io", Version: "v1", Resource: "serviceentries"},
	{Group: "networking.istio.io", Version: "v1", Resource: "sidecars"},
	{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"},
	{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"},
	{Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"},
	{Group: "security.istio.io", Version: "v1", Resource: "authorizationpolicies"},
	{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}, // waypoints (ambient.go)
}

// ClusterClient is a dynamic client for KUBECONFIG's current context (or
// the in-cluster config).
func ClusterClient() (dynamic.Interface, string, error) {
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{})
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("--cluster: no usable KUBECONFIG: %w (set KUBECONFIG or pass -f with `kubectl get ... -o yaml` output)", err)
	}
	raw, _ := cc.RawConfig()
	d, err := dynamic.NewForConfig(rc)
	return d, raw.CurrentContext, err
}

// LoadCluster reads the mesh from a live cluster. It only lists: analyze
// never creates, changes or deletes anything (a test with a fake client
// asserts the verbs). A resource whose API the cluster does not serve
// (Istio's CRDs missing) is noted and skipped.
func LoadCluster(ctx context.Context, c dynamic.Interface, name string) (*Mesh, []string, error) {
	m := newMesh()
	var notes []string
	for _, gvr := range ClusterResources {
		opts := metav1.ListOptions{}
		if gvr.Resource == "configmaps" {
			opts.FieldSelector = "metadata.name=istio"
		}
		list, err := c.Resource(gvr).Namespace(metav1.NamespaceAll).List(ctx, opts)
		if apierrors.IsNotFound(err) {
			notes = append(notes, fmt.Sprintf("the cluster serves no %s (%s): skipped", gvr.Resource, gvr.GroupVersion()))
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("listing %s in cluster %s: %w (analyze needs get/list on it)", gvr.Resource, name, err)
		}
		for _, it := range list.Items {
			var n yaml.Node
			data, err := yaml.Marshal(it.Object)
			if err == nil {
				err = yaml.Unmarshal(data, &n)
			}
			if err != nil || len(n.Content) == 0 {
				return nil, nil, fmt.Errorf("reading %s %s/%s from cluster %s: %v", gvr.Resource, it.GetNamespace(), it.GetName(), name, err)
			}
			m.addNode(fmt.Sprintf("cluster %s: %s %s/%s", name, it.GetKind(), it.GetNamespace(), it.GetName()), n.Content[0])
		}
	}
	return m, notes, nil
}
