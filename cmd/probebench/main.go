// Command probebench measures how fast and how reliably the probes reach
// their verdicts on loopback. For each protocol it runs -reps probes against
// the real server (expected: connected) and -reps probes against a silent
// acceptor, the stand-in for a sidecar waiting for client bytes (expected:
// hung), and prints per protocol and case: repetitions, false verdicts
// (any verdict other than the expected one), wall-clock time to verdict
// (p50, p95, max) and, for hung, the largest overshoot of the verdict past
// the budget (wall-clock time to verdict minus budget; goal ≤ 50 ms).
//
// Connected probes run one at a time; hung probes, which each wait out the
// budget, run -concurrency at a time. It exits 1 if any verdict was false.
//
//	probebench [-reps 200] [-budget 200ms] [-concurrency 10] [-protocols mysql,smtp,mongo]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/probe"
	"github.com/firstbyte/firstbyte/servers/probe/probetest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	reps        int
	budget      time.Duration
	exchange    time.Duration
	concurrency int
	protocols   []scenarios.Protocol
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("probebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.reps, "reps", 200, "repetitions per protocol and case")
	fs.DurationVar(&o.budget, "budget", 200*time.Millisecond, "probe budget for the first server byte")
	fs.DurationVar(&o.exchange, "exchange", 5*time.Second, "probe limit for the rest of the exchange")
	fs.IntVar(&o.concurrency, "concurrency", 10, "hung probes in flight at once")
	protocols := fs.String("protocols", "mysql,smtp,mongo", "comma-separated protocols to measure")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.reps < 1 {
		return o, fmt.Errorf("-reps %d: must be at least 1", o.reps)
	}
	if o.budget <= 0 || o.exchange <= 0 {
		return o, fmt.Errorf("-budget and -exchange must be positive, e.g. -budget 200ms")
	}
	if o.concurrency < 1 {
		return o, fmt.Errorf("-concurrency %d: must be at least 1", o.concurrency)
	}
	for _, name := range strings.Split(*protocols, ",") {
		p, err := scenarios.ParseProtocol(strings.TrimSpace(name))
		if err != nil {
			return o, fmt.Errorf("-protocols: %w", err)
		}
		o.protocols = append(o.protocols, p)
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "probebench: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "probebench: reps=%d budget=%s concurrency=%d (hung cases) on %s %s/%s, %d CPUs\n\n",
		o.reps, o.budget, o.concurrency, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())

	began := time.Now()
	var results []caseResult
	for _, p := range o.protocols {
		rs, err := measureProtocol(p, o)
		if err != nil {
			fmt.Fprintf(stderr, "probebench: %s: %v\n", p, err)
			return 1
		}
		results = append(results, rs...)
	}
	printTable(stdout, results)
	fmt.Fprintf(stdout, "\ntotal wall time %s\n", time.Since(began).Round(time.Millisecond))

	falseVerdicts := 0
	for _, r := range results {
		falseVerdicts += len(r.falses)
		for i, obs := range r.falses {
			if i == 3 {
				fmt.Fprintf(stderr, "  ... %d more\n", len(r.falses)-3)
				break
			}
			fmt.Fprintf(stderr, "false verdict %s/%s: %s (%s)\n", r.protocol, r.name, obs.Outcome, obs.Detail)
		}
	}
	if falseVerdicts > 0 {
		fmt.Fprintf(stderr, "probebench: %d false verdicts\n", falseVerdicts)
		return 1
	}
	return 0
}

// caseResult is one row of the table.
type caseResult struct {
	protocol scenarios.Protocol
	name     string
	expected scenarios.Outcome
	budget   time.Duration
	verdicts []time.Duration // wall clock from calling probe.Run to its return
	falses   []probe.Observation
}

func measureProtocol(p scenarios.Protocol, o options) ([]caseResult, error) {
	srv, err := probetest.StartServer(p)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	silent, err := probetest.StartSilentAcceptor()
	if err != nil {
		return nil, err
	}
	defer silent.Close()

	real := probe.Config{Protocol: p, Addr: srv.Addr, Budget: o.budget, Exchange: o.exchange}
	if srv.Mailbox != nil {
		real.ConfirmSMTP = func(_ context.Context, id string) error {
			if _, ok := srv.Mailbox.Find(id); !ok {
				return fmt.Errorf("message %s not in the server's mailbox", id)
			}
			return nil
		}
	}
	hung := probe.Config{Protocol: p, Addr: silent.Addr, Budget: o.budget, Exchange: o.exchange}
	return []caseResult{
		measure(p, "real server", scenarios.Connected, real, o.reps, 1),
		measure(p, "silent acceptor", scenarios.Hung, hung, o.reps, o.concurrency),
	}, nil
}

// measure runs reps probes, at most concurrency at a time.
func measure(p scenarios.Protocol, name string, expected scenarios.Outcome, cfg probe.Config, reps, concurrency int) caseResult {
	r := caseResult{protocol: p, name: name, expected: expected, budget: cfg.Budget}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, concurrency)
	)
	for range reps {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			start := time.Now()
			obs := probe.Run(context.Background(), cfg)
			elapsed := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			r.verdicts = append(r.verdicts, elapsed)
			if obs.Outcome != expected {
				r.falses = append(r.falses, obs)
			}
		})
	}
	wg.Wait()
	return r
}

func printTable(w io.Writer, results []caseResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "protocol\tcase\texpected\treps\tfalse\tp50\tp95\tmax\tmax overshoot")
	for _, r := range results {
		d := slices.Clone(r.verdicts)
		slices.Sort(d)
		overshoot := "-"
		if r.expected == scenarios.Hung {
			overshoot = ms(d[len(d)-1] - r.budget)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n",
			r.protocol, r.name, r.expected, len(d), len(r.falses),
			ms(percentile(d, 50)), ms(percentile(d, 95)), ms(d[len(d)-1]), overshoot)
	}
	_ = tw.Flush()
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
