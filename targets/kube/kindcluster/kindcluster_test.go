package kindcluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The repository's kind config decodes strictly.
func TestRepositoryKindConfig(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("..", "..", "..", "hack", "kind-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Nodes) != 1 || cfg.Nodes[0].Role != "control-plane" {
		t.Errorf("nodes = %+v, want one control-plane", cfg.Nodes)
	}
}

func TestLoadConfigIsStrict(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kind.yaml")
	os.WriteFile(p, []byte("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  imagee: x\n"), 0o644)
	if _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), "imagee") {
		t.Errorf("LoadConfig with a typo = %v, want an error naming the field", err)
	}
}

// Without a Docker engine the check fails at once with one message naming
// Docker and the alternatives.
func TestNoDocker(t *testing.T) {
	start := time.Now()
	err := CheckDocker(context.Background(), func(context.Context) error { return errors.New("Cannot connect to the Docker daemon") })
	var nd *NoDockerError
	if !errors.As(err, &nd) {
		t.Fatalf("CheckDocker = %v, want a NoDockerError", err)
	}
	for _, want := range []string{"Docker", "TARGET=local", "TARGET=predict", "DRY_RUN=1", "Cannot connect"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %s", want, err)
		}
	}
	if time.Since(start) > time.Second {
		t.Errorf("took %s", time.Since(start))
	}
}

// The real probe answers within its bound on this machine, whatever it
// finds (here: a docker client and no engine).
func TestDockerInfoIsBounded(t *testing.T) {
	start := time.Now()
	err := DockerInfo(context.Background())
	if took := time.Since(start); took > DockerProbeTimeout+2*time.Second {
		t.Fatalf("DockerInfo took %s, more than its %s bound", took, DockerProbeTimeout)
	}
	t.Logf("docker probe here: %v", err)
}

func TestDeleteKeepsWhatItDidNotCreate(t *testing.T) {
	if msg, err := (&Cluster{Name: "x"}).Delete(); err != nil || msg != "" {
		t.Errorf("Delete before the cluster step = %q, %v; want nothing", msg, err)
	}
	c := &Cluster{Name: "x", Reused: true}
	if msg, err := c.Delete(); err != nil || !strings.Contains(msg, "reused") {
		t.Errorf("Delete of a reused cluster = %q, %v", msg, err)
	}
	c = &Cluster{Name: "x", Created: true, Keep: true}
	if msg, err := c.Delete(); err != nil || !strings.Contains(msg, "KIND_CLUSTER=x") {
		t.Errorf("Delete with Keep = %q, %v", msg, err)
	}
}
