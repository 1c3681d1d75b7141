package analyze

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/firstbyte/firstbyte/envoy"
)

// TestConfigDump finds the seed's hazard in a sidecar's config dump (the
// hanging scenario's, predict/testdata), naming the colliding route.
func TestConfigDump(t *testing.T) {
	cfg, err := envoy.ReadConfigDumpFile("../predict/testdata/config_dump.json", envoy.Tolerant)
	if err != nil {
		t.Fatal(err)
	}
	r, err := AnalyzeDump(cfg, Options{ServerFirst: []string{"198.51.100.7:10000"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 1 || r.Findings[0].Listener != "0.0.0.0_10000" || r.Findings[0].Verdict != "hung" {
		t.Fatalf("findings %+v", r.Findings)
	}
	if c := r.Findings[0].Causes[0].Text; !strings.Contains(c, "collider.fb-collider.svc.cluster.local") {
		t.Errorf("cause %q does not name the colliding service", c)
	}
}

// TestConfigDumpFromAnotherEnvoy feeds a dump as a newer Envoy might
// write it: an admin section this binary has no type for, a field it
// does not know on a listener, a filter whose typed config it cannot
// resolve, and a listener whose body does not decode at all. analyze
// still finds the hazard on the listeners that decode and says what it
// could not read.
func TestConfigDumpFromAnotherEnvoy(t *testing.T) {
	data, err := os.ReadFile("../predict/testdata/config_dump.json")
	if err != nil {
		t.Fatal(err)
	}
	var dump map[string]any
	if err := json.Unmarshal(data, &dump); err != nil {
		t.Fatal(err)
	}
	configs := dump["configs"].([]any)
	for _, c := range configs {
		section := c.(map[string]any)
		if !strings.HasSuffix(section["@type"].(string), "ListenersConfigDump") {
			continue
		}
		ls := section["dynamic_listeners"].([]any)
		for _, l := range ls {
			active := l.(map[string]any)["active_state"].(map[string]any)["listener"].(map[string]any)
			if active["name"] == "0.0.0.0_10000" {
				active["listener_feature_from_the_future"] = map[string]any{"enabled": true}
			}
			if active["name"] == "virtualInbound" {
				active["listener_filters"] = append(active["listener_filters"].([]any), map[string]any{
					"name": "envoy.filters.listener.future", "typed_config": map[string]any{"@type": "type.googleapis.com/envoy.extensions.filters.listener.future.v9.Future", "knob": 1}})
			}
		}
		section["dynamic_listeners"] = append(ls, map[string]any{"name": "0.0.0.0_3307", "active_state": map[string]any{"listener": map[string]any{
			"@type": "type.googleapis.com/envoy.config.listener.v3.Listener", "name": "0.0.0.0_3307", "address": "0.0.0.0:3307"}}})
	}
	dump["configs"] = append(configs, map[string]any{"@type": "type.googleapis.com/envoy.admin.v3.FutureConfigDump", "things": []any{1, 2}})
	data, err = json.Marshal(dump)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := envoy.ReadConfigDump(data, "future.json", envoy.Tolerant)
	if err != nil {
		t.Fatalf("a dump whose listeners mostly decode was refused: %v", err)
	}
	r, err := AnalyzeDump(cfg, Options{ServerFirst: []string{"198.51.100.7:10000"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 1 || r.Findings[0].Listener != "0.0.0.0_10000" || r.Findings[0].Verdict != "hung" {
		t.Fatalf("findings %+v", r.Findings)
	}
	notes := strings.Join(r.Notes, "\n")
	for _, want := range []string{"envoy.admin.v3.FutureConfigDump", "envoy.extensions.filters.listener.future.v9.Future", `Listener "0.0.0.0_3307"`} {
		if !strings.Contains(notes, want) {
			t.Errorf("the notes do not say it could not read %s:\n%s", want, notes)
		}
	}
}
