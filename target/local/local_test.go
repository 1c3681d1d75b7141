package local

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/target"
	"github.com/firstbyte/firstbyte/target/local/dataplane"
	"github.com/firstbyte/firstbyte/target/local/netlab"
)

var (
	_ target.Target  = (*Local)(nil)
	_ target.Skipper = (*Local)(nil)
)

// One scenario of each kind of outcome and mechanism, driven through the
// Target contract as the suite drives it; the whole catalogue runs in the
// e2e suite.
func TestLocalTargetOutcomes(t *testing.T) {
	if err := netlab.CheckPrivileges(); err != nil {
		t.Skip(err)
	}
	l := New()
	ctx := context.Background()
	if err := l.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	defer l.Teardown(ctx)
	// Each scenario with the listener the emulator must have used for the
	// probe's connection ("" = not captured: no connection reaches it).
	cases := map[string]string{
		"mysql-10000-http":                            "0.0.0.0_10000",     // the hang
		"mysql-10000-no-collider":                     "virtualOutbound",   // passthrough
		"smtp-10000-http-serviceentry-tcp":            "198.18.0.10_10000", // IP listener, tcp_proxy
		"mysql-10000-http-protocol-detection-timeout": "0.0.0.0_10000",     // late connect
		"mysql-10000-no-collider-registry-only":       "virtualOutbound",   // BlackHoleCluster
		"mongo-10000-http":                            "0.0.0.0_10000",     // client-first control
		"mysql-mesh-10000-db":                         "198.18.0.20_10000", // the server's own port sniffs
		"smtp-25-http-exclude-ports":                  "",                  // not captured
		"mysql-10000-http-port-separation":            "virtualOutbound",   // collider moved
	}
	const budget = time.Second
	var wg sync.WaitGroup
	for id, listener := range cases {
		s, ok := scenarios.Lookup(scenarios.Catalogue(), id)
		if !ok {
			t.Fatalf("no scenario %s", id)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			top, _ := l.Topology(ctx)
			b, err := fixtures.Render(s, top)
			if err != nil {
				t.Error(err)
				return
			}
			defer l.Release(ctx, b)
			if err := l.Deploy(ctx, b); err != nil {
				t.Errorf("%s: deploy: %v", id, err)
				return
			}
			if err := l.Remediate(ctx, b); err != nil {
				t.Errorf("%s: remediate: %v", id, err)
				return
			}
			obs, err := l.Probe(ctx, b, s.Expect.Budget(budget))
			if err != nil {
				t.Errorf("%s: probe: %v", id, err)
				return
			}
			if ok, why := s.Expect.Match(obs.Outcome, obs.Timings.FirstByte); !ok {
				t.Errorf("%s: %s (%s)", id, why, obs.Detail)
			}
			r, _ := l.run(b)
			recs := waitRecords(r, listener != "")
			t.Logf("%s: %s first byte %s; emulator: %v", id, obs.Outcome, obs.Timings.FirstByte, recs)
			switch {
			case listener == "" && len(recs) != 0:
				t.Errorf("%s: excluded from capture, but the emulator saw %v", id, recs)
			case listener != "" && (len(recs) == 0 || recs[0].Listener != listener):
				t.Errorf("%s: want the probe's connection on listener %s, emulator saw %v", id, listener, recs)
			}
			ctl, err := l.Control(ctx, b, budget)
			if err != nil || ctl.Outcome != scenarios.Connected {
				t.Errorf("%s: control probe %s %v (%s)", id, ctl.Outcome, err, ctl.Detail)
			}
			if err := l.ColliderHTTP(ctx, b); err != nil {
				t.Errorf("%s: %v", id, err)
			}
			if err := l.Evidence(ctx, b, t.TempDir()); err != nil {
				t.Errorf("%s: evidence: %v", id, err)
			}
			if err := l.Revert(ctx, b); err != nil {
				t.Errorf("%s: revert: %v", id, err)
			}
		}()
	}
	wg.Wait()
}

// waitRecords returns the emulator's connection records. A held connection
// is recorded once the client gives up, a moment after the probe's
// verdict, so it waits for one when one is expected (and briefly, to catch
// a stray one, when none is).
func waitRecords(r *scenarioRun, expected bool) []dataplane.ConnRecord {
	wait := 100 * time.Millisecond
	if expected {
		wait = 2 * time.Second
	}
	for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
		r.mu.Lock()
		recs := append([]dataplane.ConnRecord(nil), r.records...)
		r.mu.Unlock()
		if len(recs) > 0 || time.Now().After(deadline) {
			return recs
		}
	}
}
