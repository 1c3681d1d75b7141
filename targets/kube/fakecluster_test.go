package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/firstbyte/firstbyte/envoy/configdump/configdumptest"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/targets/kube/meshconfig"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// The fake cluster stands in for the API server, the Deployment controller
// and the kubelet: a Deployment that is created or updated is rolled out at
// once into one ready pod carrying the template's labels and annotations;
// a Service gets the ClusterIP the canned config dumps were generated with
// (../configdump/testdata/README.md).

var fakePodIPs = map[string]string{"server": "198.51.100.7", "client": "10.244.0.10", "collider": "10.244.0.30", "control": "10.244.0.40"}
var fakeClusterIPs = map[string]string{"server": "10.96.0.20", "collider": "10.96.0.30"}

const installedMesh = "accessLogFile: /dev/stdout\noutboundTrafficPolicy:\n  mode: ALLOW_ANY\n"

func rollOut(ctx context.Context, c client.WithWatch, d *appsv1.Deployment) error {
	if err := c.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
		return err
	}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1, ReadyReplicas: 1}
	if err := c.Status().Update(ctx, d); err != nil {
		return err
	}
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(d.Namespace), client.MatchingLabels(d.Spec.Selector.MatchLabels)); err != nil {
		return err
	}
	for i := range pods.Items {
		if err := c.Delete(ctx, &pods.Items[i]); err != nil {
			return err
		}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: d.Namespace, Name: fmt.Sprintf("%s-%s", d.Name, d.ResourceVersion),
			Labels: d.Spec.Template.Labels, Annotations: d.Spec.Template.Annotations,
		},
		Spec: d.Spec.Template.Spec,
	}
	if d.Spec.Template.Labels["sidecar.istio.io/inject"] == "true" {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.29.8"})
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fakePodIPs[d.Name],
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	if err := c.Create(ctx, pod); err != nil {
		return err
	}
	return c.Status().Update(ctx, pod)
}

func newFakeCluster(t *testing.T) client.Client {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio"}, Data: map[string]string{meshconfig.Key: installedMesh}}
	kubeDNS := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "kube-dns"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10", Ports: []corev1.ServicePort{{Name: "dns-tcp", Port: 53}}}}
	base := fake.NewClientBuilder().WithScheme(fixtures.Scheme).WithObjects(cm, kubeDNS).
		WithStatusSubresource(&appsv1.Deployment{}, &corev1.Pod{}).Build()
	return interceptor.NewClient(base, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if svc, ok := obj.(*corev1.Service); ok && svc.Spec.ClusterIP == "" {
				svc.Spec.ClusterIP = fakeClusterIPs[svc.Name]
				svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
			}
			if err := c.Create(ctx, obj, opts...); err != nil {
				return err
			}
			if d, ok := obj.(*appsv1.Deployment); ok {
				return rollOut(ctx, c, d)
			}
			return nil
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if err := c.Update(ctx, obj, opts...); err != nil {
				return err
			}
			if d, ok := obj.(*appsv1.Deployment); ok {
				return rollOut(ctx, c, d)
			}
			return nil
		},
	})
}

// fakeExec answers the commands the target runs in pods: config_dump from
// the canned dump that matches the cluster's current state, probes and
// gets with canned JSON, logs.
type fakeExec struct {
	t      *testing.T
	client client.Client
	// stale keeps answering with the unremediated dump.
	stale bool
	// observation is what probes print.
	observation string
	// mailbox says whether the SMTP server holds the probe's message.
	mailbox bool
	// client and server, when set, name the canned dumps of the client's
	// and the server's sidecars (inbound scenarios).
	clientDump, serverDump string

	mu       sync.Mutex
	commands []string
}

func (f *fakeExec) dumpName(ctx context.Context, pod types.NamespacedName) string {
	if pod.Namespace == "fb-server" {
		return f.serverDump
	}
	if f.clientDump != "" {
		return f.clientDump
	}
	if f.stale {
		return "mysql-10000-http"
	}
	se := &networkingv1.ServiceEntry{}
	if f.client.Get(ctx, types.NamespacedName{Namespace: "fb-client", Name: "external-mysql"}, se) == nil && len(se.Spec.GetAddresses()) > 0 {
		return "mysql-10000-http-serviceentry-tcp"
	}
	cm := &corev1.ConfigMap{}
	if f.client.Get(ctx, types.NamespacedName{Namespace: "istio-system", Name: "istio"}, cm) == nil && strings.Contains(cm.Data[meshconfig.Key], "protocolDetectionTimeout: 1s") {
		return "mysql-10000-http-protocol-detection-timeout"
	}
	return "mysql-10000-http"
}

func (f *fakeExec) Exec(ctx context.Context, pod types.NamespacedName, container string, command []string) ([]byte, []byte, error) {
	line := fmt.Sprintf("%s[%s]: %s", pod, container, strings.Join(command, " "))
	f.mu.Lock()
	f.commands = append(f.commands, line)
	f.mu.Unlock()
	switch {
	case strings.Join(command, " ") == strings.Join(ConfigDumpCommand(), " "), strings.Join(command, " ") == strings.Join(EvidenceConfigDumpCommand(), " "):
		data, err := configdumptest.Sample(f.dumpName(ctx, pod))
		return data, nil, err
	case len(command) > 2 && command[1] == "request" && strings.HasPrefix(command[3], "stats"):
		return []byte("listener.0.0.0.0_10000.downstream_cx_total: 3\n"), nil, nil
	case len(command) > 1 && command[0] == Agent && command[1] == "probe":
		return []byte(f.observation + "\n"), nil, nil
	case len(command) > 1 && command[0] == Agent && command[1] == "get":
		u := command[3]
		if strings.Contains(u, "/messages") {
			if f.mailbox {
				return []byte(`{"url":"` + u + `","status":200,"body":"[]","ok":true}` + "\n"), nil, nil
			}
			return []byte(`{"url":"` + u + `","status":404,"body":"no such message","ok":false}` + "\n"), nil, nil
		}
		return []byte(`{"url":"` + u + `","status":200,"body":"{\"name\":\"collider\"}","ok":true}` + "\n"), nil, nil
	}
	return nil, nil, fmt.Errorf("fake exec: unexpected command %q", line)
}

func (f *fakeExec) Logs(_ context.Context, pod types.NamespacedName, container string, _ bool) ([]byte, error) {
	return []byte(fmt.Sprintf("log of %s %s\n", pod, container)), nil
}

func (f *fakeExec) ran(substr string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.commands {
		if strings.Contains(c, substr) {
			return true
		}
	}
	return false
}

func observationJSON(outcome string, firstByte string) string {
	b, _ := json.Marshal(map[string]any{
		"protocol": "mysql", "addr": "198.51.100.7:10000", "outcome": outcome,
		"timings": map[string]string{"connect": "1ms", "firstByte": firstByte, "done": "20ms"},
		"budget":  "1s", "serverBytes": 78, "detail": "SELECT 1 returned 1",
	})
	return string(b)
}

// cannedExpect stands in for predict.ExpectedConfigDumps, which the e2e
// suite wires in (e2e tests that it renders these same dumps): the
// expected config_dumps of a state are the canned dumps Istio's generator
// wrote for it. Outbound scenarios' base state is mysql-10000-http's.
func cannedExpect(b *fixtures.Bundle, phase fixtures.Phase, _ map[string]string) (client, server []byte, err error) {
	id := b.Scenario.ID
	if id == "mysql-inbound-tcp-pa-strict-no-client-sidecar" {
		id = "mysql-inbound-tcp-pa-strict-dr-disable" // the same server side
	}
	if server, err = configdumptest.Sample(id + ".server"); err != nil {
		server = nil
	}
	if b.Scenario.Security.NoClientSidecar {
		return nil, server, nil
	}
	if server != nil {
		client, err = configdumptest.Sample(id + ".client")
		return client, server, err
	}
	if phase == fixtures.Remediated {
		if client, err = configdumptest.Sample(id); err == nil {
			return client, nil, nil
		}
	}
	client, err = configdumptest.Sample("mysql-10000-http")
	return client, nil, err
}
