package kindcluster

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// DockerProbeTimeout bounds the Docker engine check: an engine that does not
// answer in this time is treated as absent, so make e2e stops in seconds.
const DockerProbeTimeout = 5 * time.Second

// Probe reports whether a container engine kind can use answers.
type Probe func(ctx context.Context) error

// DockerInfo is the default Probe: `docker info` must answer within
// DockerProbeTimeout. (kind's own provider detection only checks that a
// docker client binary exists, which it does on machines without an
// engine.)
func DockerInfo(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, DockerProbeTimeout)
	defer cancel()
	path, err := exec.LookPath("docker")
	if err != nil {
		return errors.New("no docker client on PATH")
	}
	out, err := exec.CommandContext(ctx, path, "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("`docker info` did not answer within %s", DockerProbeTimeout)
	case err != nil:
		return fmt.Errorf("`docker info` failed: %s", firstLine(out, err))
	case strings.TrimSpace(string(out)) == "":
		return errors.New("`docker info` reports no server version")
	}
	return nil
}

func firstLine(out []byte, err error) string {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return err.Error()
	}
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// NoDockerError is returned when the Docker engine is absent; its message
// names the alternatives that need no Docker.
type NoDockerError struct{ Cause error }

func (e *NoDockerError) Error() string {
	return fmt.Sprintf("the kind target needs a running Docker engine, and none answers (%v). "+
		"Start Docker, or run without it: make e2e TARGET=local (network namespaces, needs root), "+
		"make e2e TARGET=predict (Istio's generator, no traffic), or make e2e DRY_RUN=1 (print the plan)", e.Cause)
}

func (e *NoDockerError) Unwrap() error { return e.Cause }

// CheckDocker runs the probe (DockerInfo when nil) and wraps a failure in
// NoDockerError.
func CheckDocker(ctx context.Context, probe Probe) error {
	if probe == nil {
		probe = DockerInfo
	}
	if err := probe(ctx); err != nil {
		return &NoDockerError{Cause: err}
	}
	return nil
}
