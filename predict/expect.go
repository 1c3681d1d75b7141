package predict

import (
	"fmt"

	"github.com/firstbyte/firstbyte/fixtures"
	corev1 "k8s.io/api/core/v1"
)

// ExpectedConfigDumps is what a live run's sidecars must show for one
// state of a scenario (fixtures.Base or fixtures.Remediated): Istio's own
// generator, fed that state's objects and meshConfig with the ClusterIPs
// the live cluster assigned ("namespace/name" → IP), renders the client's
// and the server's sidecar configuration as Envoy admin config_dumps. The
// kind and cluster targets wait until the live dumps agree with these
// (targets/kube/sidecarsync), so the wait knows Istio's rules only through
// Istio's code. server is nil when the server runs no sidecar, client when
// the client runs none.
func ExpectedConfigDumps(b *fixtures.Bundle, phase fixtures.Phase, clusterIPs map[string]string) (client, server []byte, err error) {
	state := *b
	objs, mesh := b.Final, b.MeshConfig
	if phase == fixtures.Base {
		objs, mesh = b.Base, b.BaseMeshConfig
	}
	state.Final, state.MeshConfig = withClusterIPs(objs, clusterIPs), mesh
	in, err := inputFor(&state)
	if err != nil {
		return nil, nil, err
	}
	dump := func(pod string) ([]byte, error) {
		if _, ok := in.sidecars[pod]; !ok {
			return nil, nil
		}
		c, err := expected.sidecarOf(&state, in, pod)
		if err != nil {
			return nil, err
		}
		d, err := c.ConfigDump()
		if err != nil {
			return nil, fmt.Errorf("rendering the expected %s sidecar config_dump of %s: %w", pod, b.Scenario.ID, err)
		}
		return d, nil
	}
	if client, err = dump(ClientPod); err != nil {
		return nil, nil, err
	}
	server, err = dump(ServerPod)
	return client, server, err
}

// expected remembers the generations of ExpectedConfigDumps: a run waits
// for the same few states again and again (deploy, remediate, revert, and
// the dry-run plan of every scenario).
var expected = NewPredictor()

// withClusterIPs returns the objects with each Service's ClusterIP set to
// the one the live cluster assigned: Istio names a TCP service's outbound
// listener after it.
func withClusterIPs(objs []fixtures.Object, ips map[string]string) []fixtures.Object {
	out := make([]fixtures.Object, len(objs))
	for i, o := range objs {
		out[i] = o
		svc, ok := o.Decoded.(*corev1.Service)
		ip := ips[o.Namespace+"/"+o.Name]
		if !ok || ip == "" || ip == svc.Spec.ClusterIP {
			continue
		}
		svc = svc.DeepCopy()
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip, []string{ip}
		out[i].Decoded = svc
	}
	return out
}
