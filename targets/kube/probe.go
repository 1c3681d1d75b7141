package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/probe"
	"github.com/firstbyte/firstbyte/targets/kube/podexec"
	"k8s.io/apimachinery/pkg/types"
)

// ProbeCommand is the agent command line that probes the scenario's server
// at addr with a first-byte budget. SMTP probes send a Message-ID chosen
// here so delivery can be confirmed on the server afterwards.
func (t *Target) ProbeCommand(b *fixtures.Bundle, addr string, budget time.Duration, messageID string) []string {
	cmd := []string{Agent, "probe", string(b.Scenario.Protocol), "--addr", addr, "--budget", budget.String(), "--exchange", t.cfg.Exchange.String()}
	if b.Scenario.Protocol == scenarios.SMTP && messageID != "" {
		cmd = append(cmd, "--message-id", messageID)
	}
	return append(cmd, t.probeCredentials(b)...)
}

// GetCommand is the agent command line of one HTTP GET.
func GetCommand(rawURL string) []string {
	return []string{Agent, "get", "--url", rawURL, "--timeout", "5s"}
}

// messageID is the SMTP Message-ID of a scenario's probe.
func (t *Target) messageID(b *fixtures.Bundle, what string) string {
	return fmt.Sprintf("<%s-%s-%s-%d@firstbyte.test>", t.cfg.RunID, b.Scenario.ID, what, time.Now().UnixNano())
}

// confirmURL is where the delivery check asks: Mailpit's API for the
// upstream SMTP image, else the server agent's mailbox.
func (t *Target) confirmURL(b *fixtures.Bundle, messageID string) string {
	if t.upstreamFor(b) != nil {
		return mailpitConfirmURL(messageID)
	}
	return confirmURL(b, messageID)
}

// confirmURL is the server agent's mailbox query for a Message-ID, asked
// inside the server pod over loopback (no sidecar, no policy in the way).
func confirmURL(b *fixtures.Bundle, messageID string) string {
	return fmt.Sprintf("http://%s/messages?message-id=%s", hostPort("127.0.0.1", b.Topology.StatusPort), url.QueryEscape(messageID))
}

func hostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}

// ColliderURL is what the collider check GETs.
func ColliderURL(b *fixtures.Bundle) string { return "http://" + b.ColliderAddr + "/" }

// Probe implements targets.Target: the agent in the client pod probes the
// server through the client's sidecar.
func (t *Target) Probe(ctx context.Context, b *fixtures.Bundle, budget time.Duration) (probe.Observation, error) {
	return t.probeFrom(ctx, b, deploymentKey(b.Topology.ClientNamespace, clientDeployment), clientContainer, b.ServerAddr, "probe", budget)
}

// Control implements targets.Target: the same server on a path without the
// client's sidecar. A server without a sidecar is probed from the control
// pod (server namespace, no sidecar) at the address the client dials; a
// server with its own sidecar from inside its pod at 127.0.0.1, which
// Istio's iptables never redirect, so neither sidecar is in the way.
func (t *Target) Control(ctx context.Context, b *fixtures.Bundle, budget time.Duration) (probe.Observation, error) {
	from, container, addr := t.controlPath(b)
	return t.probeFrom(ctx, b, from, container, addr, "control", budget)
}

// controlPath is where the control probe runs and what it dials.
func (t *Target) controlPath(b *fixtures.Bundle) (types.NamespacedName, string, string) {
	if b.Scenario.Security.ServerSidecar {
		return deploymentKey(b.Topology.ServerNamespace, serverDeployment), t.serverAgentContainer(b), hostPort("127.0.0.1", b.Scenario.Port)
	}
	if b.Scenario.DialsName() {
		// The control path is the server's address without a sidecar;
		// the name is what the scenario tests (dns.go).
		return deploymentKey(b.Topology.ServerNamespace, controlDeployment), controlContainer, hostPort(b.Topology.ServerIP, b.Scenario.Port)
	}
	return deploymentKey(b.Topology.ServerNamespace, controlDeployment), controlContainer, b.ServerAddr
}

func (t *Target) probeFrom(ctx context.Context, b *fixtures.Bundle, from types.NamespacedName, container, addr, what string, budget time.Duration) (probe.Observation, error) {
	pod, err := t.applier.RunningPod(ctx, from)
	if err != nil {
		return probe.Observation{}, err
	}
	id := ""
	if b.Scenario.Protocol == scenarios.SMTP {
		id = t.messageID(b, what)
	}
	cmd := t.ProbeCommand(b, addr, budget, id)
	// The agent answers within budget + exchange; the rest is exec overhead.
	ectx, cancel := context.WithTimeout(ctx, budget+t.cfg.Exchange+30*time.Second)
	defer cancel()
	out, _, err := t.exec.Exec(ectx, types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}, container, cmd)
	if err != nil {
		return probe.Observation{}, fmt.Errorf("%s from %s/%s: %w", what, pod.Namespace, pod.Name, err)
	}
	obs, err := parseObservation(out)
	if err != nil {
		return probe.Observation{}, fmt.Errorf("%s from %s/%s: %w", what, pod.Namespace, pod.Name, err)
	}
	if b.Scenario.Protocol == scenarios.SMTP && obs.Outcome == scenarios.Connected {
		if err := t.confirmDelivery(ctx, b, id); err != nil {
			obs.Outcome = scenarios.ProtocolError
			obs.Detail = strings.TrimSpace(obs.Detail + "; delivery not confirmed on the server: " + err.Error())
		} else {
			obs.Detail = strings.TrimSpace(obs.Detail + "; delivery confirmed in the server's mailbox")
		}
	}
	return obs, nil
}

func parseObservation(out []byte) (probe.Observation, error) {
	line, err := podexec.LastJSONLine(out)
	if err != nil {
		return probe.Observation{}, err
	}
	var obs probe.Observation
	if err := json.Unmarshal(line, &obs); err != nil {
		return probe.Observation{}, fmt.Errorf("the agent's observation %s: %w", line, err)
	}
	if _, err := scenarios.ParseOutcome(string(obs.Outcome)); err != nil {
		return probe.Observation{}, fmt.Errorf("the agent's observation %s: %w", line, err)
	}
	return obs, nil
}

// getResult is the agent's `get` output (cmd/firstbyte-agent).
type getResult struct {
	URL    string `json:"url"`
	Status int    `json:"status"`
	Body   string `json:"body"`
	Error  string `json:"error"`
	OK     bool   `json:"ok"`
}

// get runs the agent's GET in a pod and returns its result.
func (t *Target) get(ctx context.Context, from types.NamespacedName, container, rawURL string) (getResult, error) {
	pod, err := t.applier.RunningPod(ctx, from)
	if err != nil {
		return getResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	out, _, err := t.exec.Exec(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}, container, GetCommand(rawURL))
	if err != nil {
		return getResult{}, err
	}
	line, err := podexec.LastJSONLine(out)
	if err != nil {
		return getResult{}, err
	}
	var r getResult
	if err := json.Unmarshal(line, &r); err != nil {
		return getResult{}, fmt.Errorf("the agent's get result %s: %w", line, err)
	}
	return r, nil
}

// confirmDelivery asks the server agent's mailbox whether the message
// arrived, from inside the server pod over loopback: no sidecar, mesh
// policy or REGISTRY_ONLY stands between the check and the mailbox.
func (t *Target) confirmDelivery(ctx context.Context, b *fixtures.Bundle, messageID string) error {
	r, err := t.get(ctx, deploymentKey(b.Topology.ServerNamespace, serverDeployment), t.serverAgentContainer(b), t.confirmURL(b, messageID))
	if err != nil {
		return err
	}
	if t.upstreamFor(b) != nil {
		if !r.OK {
			return fmt.Errorf("Mailpit's API answered %d %s%s for %s", r.Status, strings.TrimSpace(r.Body), r.Error, messageID)
		}
		n, err := mailpitFound(r.Body)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("Mailpit holds no message with Message-ID %s", messageID)
		}
		return nil
	}
	if !r.OK {
		return fmt.Errorf("the server's mailbox answered %d %s%s for %s", r.Status, strings.TrimSpace(r.Body), r.Error, messageID)
	}
	return nil
}

// ColliderHTTP implements targets.Target: the collider's own HTTP traffic
// from the client pod, through its sidecar, must still work.
func (t *Target) ColliderHTTP(ctx context.Context, b *fixtures.Bundle) error {
	if b.ColliderAddr == "" {
		return nil
	}
	r, err := t.get(ctx, deploymentKey(b.Topology.ClientNamespace, clientDeployment), clientContainer, ColliderURL(b))
	if err != nil {
		return fmt.Errorf("collider check: %w", err)
	}
	if !r.OK {
		return fmt.Errorf("the collider's HTTP traffic from the client is broken: GET %s answered %d %s%s", r.URL, r.Status, strings.TrimSpace(r.Body), r.Error)
	}
	return nil
}
