// Package pins reads hack/versions.env, the one place the kind and cluster
// targets pin tool versions: the kind node images, the Istio versions, the
// Istio image hub and the agent image. The file is a shell fragment the hack
// scripts source; this package reads the same KEY=VALUE lines, and an
// environment variable of the same name overrides a line.
package pins

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// File is the path of the pins file relative to the repository root.
const File = "hack/versions.env"

// Pins are the pinned values.
//
// The file's format is what both readers agree on: KEY=VALUE, the value
// plain or in double quotes (for lists with spaces), no expansions.
type Pins struct {
	// Source is the file the pins came from, for messages.
	Source string
	values map[string]string
}

var (
	keyPattern     = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	versionPattern = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$`)
)

// Load reads a pins file. lookupEnv overrides values (pass os.LookupEnv, or
// nil to read the file alone).
func Load(path string, lookupEnv func(string) (string, bool)) (*Pins, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading pinned versions: %w (run from the repository, or pass its root)", err)
	}
	return Parse(path, data, lookupEnv)
}

// Parse reads pins from data; name is used in errors.
func Parse(name string, data []byte, lookupEnv func(string) (string, bool)) (*Pins, error) {
	p := &Pins{Source: name, values: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !keyPattern.MatchString(k) {
			return nil, fmt.Errorf("%s:%d: %q is not KEY=VALUE: write an upper-case key, '=', the value", name, n, line)
		}
		if len(v) >= 2 && strings.HasPrefix(v, `"`) && strings.HasSuffix(v, `"`) {
			v = v[1 : len(v)-1]
		}
		if strings.ContainsAny(v, "$`\"'\\") {
			return nil, fmt.Errorf("%s:%d: %s: expansions, escapes and inner quotes are not allowed (the Go suite reads this file too): write the value plainly or in double quotes", name, n, k)
		}
		if _, dup := p.values[k]; dup {
			return nil, fmt.Errorf("%s:%d: %s is set twice: keep one line", name, n, k)
		}
		p.values[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if lookupEnv != nil {
		for k := range p.values {
			if v, ok := lookupEnv(k); ok && v != "" {
				p.values[k] = v
			}
		}
		for _, k := range []string{"ISTIO_VERSION", "KIND_NODE_IMAGE", "FIRSTBYTE_IMAGE", "ISTIO_HUB"} {
			if v, ok := lookupEnv(k); ok && v != "" {
				p.values[k] = v
			}
		}
	}
	for _, k := range []string{"KIND_NODE_IMAGE", "ISTIO_VERSION", "ISTIO_VERSIONS", "ISTIO_HUB", "FIRSTBYTE_IMAGE"} {
		if p.values[k] == "" {
			return nil, fmt.Errorf("%s: %s is missing: add a %s=... line", name, k, k)
		}
	}
	for _, v := range append([]string{p.IstioVersion()}, p.IstioVersions()...) {
		if _, err := Minor(v); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return p, nil
}

// Get returns a raw value ("" when unset).
func (p *Pins) Get(key string) string { return p.values[key] }

// IstioVersion is the Istio the targets install by default (ISTIO_VERSION).
func (p *Pins) IstioVersion() string { return p.values["ISTIO_VERSION"] }

// IstioVersions is the CI matrix (ISTIO_VERSIONS).
func (p *Pins) IstioVersions() []string { return strings.Fields(p.values["ISTIO_VERSIONS"]) }

// IstioHub is the registry path of Istio's images.
func (p *Pins) IstioHub() string { return p.values["ISTIO_HUB"] }

// AgentImage is the agent image the kind target builds and loads.
func (p *Pins) AgentImage() string { return p.values["FIRSTBYTE_IMAGE"] }

// NodeImage is the kind node image for an Istio version: the per-minor
// KIND_NODE_IMAGE_ISTIO_<major>_<minor> pin, else KIND_NODE_IMAGE. An
// explicit KIND_NODE_IMAGE in the environment wins over both.
func (p *Pins) NodeImage(istioVersion string, lookupEnv func(string) (string, bool)) string {
	if lookupEnv != nil {
		if v, ok := lookupEnv("KIND_NODE_IMAGE"); ok && v != "" {
			return v
		}
	}
	if m, err := Minor(istioVersion); err == nil {
		if v := p.values["KIND_NODE_IMAGE_ISTIO_"+strings.ReplaceAll(m, ".", "_")]; v != "" {
			return v
		}
	}
	return p.values["KIND_NODE_IMAGE"]
}

// Minor returns "1.32" for "1.32.0", or an error naming the expected form.
func Minor(version string) (string, error) {
	m := versionPattern.FindStringSubmatch(version)
	if m == nil {
		return "", fmt.Errorf("Istio version %q: want major.minor.patch, such as 1.32.0", version)
	}
	return m[1] + "." + m[2], nil
}
