package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/firstbyte/firstbyte/envoy/configdump"
	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/targets/kube/sidecarsync"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// EvidenceFiles are the files Evidence writes (when it can read them).
var EvidenceFiles = []string{
	"manifests.yaml", "remediation.yaml", "meshconfig.yaml", "base-meshconfig.yaml", "topology.json",
	"config_dump.json", "server_config_dump.json (server with a sidecar)", "waypoint_config_dump.json and ztunnel_config_dump.json (ambient)", "sidecar-check.txt", "explain.txt", "stats.txt", "pods.yaml", "logs/",
}

// Evidence implements targets.Target: it saves what explains a failure into
// dir — the rendered manifests and mesh config, the client sidecar's
// config_dump and what it lacks for either state, the explain trace of the
// dump, Envoy's stats for the port, the pods and their logs (client and
// sidecar, server, collider, control). It writes what it can and returns
// the errors of what it could not.
func (t *Target) Evidence(ctx context.Context, b *fixtures.Bundle, dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return fmt.Errorf("evidence folder: %w", err)
	}
	var errs []error
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	write("manifests.yaml", fixtures.Manifest(b.Base))
	write("remediation.yaml", fixtures.Manifest(b.Remediation()))
	write("meshconfig.yaml", b.MeshConfig)
	write("base-meshconfig.yaml", b.BaseMeshConfig)
	write("topology.json", topologyJSON(b.Topology))
	if t.applier == nil {
		return errors.Join(append(errs, errors.New("not connected to a cluster: only the rendered manifests were saved"))...)
	}

	clientKey := deploymentKey(b.Topology.ClientNamespace, clientDeployment)
	serverKey := deploymentKey(b.Topology.ServerNamespace, serverDeployment)
	var raw []byte
	var dump, serverDump *configdump.Dump
	var err error
	if !b.Scenario.Security.NoClientSidecar {
		raw, dump, err = t.configDump(ctx, clientKey, EvidenceConfigDumpCommand())
		if err != nil {
			errs = append(errs, fmt.Errorf("client config_dump: %w", err))
		}
		if raw != nil {
			write("config_dump.json", raw)
		}
	}
	if b.Scenario.Ambient != nil {
		errs = append(errs, t.ambientEvidence(ctx, b, write)...)
	}
	var sraw []byte
	if b.Scenario.Security.ServerSidecar {
		var sd *configdump.Dump
		sraw, sd, err = t.configDump(ctx, serverKey, EvidenceConfigDumpCommand())
		if err != nil {
			errs = append(errs, fmt.Errorf("server config_dump: %w", err))
		}
		if sraw != nil {
			write("server_config_dump.json", sraw)
		}
		serverDump = sd
	}
	var sb strings.Builder
	for _, phase := range []fixtures.Phase{fixtures.Base, fixtures.Remediated} {
		want, err := t.expected(ctx, b, phase)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, c := range []struct {
			who   string
			dump  *configdump.Dump
			conds []sidecarsync.Condition
		}{{"client", dump, want.client}, {"server", serverDump, want.server}} {
			if c.dump == nil || c.conds == nil {
				continue
			}
			unmet := sidecarsync.Unmet(c.dump, c.conds)
			fmt.Fprintf(&sb, "%s sidecar, %s state: %d of %d checks fail\n", c.who, phase, len(unmet), len(c.conds))
			for _, u := range unmet {
				fmt.Fprintf(&sb, "  - %s\n", u)
			}
		}
	}
	write("sidecar-check.txt", []byte(sb.String()))
	if (raw != nil || sraw != nil) && t.cfg.Explain != nil {
		write("explain.txt", []byte(t.explain(ctx, b, LiveDumps{Client: raw, Server: sraw})))
	}
	if pod, err := t.applier.RunningPod(ctx, clientKey); err == nil && !b.Scenario.Security.NoClientSidecar {
		stats, _, err := t.exec.Exec(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}, proxyContainer, StatsCommand(b.Scenario.Port))
		if err != nil {
			errs = append(errs, fmt.Errorf("stats: %w", err))
		}
		write("stats.txt", stats)
	}

	var pods []corev1.Pod
	for _, ns := range t.namespacesOf(b) {
		list := &corev1.PodList{}
		if err := t.client.List(ctx, list, client.InNamespace(ns)); err != nil {
			errs = append(errs, fmt.Errorf("listing pods in %s: %w", ns, err))
			continue
		}
		pods = append(pods, list.Items...)
	}
	if y, err := yaml.Marshal(pods); err == nil {
		write("pods.yaml", y)
	}
	for _, p := range pods {
		for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			out, err := t.exec.Logs(ctx, types.NamespacedName{Namespace: p.Namespace, Name: p.Name}, c.Name, false)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			write(filepath.Join("logs", fmt.Sprintf("%s_%s_%s.log", p.Namespace, p.Name, c.Name)), out)
		}
	}
	return errors.Join(errs...)
}

// explain fills in where the pods are and runs the Explainer; what it
// cannot find or explain is said in the text.
func (t *Target) explain(ctx context.Context, b *fixtures.Bundle, live LiveDumps) string {
	for _, p := range []struct {
		key types.NamespacedName
		ip  *string
	}{
		{deploymentKey(b.Topology.ClientNamespace, clientDeployment), &live.ClientIP},
		{deploymentKey(b.Topology.ServerNamespace, serverDeployment), &live.ServerIP},
	} {
		pod, err := t.applier.RunningPod(ctx, p.key)
		if err != nil {
			return "explain failed: " + err.Error() + "\n"
		}
		*p.ip = pod.Status.PodIP
	}
	dst, err := t.destination(ctx, b)
	if err != nil {
		return "explain failed: " + err.Error() + "\n"
	}
	live.Destination = dst
	text, err := t.cfg.Explain(live, b)
	if err != nil {
		return "explain failed: " + err.Error() + "\n"
	}
	return text
}

// destination is the IP:port the client's connection goes to: the server
// pod's IP, or its Service's ClusterIP when it is in the mesh.
func (t *Target) destination(ctx context.Context, b *fixtures.Bundle) (string, error) {
	host := b.Topology.ServerIP
	if b.Scenario.Placement == scenarios.InMesh {
		svc := &corev1.Service{}
		if err := t.client.Get(ctx, types.NamespacedName{Namespace: b.Topology.ServerNamespace, Name: serverDeployment}, svc); err != nil {
			return "", fmt.Errorf("reading the server Service for explain: %w", err)
		}
		host = svc.Spec.ClusterIP
	}
	if net.ParseIP(host) == nil {
		return "", fmt.Errorf("the server address %q is not an IP", host)
	}
	return net.JoinHostPort(host, fmt.Sprint(b.Scenario.Port)), nil
}

// topologyJSON is the topology a bundle was rendered for, for reports.
func topologyJSON(t fixtures.Topology) []byte {
	b, _ := json.MarshalIndent(t, "", "  ")
	return b
}
