package resources

import (
	"fmt"
	"strings"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SERVERS=upstream on kind and cluster: real upstream images in place of
// the agent's servers. The images are pinned by digest in
// hack/versions.env (keys below); readiness is each image's own health
// command; credentials come from a Secret with a per-run random password.

// Keys of hack/versions.env that pin the upstream images.
var UpstreamImageKeys = map[scenarios.Protocol]string{
	scenarios.MySQL: "UPSTREAM_MYSQL_IMAGE",
	scenarios.Mongo: "UPSTREAM_MONGO_IMAGE",
	scenarios.SMTP:  "UPSTREAM_SMTP_IMAGE",
}

// UpstreamUser is the account the probes log in with (MySQL: an ordinary
// user the image creates; MongoDB: the root user in the admin database).
const UpstreamUser = "firstbyte"

// UpstreamSecretName is the per-run credentials Secret in the server
// namespace; its keys are UpstreamPasswordKey and UpstreamRootPasswordKey.
const (
	UpstreamSecretName      = "firstbyte-upstream"
	UpstreamPasswordKey     = "password"
	UpstreamRootPasswordKey = "root-password"
)

// MailpitAPIPort is where the SMTP image (axllent/mailpit) serves its API
// and its readyz check; delivery is confirmed there by Message-ID.
const MailpitAPIPort = 8025

// UpstreamServers returns, for each protocol with a pinned image, the
// upstream server the server template renders. A missing pin is an error
// that names the key.
func UpstreamServers(images map[scenarios.Protocol]string) (map[scenarios.Protocol]fixtures.UpstreamServer, error) {
	out := map[scenarios.Protocol]fixtures.UpstreamServer{}
	for _, p := range scenarios.Protocols() {
		if UpstreamImageKeys[p] == "" {
			// No upstream image (DNS): the agent's embedded server
			// serves it under SERVERS=upstream too.
			continue
		}
		img := images[p]
		if img == "" {
			return nil, fmt.Errorf("SERVERS=upstream: no image for %s: set %s in hack/versions.env (an image pinned by digest, name@sha256:...)", p, UpstreamImageKeys[p])
		}
		if !strings.Contains(img, "@sha256:") {
			return nil, fmt.Errorf("SERVERS=upstream: %s=%s is not pinned by digest: write it as name:tag@sha256:<64 hex>", UpstreamImageKeys[p], img)
		}
		u := fixtures.UpstreamServer{Image: img, SecretName: UpstreamSecretName}
		switch p {
		case scenarios.MySQL:
			// The image's entrypoint passes arguments starting with "-" to
			// mysqld and creates MYSQL_USER on first start. The health
			// command asks over TCP, which the entrypoint's temporary
			// set-up server (--skip-networking) does not answer.
			u.Args = []string{"--port=$(FB_PORT)"}
			u.Env = []fixtures.EnvVar{{Name: "MYSQL_USER", Value: UpstreamUser}}
			u.SecretEnv = []fixtures.EnvVar{{Name: "MYSQL_PASSWORD", Value: UpstreamPasswordKey}, {Name: "MYSQL_ROOT_PASSWORD", Value: UpstreamRootPasswordKey}}
			u.Readiness = []string{"sh", "-c", `mysqladmin ping --silent -h 127.0.0.1 -P "$FB_PORT"`}
		case scenarios.Mongo:
			u.Args = []string{"--port", "$(FB_PORT)", "--bind_ip_all"}
			u.Env = []fixtures.EnvVar{{Name: "MONGO_INITDB_ROOT_USERNAME", Value: UpstreamUser}}
			u.SecretEnv = []fixtures.EnvVar{{Name: "MONGO_INITDB_ROOT_PASSWORD", Value: UpstreamPasswordKey}}
			u.Readiness = []string{"sh", "-c", `mongosh --quiet --port "$FB_PORT" --eval 'db.runCommand({ping:1}).ok'`}
		case scenarios.SMTP:
			// Mailpit speaks ESMTP on MP_SMTP_BIND_ADDR and keeps every
			// message, searchable by Message-ID over its API.
			u.Env = []fixtures.EnvVar{
				{Name: "MP_SMTP_BIND_ADDR", Value: "0.0.0.0:$(FB_PORT)"},
				{Name: "MP_UI_BIND_ADDR", Value: fmt.Sprintf("0.0.0.0:%d", MailpitAPIPort)},
			}
			u.Readiness = []string{"/mailpit", "readyz"}
		}
		out[p] = u
	}
	return out, nil
}

// UpstreamSecret is the per-run credentials Secret.
func UpstreamSecret(namespace, runID, password, rootPassword string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      UpstreamSecretName,
			Namespace: namespace,
			Labels:    map[string]string{fixtures.LabelRun: runID},
		},
		Type: corev1.SecretTypeOpaque,
		StringData: map[string]string{
			UpstreamPasswordKey:     password,
			UpstreamRootPasswordKey: rootPassword,
		},
	}
}

// MailpitSearchPath is the Mailpit API query that finds a message by its
// Message-ID (Mailpit's "message-id:" search filter; angle brackets are
// not part of the stored ID).
func MailpitSearchPath(messageID string) string {
	id := strings.Trim(messageID, "<>")
	return "/api/v1/search?query=" + strings.ReplaceAll("message-id:"+id, "@", "%40")
}
