// Package kindcluster is the kind side of the kind target: the Docker
// engine check, creating or reusing a kind cluster with kind's Go API
// (sigs.k8s.io/kind/pkg/cluster) from hack/kind-config.yaml and a pinned
// node image, deleting it unless kept, building the agent image and
// loading it onto the nodes.
package kindcluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	"sigs.k8s.io/kind/pkg/cmd"
	"sigs.k8s.io/yaml"
)

// Cluster is one kind cluster the target uses.
type Cluster struct {
	// Name is the kind cluster name (KIND_CLUSTER, default "firstbyte").
	Name string
	// NodeImage is the pinned kindest/node image.
	NodeImage string
	// Config is the parsed kind config (hack/kind-config.yaml).
	Config *v1alpha4.Cluster
	// ConfigPath is where Config came from, for messages and plans.
	ConfigPath string
	// Keep leaves a cluster this run created in place (KEEP_CLUSTER=1).
	Keep bool
	// Out receives progress.
	Out io.Writer

	provider *cluster.Provider
	// kubeconfig is the file the cluster's credentials were written to
	// (never the user's ~/.kube/config).
	kubeconfig string
	// Created is true when this run created the cluster (and may delete
	// it); Reused when it found one with the name.
	Created, Reused bool
}

// LoadConfig reads a kind config strictly: unknown fields are errors.
func LoadConfig(path string) (*v1alpha4.Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the kind config: %w", err)
	}
	cfg := &v1alpha4.Cluster{}
	if err := yaml.UnmarshalStrict(data, cfg); err != nil {
		return nil, fmt.Errorf("kind config %s: %w (see https://kind.sigs.k8s.io/docs/user/configuration/)", path, err)
	}
	if cfg.Kind != "Cluster" || cfg.APIVersion != "kind.x-k8s.io/v1alpha4" {
		return nil, fmt.Errorf("kind config %s: kind %q apiVersion %q: want kind: Cluster, apiVersion: kind.x-k8s.io/v1alpha4", path, cfg.Kind, cfg.APIVersion)
	}
	if len(cfg.Nodes) == 0 {
		return nil, fmt.Errorf("kind config %s: no nodes: add at least `- role: control-plane`", path)
	}
	return cfg, nil
}

func (c *Cluster) out() io.Writer {
	if c.Out == nil {
		return io.Discard
	}
	return c.Out
}

func (c *Cluster) kind() *cluster.Provider {
	if c.provider == nil {
		c.provider = cluster.NewProvider(cluster.ProviderWithDocker(), cluster.ProviderWithLogger(cmd.NewLogger()))
	}
	return c.provider
}

// Exists reports whether a kind cluster with the name exists.
func (c *Cluster) Exists() (bool, error) {
	names, err := c.kind().List()
	if err != nil {
		return false, fmt.Errorf("listing kind clusters: %w", err)
	}
	return slices.Contains(names, c.Name), nil
}

// CreateOrReuse creates the cluster, or reuses an existing one with the
// same name, and writes its kubeconfig to kubeconfigPath.
func (c *Cluster) CreateOrReuse(kubeconfigPath string) error {
	exists, err := c.Exists()
	if err != nil {
		return err
	}
	c.kubeconfig = kubeconfigPath
	if exists {
		c.Reused = true
		fmt.Fprintf(c.out(), "kind: reusing cluster %q (it is not deleted at the end)\n", c.Name)
	} else {
		fmt.Fprintf(c.out(), "kind: creating cluster %q with %s (a few minutes)\n", c.Name, c.NodeImage)
		start := time.Now()
		err := c.kind().Create(c.Name,
			cluster.CreateWithV1Alpha4Config(c.Config),
			cluster.CreateWithNodeImage(c.NodeImage),
			cluster.CreateWithWaitForReady(5*time.Minute),
			cluster.CreateWithKubeconfigPath(kubeconfigPath),
			cluster.CreateWithDisplayUsage(false),
			cluster.CreateWithDisplaySalutation(false))
		if err != nil {
			return fmt.Errorf("creating kind cluster %q with %s: %w (kind's logs: kind export logs --name %s)", c.Name, c.NodeImage, err, c.Name)
		}
		c.Created = true
		fmt.Fprintf(c.out(), "kind: cluster %q ready in %s\n", c.Name, time.Since(start).Round(time.Second))
	}
	kc, err := c.kind().KubeConfig(c.Name, false)
	if err != nil {
		return fmt.Errorf("kubeconfig of kind cluster %q: %w", c.Name, err)
	}
	if err := os.WriteFile(kubeconfigPath, []byte(kc), 0o600); err != nil {
		return fmt.Errorf("writing the kubeconfig of kind cluster %q: %w", c.Name, err)
	}
	return nil
}

// Delete deletes the cluster when this run created it and Keep is false;
// it reports what it did. Safe to call twice.
func (c *Cluster) Delete() (string, error) {
	switch {
	case c.Reused:
		return fmt.Sprintf("kind cluster %q was reused: left in place", c.Name), nil
	case !c.Created:
		return "", nil // never got as far as the cluster
	case c.Keep:
		return fmt.Sprintf("kind cluster %q kept (KEEP_CLUSTER=1): reuse it with KIND_CLUSTER=%s, delete it with kind delete cluster --name %s", c.Name, c.Name, c.Name), nil
	}
	if err := c.kind().Delete(c.Name, c.kubeconfig); err != nil {
		return "", fmt.Errorf("deleting kind cluster %q: %w (delete it by hand: kind delete cluster --name %s)", c.Name, err, c.Name)
	}
	c.Created = false
	return fmt.Sprintf("kind cluster %q deleted", c.Name), nil
}

// BuildCommand is the docker build of the agent image.
func BuildCommand(repoRoot, image string) []string {
	return []string{"docker", "build", "-f", filepath.Join(repoRoot, "servers", "Dockerfile"), "-t", image, repoRoot}
}

// BuildImage builds the agent image with BuildKit (servers/Dockerfile uses
// cache mounts), streaming docker's output.
func (c *Cluster) BuildImage(ctx context.Context, repoRoot, image string) error {
	args := BuildCommand(repoRoot, image)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=1")
	cmd.Stdout, cmd.Stderr = c.out(), c.out()
	fmt.Fprintf(c.out(), "image: building %s\n", image)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the agent image %s (servers/Dockerfile): %w", image, err)
	}
	return nil
}

// LoadImage copies a local Docker image onto every node of the cluster, as
// `kind load docker-image` does: docker save, then ctr import on each node.
func (c *Cluster) LoadImage(ctx context.Context, image string) error {
	nodes, err := c.kind().ListInternalNodes(c.Name)
	if err != nil {
		return fmt.Errorf("listing the nodes of kind cluster %q: %w", c.Name, err)
	}
	if len(nodes) == 0 {
		return fmt.Errorf("kind cluster %q has no nodes", c.Name)
	}
	dir, err := os.MkdirTemp("", "firstbyte-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tar := filepath.Join(dir, "image.tar")
	var stderr bytes.Buffer
	save := exec.CommandContext(ctx, "docker", "save", "-o", tar, image)
	save.Stderr = &stderr
	if err := save.Run(); err != nil {
		return fmt.Errorf("docker save %s: %w: %s (build it first)", image, err, stderr.String())
	}
	for _, n := range nodes {
		fmt.Fprintf(c.out(), "image: loading %s onto node %s\n", image, n.String())
		f, err := os.Open(tar)
		if err != nil {
			return err
		}
		err = nodeutils.LoadImageArchive(n, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("loading %s onto kind node %s: %w", image, n.String(), err)
		}
	}
	return nil
}
