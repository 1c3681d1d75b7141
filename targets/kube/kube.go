package kube

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/targets"
	"github.com/firstbyte/firstbyte/targets/kube/istioinstall"
	"github.com/firstbyte/firstbyte/targets/kube/kindcluster"
	"github.com/firstbyte/firstbyte/targets/kube/meshconfig"
	"github.com/firstbyte/firstbyte/targets/kube/podexec"
	"github.com/firstbyte/firstbyte/targets/kube/resources"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	e2etypes "sigs.k8s.io/e2e-framework/pkg/types"
)

// Step is one env func of the set-up or tear-down with the plan lines that
// describe it.
type Step struct {
	Name string
	Plan []string
	Run  e2etypes.EnvFunc
}

// Target is the kind or cluster target. Create it with New; it is not safe
// for concurrent scenarios (the suite runs them one at a time).
type Target struct {
	cfg Config
	env *envconf.Config

	kind     *kindcluster.Cluster
	istioctl *istioinstall.Istioctl
	values   *istioinstall.Rendered
	// kubeconfigDir holds the kind cluster's kubeconfig.
	kubeconfigDir string

	client   client.Client
	exec     podexec.Executor
	applier  *resources.Applier
	mesh     *meshconfig.Editor
	detected istioinstall.Installed

	// ztunnelFetch replaces istioctl ztunnel-config in tests.
	ztunnelFetch func(context.Context) ([]byte, error)

	mu       sync.Mutex
	tornDown bool
	setupRan bool
}

// New returns a Target. It reads and checks local inputs (the kind config,
// the Istio values template) but touches no cluster and no Docker.
func New(cfg Config) (*Target, error) {
	if cfg.Target != Kind && cfg.Target != Cluster {
		return nil, fmt.Errorf("kube target %q: want %s or %s", cfg.Target, Kind, Cluster)
	}
	if cfg.RunID == "" {
		cfg.RunID = NewRunID()
	}
	if cfg.Exchange == 0 {
		cfg.Exchange = 5 * time.Second
	}
	if cfg.RolloutTimeout == 0 {
		cfg.RolloutTimeout = 5 * time.Minute
	}
	if cfg.SyncTimeout == 0 {
		cfg.SyncTimeout = 2 * time.Minute
	}
	if err := cfg.setUpstream(); err != nil {
		return nil, err
	}
	t := &Target{cfg: cfg, env: envconf.New()}
	if cfg.Target == Kind {
		kc, err := kindcluster.LoadConfig(cfg.KindConfig)
		if err != nil {
			return nil, err
		}
		t.kind = &kindcluster.Cluster{Name: cfg.KindCluster, NodeImage: cfg.NodeImage, Config: kc, ConfigPath: cfg.KindConfig, Keep: cfg.KeepCluster, Out: cfg.out()}
		t.istioctl = &istioinstall.Istioctl{Path: cfg.Istioctl, Version: cfg.IstioVersion, Out: cfg.out()}
		hub := "docker.io/istio"
		if cfg.Pins != nil {
			hub = cfg.Pins.IstioHub()
		}
		v, err := istioinstall.Render(cfg.IstioValues, istioinstall.Values{Version: cfg.IstioVersion, Hub: hub})
		if err != nil {
			return nil, err
		}
		t.values = v
	}
	return t, nil
}

// Name implements targets.Target.
func (t *Target) Name() string { return t.cfg.Target }

// RunID is the run label value.
func (t *Target) RunID() string { return t.cfg.RunID }

// IstioVersion implements targets.Target: the installed version on kind,
// the detected one on a cluster (after Setup).
func (t *Target) IstioVersion() string {
	if t.cfg.Target == Kind {
		return t.cfg.IstioVersion
	}
	if t.detected.Version != "" {
		return t.detected.Version
	}
	return "unknown (read from istiod at set-up)"
}

// Capabilities implements targets.Target: real sockets and real Envoy; the
// ambient profile and upstream servers narrow what runs.
func (t *Target) Capabilities() targets.Capabilities {
	return targets.Capabilities{Wire: true, Requirement: t.Requirement, ServerImplementation: t.ServerImplementation}
}

func (t *Target) progress(format string, args ...any) {
	fmt.Fprintf(t.cfg.out(), "[%s] %s\n", t.cfg.Target, fmt.Sprintf(format, args...))
}

// SetupSteps are the set-up env funcs in order.
func (t *Target) SetupSteps() []Step {
	if t.cfg.Target == Kind && t.ambient() {
		return []Step{t.stepDocker(), t.stepKindCluster(), t.stepConnect(), t.stepGatewayAPI(), t.withAmbientDaemonSets(t.stepIstioInstall()), t.stepImage()}
	}
	if t.cfg.Target == Kind {
		return []Step{t.stepDocker(), t.stepKindCluster(), t.stepConnect(), t.stepIstioInstall(), t.stepImage()}
	}
	return []Step{t.stepConnect(), t.stepIstioDetect(), t.stepImageCheck()}
}

// TeardownSteps are the tear-down env funcs in order.
func (t *Target) TeardownSteps() []Step {
	steps := []Step{t.stepRestoreMesh(), t.stepDeleteRun()}
	if t.cfg.Target == Kind {
		steps = append(steps, t.stepDeleteKindCluster())
	}
	return steps
}

// Setup implements targets.Target: it runs SetupSteps in order and stops at
// the first failure.
func (t *Target) Setup(ctx context.Context) error {
	t.mu.Lock()
	t.setupRan = true
	t.mu.Unlock()
	for _, s := range t.SetupSteps() {
		start := time.Now()
		var err error
		if ctx, err = s.Run(ctx, t.env); err != nil {
			return fmt.Errorf("%s set-up, %s: %w", t.cfg.Target, s.Name, err)
		}
		t.progress("%s: done in %s", s.Name, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// Teardown implements targets.Target: it runs every TeardownStep even when
// one fails, and does nothing the second time.
func (t *Target) Teardown(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tornDown || !t.setupRan {
		return nil
	}
	t.tornDown = true
	var errs []error
	for _, s := range t.TeardownSteps() {
		if _, err := s.Run(ctx, t.env); err != nil {
			errs = append(errs, fmt.Errorf("%s tear-down, %s: %w", t.cfg.Target, s.Name, err))
		}
	}
	if t.kubeconfigDir != "" {
		os.RemoveAll(t.kubeconfigDir)
	}
	return errors.Join(errs...)
}

func (t *Target) stepDocker() Step {
	return Step{
		Name: "docker",
		Plan: []string{fmt.Sprintf("check that the Docker engine answers (docker info, %s limit); without one stop with the alternatives TARGET=local, TARGET=predict, DRY_RUN=1", kindcluster.DockerProbeTimeout)},
		Run: func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
			return ctx, kindcluster.CheckDocker(ctx, t.cfg.DockerProbe)
		},
	}
}

func (t *Target) stepKindCluster() Step {
	plan := []string{
		fmt.Sprintf("kind cluster %q: reuse it if it exists, else create it with kind's Go API (sigs.k8s.io/kind %s)", t.kind.Name, t.pin("KIND_VERSION")),
		"node image: " + t.kind.NodeImage,
		fmt.Sprintf("kind config: %s (%d node(s), kube-proxy %s)", rel(t.cfg.RepoRoot, t.kind.ConfigPath), len(t.kind.Config.Nodes), t.kind.Config.Networking.KubeProxyMode),
	}
	if t.kind.Keep {
		plan = append(plan, "KEEP_CLUSTER=1: a cluster this run creates is left in place")
	} else {
		plan = append(plan, "a cluster this run creates is deleted at the end (KEEP_CLUSTER=1 keeps it; a reused one is never deleted)")
	}
	return Step{Name: "kind cluster", Plan: plan, Run: func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		dir, err := os.MkdirTemp("", "firstbyte-kind-")
		if err != nil {
			return ctx, err
		}
		t.kubeconfigDir = dir
		path := filepath.Join(dir, "kubeconfig")
		if err := t.kind.CreateOrReuse(path); err != nil {
			return ctx, err
		}
		cfg.WithKubeconfigFile(path)
		return ctx, nil
	}}
}

func (t *Target) pin(key string) string {
	if t.cfg.Pins == nil {
		return ""
	}
	return t.cfg.Pins.Get(key)
}

func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// restConfig loads the kubeconfig: the env config's file (kind), or
// Config.Kubeconfig, KUBECONFIG, ~/.kube/config (cluster).
func (t *Target) restConfig(cfg *envconf.Config) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	switch {
	case cfg.KubeconfigFile() != "":
		rules.ExplicitPath = cfg.KubeconfigFile()
	case t.cfg.Kubeconfig != "":
		rules.ExplicitPath = t.cfg.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	rc, err := cc.ClientConfig()
	if err != nil {
		where := "KUBECONFIG is unset and ~/.kube/config does not exist"
		if rules.ExplicitPath != "" {
			where = "kubeconfig " + rules.ExplicitPath
		} else if v := os.Getenv("KUBECONFIG"); v != "" {
			where = "KUBECONFIG=" + v
		}
		return nil, "", fmt.Errorf("the %s target needs a cluster, and %s gives none (%v): set KUBECONFIG to a kubeconfig of a cluster with Istio installed; without a cluster run make e2e TARGET=kind (Docker), TARGET=local or TARGET=predict", t.cfg.Target, where, err)
	}
	raw, _ := cc.RawConfig()
	return rc, raw.CurrentContext, nil
}

func (t *Target) stepConnect() Step {
	plan := []string{"connect with the kind cluster's kubeconfig (written to a temporary file, never ~/.kube/config)"}
	if t.cfg.Target == Cluster {
		plan = []string{"connect with KUBECONFIG (or ~/.kube/config) and its current context; the API server must answer within 10s"}
	}
	return Step{Name: "connect", Plan: plan, Run: func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		rc, kctx, err := t.restConfig(cfg)
		if err != nil {
			return ctx, err
		}
		probeCfg := rest.CopyConfig(rc)
		probeCfg.Timeout = 10 * time.Second
		cs, err := kubernetes.NewForConfig(probeCfg)
		if err != nil {
			return ctx, err
		}
		v, err := cs.Discovery().ServerVersion()
		if err != nil {
			return ctx, fmt.Errorf("the cluster of context %q (%s) does not answer: %w: check KUBECONFIG and that the cluster is up; without a cluster run make e2e TARGET=kind, TARGET=local or TARGET=predict", kctx, rc.Host, err)
		}
		t.progress("connected to %s (context %q, Kubernetes %s)", rc.Host, kctx, v.GitVersion)
		c, err := client.New(rc, client.Options{Scheme: fixtures.Scheme})
		if err != nil {
			return ctx, fmt.Errorf("client for %s: %w", rc.Host, err)
		}
		full, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return ctx, err
		}
		t.connect(c, &podexec.Remote{Config: rc, Clientset: full})
		return ctx, nil
	}}
}

// connect wires the clients (tests call it with fakes).
func (t *Target) connect(c client.Client, exec podexec.Executor) {
	t.client, t.exec = c, exec
	t.applier = &resources.Applier{Client: c, RunID: t.cfg.RunID, Progress: func(s string) { t.progress("%s", s) }}
	t.mesh = meshconfig.New(c, types.NamespacedName{Namespace: istioinstall.Namespace, Name: "istio"})
}

func (t *Target) stepIstioInstall() Step {
	plan := []string{
		fmt.Sprintf("Istio %s with %s (hack/istioctl.sh %s downloads it, sha256-checked)", t.cfg.IstioVersion, rel(t.cfg.RepoRoot, t.istioctl.Path), t.cfg.IstioVersion),
		"a reused cluster: skip the install when istiod already runs " + t.cfg.IstioVersion + "; another version is refused unless " + ReinstallIstioEnv + "=1 (then " + t.cfg.IstioVersion + " is installed over it)" + reinstallNote(t.cfg.ReinstallIstio),
		"command: " + strings.Join(append([]string{rel(t.cfg.RepoRoot, t.istioctl.Path)}, t.istioctl.InstallCommand("<rendered values>", "<kind kubeconfig>")[1:]...), " "),
		"then wait for Deployment istio-system/istiod to roll out",
		"values (" + rel(t.cfg.RepoRoot, t.cfg.IstioValues) + ", rendered, decoded strictly as an IstioOperator):",
	}
	for _, l := range strings.Split(strings.TrimRight(stripComments(string(t.values.YAML)), "\n"), "\n") {
		plan = append(plan, "  | "+l)
	}
	return Step{Name: "istio", Plan: plan, Run: func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		in, err := istioinstall.Detect(ctx, t.client)
		switch {
		case err == nil && in.Version == t.cfg.IstioVersion:
			t.progress("istio: %s already installed (%s)", in.Version, in.Image)
			t.detected = in
			t.mesh = meshconfig.New(t.client, in.MeshConfigMap)
			return ctx, nil
		case in.Version != "" && in.Version != t.cfg.IstioVersion && !t.cfg.ReinstallIstio:
			return ctx, fmt.Errorf("kind cluster %q already runs Istio %s (%s), not ISTIO_VERSION=%s: refusing to test another Istio than asked. Set %s=1 to install %s over it, delete the cluster (kind delete cluster --name %s), or run with ISTIO_VERSION=%s",
				t.kind.Name, in.Version, in.Image, t.cfg.IstioVersion, ReinstallIstioEnv, t.cfg.IstioVersion, t.kind.Name, in.Version)
		case in.Version != "" && in.Version != t.cfg.IstioVersion:
			t.progress("istio: %s=1: installing %s over the cluster's %s", ReinstallIstioEnv, t.cfg.IstioVersion, in.Version)
		case err != nil && in.Version == "" && !errors.Is(err, istioinstall.ErrNotInstalled):
			return ctx, err
		}
		if err := t.istioctl.Check(ctx); err != nil {
			return ctx, err
		}
		if err := t.istioctl.Install(ctx, t.values, cfg.KubeconfigFile()); err != nil {
			return ctx, err
		}
		wctx, cancel := context.WithTimeout(ctx, t.cfg.RolloutTimeout)
		defer cancel()
		if err := t.applier.WaitRollout(wctx, types.NamespacedName{Namespace: istioinstall.Namespace, Name: "istiod"}); err != nil {
			return ctx, err
		}
		in, err = istioinstall.Detect(ctx, t.client)
		if err != nil {
			return ctx, err
		}
		t.detected = in
		t.mesh = meshconfig.New(t.client, in.MeshConfigMap)
		return ctx, nil
	}}
}

func reinstallNote(on bool) string {
	if on {
		return " (" + ReinstallIstioEnv + "=1 is set)"
	}
	return ""
}

func stripComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func (t *Target) stepImage() Step {
	return Step{
		Name: "image",
		Plan: []string{
			"build: DOCKER_BUILDKIT=1 " + strings.Join(kindcluster.BuildCommand(".", t.cfg.Image), " "),
			fmt.Sprintf("load: docker save %s, then ctr images import on every node of kind cluster %q (what kind load docker-image does)", t.cfg.Image, t.kind.Name),
		},
		Run: func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
			if err := t.kind.BuildImage(ctx, t.cfg.RepoRoot, t.cfg.Image); err != nil {
				return ctx, err
			}
			return ctx, t.kind.LoadImage(ctx, t.cfg.Image)
		},
	}
}

func (t *Target) stepIstioDetect() Step {
	return Step{
		Name: "istio",
		Plan: []string{"read the installed Istio version from Deployment istio-system/istiod (app=istiod) and find its mesh config ConfigMap (istio, or istio-<revision>); no istiod stops the run"},
		Run: func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
			in, err := istioinstall.Detect(ctx, t.client)
			if err != nil {
				return ctx, err
			}
			t.detected = in
			t.mesh = meshconfig.New(t.client, in.MeshConfigMap)
			t.progress("istio: %s (%s), mesh config in ConfigMap %s", in.Version, in.Image, in.MeshConfigMap)
			return ctx, nil
		},
	}
}

func (t *Target) stepImageCheck() Step {
	return Step{
		Name: "image",
		Plan: []string{fmt.Sprintf("agent image %s: the cluster's nodes pull it, so it must be pushed to a registry they reach (FIRSTBYTE_IMAGE names it)", t.cfg.Image)},
		Run: func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
			if !t.cfg.ImageFromEnv {
				return ctx, fmt.Errorf("the cluster target runs the agent image on your cluster's nodes, and FIRSTBYTE_IMAGE is unset (the default %s exists only in a local Docker): build servers/Dockerfile, push it to a registry the nodes can pull from and set FIRSTBYTE_IMAGE=<registry>/firstbyte-agent:<tag>", t.cfg.Image)
			}
			return ctx, nil
		},
	}
}

func (t *Target) stepRestoreMesh() Step {
	return Step{
		Name: "mesh config",
		Plan: []string{"restore the istio ConfigMap's mesh key to the text found before the first scenario changed it"},
		Run: func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
			if t.mesh == nil || t.clusterGoesAway() {
				return ctx, nil
			}
			changed, err := t.mesh.Restore(ctx)
			if changed {
				t.progress("mesh config: restored %s", t.mesh.ConfigMap())
			}
			return ctx, err
		},
	}
}

func (t *Target) stepDeleteRun() Step {
	return Step{
		Name: "run objects",
		Plan: []string{fmt.Sprintf("delete every object and namespace labelled %s=%s and wait until the namespaces are gone", fixtures.LabelRun, t.cfg.RunID)},
		Run: func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
			if t.applier == nil || t.clusterGoesAway() {
				return ctx, nil
			}
			dctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			deleted, err := t.applier.DeleteRun(dctx)
			t.progress("deleted %d objects labelled %s=%s", len(deleted), fixtures.LabelRun, t.cfg.RunID)
			return ctx, err
		},
	}
}

// clusterGoesAway is true when tear-down deletes the whole kind cluster,
// so cleaning inside it first would only cost time.
func (t *Target) clusterGoesAway() bool {
	return t.kind != nil && t.kind.Created && !t.kind.Keep
}

func (t *Target) stepDeleteKindCluster() Step {
	return Step{
		Name: "kind cluster",
		Plan: []string{fmt.Sprintf("delete kind cluster %q if this run created it and KEEP_CLUSTER is not 1", t.kind.Name)},
		Run: func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
			msg, err := t.kind.Delete()
			if msg != "" {
				t.progress("%s", msg)
			}
			return ctx, err
		},
	}
}
