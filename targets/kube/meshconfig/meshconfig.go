// Package meshconfig changes Istio's mesh configuration for a scenario and
// puts it back: it merges a scenario's meshConfig fragment (outbound
// traffic policy, protocolDetectionTimeout) into the "mesh" key of the
// istio ConfigMap in istio-system, which istiod watches and pushes to every
// sidecar, and restores the original text on Restore.
//
// The merge is a deep merge of YAML mappings over the ConfigMap as found
// when the Editor first touched it, never over a previous scenario's
// change, so scenarios do not leak into each other.
package meshconfig

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// Key is the ConfigMap key holding the mesh config.
const Key = "mesh"

// Editor edits one istio ConfigMap.
type Editor struct {
	client client.Client
	name   types.NamespacedName

	mu sync.Mutex
	// original is the mesh text before the first change; nil until then.
	original *string
}

// New returns an Editor for the ConfigMap (usually istio-system/istio; a
// revisioned install uses istio-<revision>).
func New(c client.Client, configMap types.NamespacedName) *Editor {
	return &Editor{client: c, name: configMap}
}

// ConfigMap names the edited ConfigMap.
func (e *Editor) ConfigMap() types.NamespacedName { return e.name }

// Merge deep-merges a meshConfig YAML fragment over mesh YAML text: maps
// merge key by key, anything else in the fragment replaces.
func Merge(mesh string, fragment []byte) (string, error) {
	base := map[string]any{}
	if err := yaml.Unmarshal([]byte(mesh), &base); err != nil {
		return "", fmt.Errorf("the installed mesh config is not YAML: %w", err)
	}
	if base == nil {
		base = map[string]any{}
	}
	over := map[string]any{}
	if err := yaml.Unmarshal(fragment, &over); err != nil {
		return "", fmt.Errorf("the scenario's meshConfig fragment is not YAML: %w", err)
	}
	merged := mergeMaps(base, over)
	out, err := yaml.Marshal(merged)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

func mergeMaps(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = mergeMaps(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func (e *Editor) get(ctx context.Context) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{}
	if err := e.client.Get(ctx, e.name, cm); err != nil {
		return nil, fmt.Errorf("reading the mesh config ConfigMap %s: %w (is Istio installed? a revisioned install names it istio-<revision>)", e.name, err)
	}
	return cm, nil
}

// Apply sets the mesh config to the original merged with fragment. It
// reports whether the ConfigMap changed (an unchanged mesh config triggers
// no push, so there is nothing to wait for).
func (e *Editor) Apply(ctx context.Context, fragment []byte) (changed bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cm, err := e.get(ctx)
	if err != nil {
		return false, err
	}
	current := cm.Data[Key]
	if e.original == nil {
		orig := current
		e.original = &orig
	}
	want, err := Merge(*e.original, fragment)
	if err != nil {
		return false, fmt.Errorf("merging into %s key %s: %w", e.name, Key, err)
	}
	if same, err := equalYAML(current, want); err == nil && same {
		return false, nil
	}
	return true, e.write(ctx, cm, want)
}

// Restore puts the original mesh config back; without a prior Apply it
// does nothing. It is safe to call twice.
func (e *Editor) Restore(ctx context.Context) (changed bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.original == nil {
		return false, nil
	}
	cm, err := e.get(ctx)
	if err != nil {
		return false, err
	}
	if cm.Data[Key] == *e.original {
		return false, nil
	}
	return true, e.write(ctx, cm, *e.original)
}

func (e *Editor) write(ctx context.Context, cm *corev1.ConfigMap, mesh string) error {
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[Key] = mesh
	if err := e.client.Update(ctx, cm); err != nil {
		return fmt.Errorf("updating the mesh config ConfigMap %s: %w", e.name, err)
	}
	return nil
}

func equalYAML(a, b string) (bool, error) {
	var x, y any
	if err := yaml.Unmarshal([]byte(a), &x); err != nil {
		return false, err
	}
	if err := yaml.Unmarshal([]byte(b), &y); err != nil {
		return false, err
	}
	ja, _ := yaml.Marshal(x)
	jb, _ := yaml.Marshal(y)
	return string(ja) == string(jb), nil
}
