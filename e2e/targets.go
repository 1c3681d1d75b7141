package e2e

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/predict"
	"github.com/firstbyte/firstbyte/runner"
	"github.com/firstbyte/firstbyte/targets"
	"github.com/firstbyte/firstbyte/targets/kube"
	"github.com/firstbyte/firstbyte/targets/local"
	predicttarget "github.com/firstbyte/firstbyte/targets/predict"
)

// Factory builds a target for a run.
type Factory func(o runner.Options) (targets.Target, error)

// Targets are the targets the suite can run, by FIRSTBYTE_TARGET value.
// Adding one (local) is one line here.
var Targets = map[string]Factory{
	kube.Kind:          kubeTarget(kube.Kind),
	kube.Cluster:       kubeTarget(kube.Cluster),
	"local":            func(o runner.Options) (targets.Target, error) { return local.NewWith(o.Servers) },
	predicttarget.Name: func(runner.Options) (targets.Target, error) { return predicttarget.New(), nil },
}

func kubeTarget(name string) Factory {
	return func(o runner.Options) (targets.Target, error) {
		cfg, err := kube.ConfigFromEnv(name, o.RepoRoot, os.LookupEnv)
		if err != nil {
			return nil, err
		}
		cfg.Explain = explainLive
		cfg.Expect = predict.ExpectedConfigDumps
		cfg.ExpectAmbient = expectAmbient
		cfg.Servers = o.Servers
		return kube.New(cfg)
	}
}

// NewTarget builds the named target, naming the known ones on a typo.
func NewTarget(o runner.Options) (targets.Target, error) {
	if err := o.CheckServers(); err != nil {
		return nil, err
	}
	f, ok := Targets[o.Target]
	if !ok {
		return nil, fmt.Errorf("unknown target %q: want one of %s (FIRSTBYTE_TARGET or -target)", o.Target, strings.Join(TargetNames(), ", "))
	}
	return f(o)
}

// TargetNames lists the registered targets.
func TargetNames() []string {
	var names []string
	for n := range Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// expectAmbient is predict's ambient expectation in the kube target's terms.
func expectAmbient(b *fixtures.Bundle, ips map[string]string) (kube.AmbientWant, error) {
	e, err := predict.ExpectedAmbient(b, ips)
	return kube.AmbientWant{
		WaypointDump: e.Waypoint, WaypointName: e.WaypointName, Inspect: predict.WaypointInspection,
		ServiceNamespace: e.ServiceNamespace, ServiceHostname: e.ServiceHostname, ServiceWaypoint: e.ServiceWaypoint,
		ColliderNamespace: e.ColliderNamespace, ColliderHostname: e.ColliderHostname, ColliderWaypoint: e.ColliderWaypoint,
	}, err
}
