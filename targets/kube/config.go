package kube

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/targets/kube/kindcluster"
	"github.com/firstbyte/firstbyte/targets/kube/pins"
	corev1 "k8s.io/api/core/v1"
)

// Target names.
const (
	Kind    = "kind"
	Cluster = "cluster"
)

// Agent is the agent binary's path in the image (servers/Dockerfile).
const Agent = "/firstbyte-agent"

// DefaultKindCluster is the kind cluster name when KIND_CLUSTER is unset.
const DefaultKindCluster = "firstbyte"

// Explainer explains the live sidecars' config_dumps for the evidence
// folder (the predict evaluator; nil leaves explain.txt out).
type Explainer func(live LiveDumps, b *fixtures.Bundle) (string, error)

// Expecter renders what a run's sidecars must show for one state of a
// scenario (fixtures.Base or fixtures.Remediated) as Envoy config_dumps,
// for the ClusterIPs the cluster assigned ("namespace/name" → IP): Istio's
// own generator (predict.ExpectedConfigDumps), so the waits know Istio's
// rules only through Istio's code. server is nil when the server runs no
// sidecar.
type Expecter func(b *fixtures.Bundle, phase fixtures.Phase, clusterIPs map[string]string) (client, server []byte, err error)

// LiveDumps are a scenario's live sidecar configurations and where its
// pods are.
type LiveDumps struct {
	// Client and Server are the sidecars' config_dumps; nil for a pod
	// without a sidecar.
	Client, Server []byte
	// ClientIP and ServerIP are the pods' IPs ("" when unknown);
	// Destination is the address the probe dialled, as IP:port.
	ClientIP, ServerIP, Destination string
}

// Config configures a kube Target.
type Config struct {
	// Target is Kind or Cluster.
	Target string
	// RunID labels everything the run creates (fixtures.LabelRun).
	RunID string
	// RepoRoot is the repository: hack/ and servers/Dockerfile live there.
	RepoRoot string
	Pins     *pins.Pins

	// IstioVersion is the Istio the kind target installs.
	IstioVersion string
	// Istioctl is the istioctl binary for IstioVersion (default
	// hack/bin/istioctl-<version>, which hack/istioctl.sh downloads).
	Istioctl string
	// IstioValues is the install values template.
	IstioValues string

	// KindCluster names the kind cluster to create or reuse.
	KindCluster string
	// KeepCluster leaves a cluster this run created in place.
	KeepCluster bool
	// KindConfig is the kind config file; NodeImage the node image.
	KindConfig string
	NodeImage  string
	// DockerProbe checks the Docker engine (kindcluster.DockerInfo when nil).
	DockerProbe kindcluster.Probe

	// Image is the agent image; ImageFromEnv says FIRSTBYTE_IMAGE set it
	// (the cluster target needs a pushed image).
	Image        string
	ImageFromEnv bool
	// Kubeconfig is the cluster target's kubeconfig file ("" = KUBECONFIG,
	// then ~/.kube/config).
	Kubeconfig string
	// DisposableMesh (FIRSTBYTE_DISPOSABLE_MESH=1) allows the cluster
	// target's mesh-wide changes: collider Services on server-first ports
	// and meshConfig edits. Without it the run lists them and stops.
	DisposableMesh bool
	// ReinstallIstio (REINSTALL_ISTIO=1) lets the kind target install
	// IstioVersion over a reused cluster's other Istio version; without it
	// such a cluster is refused.
	ReinstallIstio bool

	// Timeouts of the waits.
	RolloutTimeout, SyncTimeout time.Duration
	// Exchange bounds a probe's exchange after the first byte.
	Exchange time.Duration

	// Out receives progress lines.
	Out io.Writer
	// Explain, when set, adds explain.txt to evidence.
	Explain Explainer
	// Expect renders what the sidecars must show; the sidecar waits need
	// it.
	Expect Expecter

	// Profile is the data-plane profile: sidecar (default) or ambient
	// (ambient.go; env PROFILE). ExpectAmbient renders what an ambient
	// scenario's waypoint and ztunnel must show.
	Profile       string
	ExpectAmbient AmbientExpecter

	// Servers is embedded (the agent's servers) or upstream (the pinned
	// images of hack/versions.env; see upstream.go).
	Servers string
	// upstream is filled by New when Servers is upstream.
	upstream upstreamRun
}

// NewRunID returns a fresh run label value.
func NewRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "fb-" + hex.EncodeToString(b)
}

// ConfigFromEnv builds a Config for target from the pins file in repoRoot
// and the environment: ISTIO_VERSION, ISTIOCTL, KIND_CLUSTER, KEEP_CLUSTER,
// KIND_NODE_IMAGE, FIRSTBYTE_IMAGE, FIRSTBYTE_RUN_ID, KUBECONFIG,
// FIRSTBYTE_DISPOSABLE_MESH, REINSTALL_ISTIO.
func ConfigFromEnv(target, repoRoot string, lookupEnv func(string) (string, bool)) (Config, error) {
	if target != Kind && target != Cluster {
		return Config{}, fmt.Errorf("target %q: the kube target runs kind or cluster", target)
	}
	env := func(k string) string { v, _ := lookupEnv(k); return v }
	yes := func(k string) bool { return env(k) == "1" || strings.EqualFold(env(k), "true") }
	p, err := pins.Load(filepath.Join(repoRoot, pins.File), lookupEnv)
	if err != nil {
		return Config{}, err
	}
	c := Config{
		Target:         target,
		RunID:          env("FIRSTBYTE_RUN_ID"),
		RepoRoot:       repoRoot,
		Pins:           p,
		IstioVersion:   p.IstioVersion(),
		Istioctl:       env("ISTIOCTL"),
		IstioValues:    filepath.Join(repoRoot, "hack", "istio", "values.yaml.tmpl"),
		KindCluster:    env("KIND_CLUSTER"),
		KeepCluster:    yes("KEEP_CLUSTER"),
		KindConfig:     filepath.Join(repoRoot, "hack", "kind-config.yaml"),
		NodeImage:      p.NodeImage(p.IstioVersion(), lookupEnv),
		Image:          p.AgentImage(),
		ImageFromEnv:   env("FIRSTBYTE_IMAGE") != "",
		Kubeconfig:     "",
		DisposableMesh: yes(DisposableMeshEnv),
		ReinstallIstio: yes(ReinstallIstioEnv),
		RolloutTimeout: 5 * time.Minute,
		SyncTimeout:    2 * time.Minute,
		Exchange:       5 * time.Second,
		Out:            os.Stdout,
	}
	if c.RunID == "" {
		c.RunID = NewRunID()
	}
	switch c.Profile = env(ProfileEnv); c.Profile {
	case "", ProfileSidecar:
		c.Profile = ProfileSidecar
	case ProfileAmbient:
		// Ambient is cluster-wide: its own cluster and install values.
		c.IstioValues = filepath.Join(repoRoot, "hack", "istio", "values-ambient.yaml.tmpl")
		if c.KindCluster == "" {
			c.KindCluster = AmbientKindCluster
		}
	default:
		return Config{}, fmt.Errorf("%s=%q: want %s (the default) or %s", ProfileEnv, c.Profile, ProfileSidecar, ProfileAmbient)
	}
	if c.KindCluster == "" {
		c.KindCluster = DefaultKindCluster
	}
	if c.Istioctl == "" {
		c.Istioctl = filepath.Join(repoRoot, "hack", "bin", "istioctl-"+c.IstioVersion)
	}
	return c, nil
}

func (c Config) out() io.Writer {
	if c.Out == nil {
		return io.Discard
	}
	return c.Out
}

// topology is the fixtures topology the target renders for: the suite's
// standard names on kind (its own cluster), and names suffixed with the run
// ID on a shared cluster, so two runs never share a namespace.
func (c Config) topology() fixtures.Topology {
	t := fixtures.DefaultTopology()
	t.RunID = c.RunID
	t.Image = c.Image
	t.Upstream = c.upstream.servers
	if c.Target == Cluster {
		suffix := strings.TrimPrefix(c.RunID, "fb-")
		t.ClientNamespace += "-" + suffix
		t.ServerNamespace += "-" + suffix
		t.ColliderNamespace += "-" + suffix
	}
	return t
}

func (c Config) namespaces() []string {
	t := c.topology()
	return []string{t.ClientNamespace, t.ServerNamespace, t.ColliderNamespace}
}

// clientPodAnnotations are the pod annotations the kube target checks on
// the running client pod after a rollout.
var clientPodAnnotations = []string{fixtures.AnnotationExcludeOutboundIPRanges, fixtures.AnnotationExcludeOutboundPorts}

func annotationsMatch(pod *corev1.Pod, want map[string]string) error {
	for _, k := range clientPodAnnotations {
		if got := pod.Annotations[k]; got != want[k] {
			return fmt.Errorf("client pod %s/%s has %s=%q, want %q (the Deployment's rollout has not replaced it yet)", pod.Namespace, pod.Name, k, got, want[k])
		}
	}
	return nil
}
