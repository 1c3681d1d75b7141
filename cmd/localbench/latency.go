package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/probe"
	"github.com/firstbyte/firstbyte/targets/local"
)

// latencyScenarios are the paths whose added latency is measured: the
// emulated client sidecar's passthrough (virtualOutbound), its tcp_proxy
// to a Service's endpoint, and both emulated sidecars relaying (inbound
// family). Each is a prompt connect.
var latencyScenarios = []string{
	"mysql-10000-no-collider",
	"mysql-mesh-3306-db",
	"mysql-inbound-tcp-pa-disable-dr-disable",
}

// measureLatency probes each scenario's server n times through the
// emulated sidecars (the probe's path) and n times directly (the control
// path: the control host, or inside the server pod), alternating, and
// prints the first-byte latency of both and the difference of their
// percentiles: what the emulator adds.
func measureLatency(ctx context.Context, tg *local.Local, n int, budget time.Duration) error {
	top, _ := tg.Topology(ctx, scenarios.Scenario{})
	fmt.Printf("%-42s %-9s %5s %9s %9s %9s\n", "scenario", "path", "n", "p50", "p99", "max")
	for _, id := range latencyScenarios {
		s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
		if !ok {
			return fmt.Errorf("latency scenario %s is not in the catalogue", id)
		}
		b, err := fixtures.Render(s, top)
		if err != nil {
			return err
		}
		if err := tg.Deploy(ctx, b); err != nil {
			return err
		}
		var emulated, direct []time.Duration
		for i := 0; i < n && ctx.Err() == nil; i++ {
			for _, path := range []struct {
				run func(context.Context, *fixtures.Bundle, time.Duration) (probe.Observation, error)
				out *[]time.Duration
			}{{tg.Probe, &emulated}, {tg.Control, &direct}} {
				obs, err := path.run(ctx, b, budget)
				if err != nil || obs.Outcome != scenarios.Connected {
					tg.Release(ctx, b)
					return fmt.Errorf("%s: probe %d: %s %v (%s)", id, i, obs.Outcome, err, obs.Detail)
				}
				*path.out = append(*path.out, obs.Timings.FirstByte)
			}
		}
		if err := tg.Release(ctx, b); err != nil {
			return err
		}
		e, d := percentiles(emulated), percentiles(direct)
		fmt.Printf("%-42s %-9s %5d %9s %9s %9s\n", id, "emulated", len(emulated), ms(e[0]), ms(e[1]), ms(e[2]))
		fmt.Printf("%-42s %-9s %5d %9s %9s %9s\n", "", "direct", len(direct), ms(d[0]), ms(d[1]), ms(d[2]))
		fmt.Printf("%-42s %-9s %5s %9s %9s %9s\n", "", "added", "", ms(e[0]-d[0]), ms(e[1]-d[1]), ms(e[2]-d[2]))
	}
	return nil
}

// percentiles returns p50, p99 and max (nearest rank).
func percentiles(ds []time.Duration) [3]time.Duration {
	if len(ds) == 0 {
		return [3]time.Duration{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return [3]time.Duration{rank(0.50), rank(0.99), s[len(s)-1]}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
