// Package podexec runs commands in pod containers and reads their logs: the
// probes, the collider check and the sidecar's admin API (pilot-agent
// request) all go through Exec, so the target's tests swap in a fake.
package podexec

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// Executor runs a command in a container and returns its output.
type Executor interface {
	Exec(ctx context.Context, pod types.NamespacedName, container string, command []string) (stdout, stderr []byte, err error)
	// Logs returns a container's log (previous: of its last terminated
	// run).
	Logs(ctx context.Context, pod types.NamespacedName, container string, previous bool) ([]byte, error)
}

// Remote is the Executor for a real cluster: the pods/exec subresource over
// WebSocket, falling back to SPDY for API servers that lack it, as kubectl
// does.
type Remote struct {
	Config    *rest.Config
	Clientset kubernetes.Interface
}

// Exec implements Executor.
func (r *Remote) Exec(ctx context.Context, pod types.NamespacedName, container string, command []string) ([]byte, []byte, error) {
	req := r.Clientset.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(r.Config, "POST", req.URL())
	if err != nil {
		return nil, nil, fmt.Errorf("exec in %s/%s: %w", pod, container, err)
	}
	ws, err := remotecommand.NewWebSocketExecutor(r.Config, "GET", req.URL().String())
	if err != nil {
		return nil, nil, fmt.Errorf("exec in %s/%s: %w", pod, container, err)
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("exec in %s/%s: %w", pod, container, err)
	}
	var stdout, stderr bytes.Buffer
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		err = fmt.Errorf("exec %q in %s container %s: %w (stderr: %s)", strings.Join(command, " "), pod, container, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), stderr.Bytes(), err
}

// Logs implements Executor.
func (r *Remote) Logs(ctx context.Context, pod types.NamespacedName, container string, previous bool) ([]byte, error) {
	out, err := r.Clientset.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: container, Previous: previous}).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("logs of %s container %s: %w", pod, container, err)
	}
	return out, nil
}

// LastJSONLine returns the last line of out that looks like a JSON object:
// the agent prints its verdict as one JSON line, and a container runtime
// may add lines around it.
func LastJSONLine(out []byte) ([]byte, error) {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		l := bytes.TrimSpace(lines[i])
		if bytes.HasPrefix(l, []byte("{")) && bytes.HasSuffix(l, []byte("}")) {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no JSON line in the agent's output %q", truncate(out, 300))
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}
