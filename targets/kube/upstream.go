package kube

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/targets/kube/resources"
	appsv1 "k8s.io/api/apps/v1"
)

// SERVERS=upstream on kind and cluster: the server Deployment runs the
// pinned upstream image (resources.UpstreamServers) with the agent beside
// it in a container named agentContainer, which runs the control probe
// over loopback and asks Mailpit's API for delivered mail.

const agentContainer = "agent"

// upstreamRun is the upstream state of a run: the servers the templates
// render and the per-run credentials.
type upstreamRun struct {
	servers                map[scenarios.Protocol]fixtures.UpstreamServer
	password, rootPassword string
}

func randomPassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// setUpstream checks Servers and, for upstream, reads the pinned images
// and draws the run's passwords.
func (c *Config) setUpstream() error {
	switch c.Servers {
	case "", "embedded":
		c.upstream = upstreamRun{}
		return nil
	case "upstream":
	default:
		return fmt.Errorf("SERVERS=%q: want embedded (the agent's servers) or upstream (the pinned upstream images of hack/versions.env)", c.Servers)
	}
	images := map[scenarios.Protocol]string{}
	for p, key := range resources.UpstreamImageKeys {
		if c.Pins != nil {
			images[p] = c.Pins.Get(key)
		}
	}
	s, err := resources.UpstreamServers(images)
	if err != nil {
		return err
	}
	c.upstream = upstreamRun{servers: s, password: randomPassword(), rootPassword: randomPassword()}
	return nil
}

// upstreamFor is the scenario's upstream server, nil with the agent's.
func (t *Target) upstreamFor(b *fixtures.Bundle) *fixtures.UpstreamServer {
	u, ok := b.Topology.Upstream[b.Scenario.Protocol]
	if !ok {
		return nil
	}
	return &u
}

// ServerImplementation implements targets.ServerNamer.
func (t *Target) ServerImplementation(b *fixtures.Bundle) string {
	if u := t.upstreamFor(b); u != nil {
		return u.Image
	}
	return "embedded agent (" + b.Topology.Image + ")"
}

// secretObject is the per-run credentials Secret as an object to apply
// before the server Deployment that reads it.
func (t *Target) secretObject(topo fixtures.Topology) fixtures.Object {
	s := resources.UpstreamSecret(topo.ServerNamespace, topo.RunID, t.cfg.upstream.password, t.cfg.upstream.rootPassword)
	return fixtures.Object{Phase: fixtures.Base, Template: "upstream-secret", Kind: "Secret", Namespace: s.Namespace, Name: s.Name, Decoded: s}
}

// probeCredentials are the probe flags for an upstream MySQL or MongoDB.
func (t *Target) probeCredentials(b *fixtures.Bundle) []string {
	if t.upstreamFor(b) == nil || b.Scenario.Protocol == scenarios.SMTP {
		return nil
	}
	return []string{"--user", resources.UpstreamUser, "--password", t.cfg.upstream.password}
}

// hidePassword puts the Secret's name where a plan line would show the
// password.
func (t *Target) hidePassword(b *fixtures.Bundle, line string) string {
	if pw := t.cfg.upstream.password; pw != "" {
		line = strings.ReplaceAll(line, pw, fmt.Sprintf("<key %s of Secret %s/%s>", resources.UpstreamPasswordKey, b.Topology.ServerNamespace, resources.UpstreamSecretName))
	}
	return line
}

// serverAgentContainer is the server pod's container that runs the agent.
func (t *Target) serverAgentContainer(b *fixtures.Bundle) string {
	if t.upstreamFor(b) != nil {
		return agentContainer
	}
	return serverContainer
}

// mailpitConfirmURL asks Mailpit's API, over the pod's loopback, for the
// message with this Message-ID.
func mailpitConfirmURL(messageID string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", resources.MailpitAPIPort, resources.MailpitSearchPath(messageID))
}

// mailpitFound reads Mailpit's search answer: how many messages matched.
func mailpitFound(body string) (int, error) {
	var r struct {
		MessagesCount *int `json:"messages_count"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.MessagesCount == nil {
		return 0, fmt.Errorf("Mailpit's search answer %q is not its JSON (messages_count): %v", body, err)
	}
	return *r.MessagesCount, nil
}

// planUpstream describes the upstream server of a scenario: the image and
// its readiness check, read back from the rendered Deployment.
func (t *Target) planUpstream(b *fixtures.Bundle) []string {
	if t.upstreamFor(b) == nil {
		return nil
	}
	lines := []string{fmt.Sprintf("  Secret %s/%s (per-run random passwords; created before the server, with the namespaces)", b.Topology.ServerNamespace, resources.UpstreamSecretName)}
	for _, o := range b.Base {
		d, ok := o.Decoded.(*appsv1.Deployment)
		if !ok || o.Name != serverDeployment {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			line := fmt.Sprintf("  server container %s: image %s", c.Name, c.Image)
			if p := c.ReadinessProbe; p != nil && p.Exec != nil {
				line += fmt.Sprintf(", readiness exec %q", p.Exec.Command)
			} else if p != nil && p.HTTPGet != nil {
				line += fmt.Sprintf(", readiness GET :%s%s", p.HTTPGet.Port.String(), p.HTTPGet.Path)
			}
			lines = append(lines, line)
		}
	}
	return lines
}
