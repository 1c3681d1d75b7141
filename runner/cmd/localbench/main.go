// Command localbench times the local target: the whole catalogue through
// runner.Run (the suite's own per-scenario flow), scenarios in parallel,
// repeated -runs times. It prints the wall time and per-phase timings of
// each run and, over all runs, the scenarios whose verdict was not a pass
// every time (flaky or failing). It exits 1 if any run had a failure.
//
//	sudo go run ./runner/cmd/localbench -runs 20
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/firstbyte/firstbyte/report"
	"github.com/firstbyte/firstbyte/runner"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/target/local"
)

func main() {
	runs := flag.Int("runs", 1, "how many times to run the whole catalogue")
	parallel := flag.Int("parallel", 24, "scenarios in flight at once")
	budget := flag.Duration("budget", runner.DefaultBudget, "first-byte budget a hang is asserted with")
	evidence := flag.String("evidence", "", "folder for failed scenarios' evidence (<folder>/run-N/<id>/); empty saves none")
	flag.Parse()
	if *runs < 1 || *parallel < 1 || *budget <= 0 {
		fmt.Fprintln(os.Stderr, "localbench: -runs, -parallel and -budget must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tg := local.New()
	if err := tg.Setup(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "localbench:", err)
		os.Exit(2)
	}
	defer tg.Teardown(context.Background())

	all := scenarios.Catalogue()
	fmt.Printf("localbench: %d scenarios × %d runs, %d in parallel, budget %s, %s, %d CPUs, %s\n",
		len(all), *runs, *parallel, *budget, runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"))
	verdicts := map[string]map[report.Verdict]int{}
	failedRuns := 0
	for i := 1; i <= *runs && ctx.Err() == nil; i++ {
		opts := runner.Options{Budget: *budget}
		if *evidence != "" {
			opts.Evidence = fmt.Sprintf("%s/run-%d", *evidence, i)
		}
		results, wall := runOnce(ctx, tg, all, *parallel, opts)
		var sum runner.Phases
		var slowest time.Duration
		pass, fail, skip := 0, 0, 0
		for _, r := range results {
			sum.Add(r.Phases)
			slowest = max(slowest, r.Row.Duration)
			if verdicts[r.Row.ID] == nil {
				verdicts[r.Row.ID] = map[report.Verdict]int{}
			}
			verdicts[r.Row.ID][r.Row.Verdict]++
			switch r.Row.Verdict {
			case report.Pass:
				pass++
			case report.Fail:
				fail++
				fmt.Printf("  FAIL %s: %s (connect %s, first byte %s; %s)\n", r.Row.ID, r.Row.Reason,
					r.Observation.Timings.Connect, r.Observation.Timings.FirstByte, r.Row.Decision)
			case report.Skip:
				skip++
			}
		}
		if fail > 0 {
			failedRuns++
		}
		fmt.Printf("run %2d: wall %6.2fs | %d passed, %d failed, %d skipped | slowest scenario %s | summed phases: render %s deploy %s remediate %s probe %s control %s collider %s revert %s release %s\n",
			i, wall.Seconds(), pass, fail, skip, slowest.Round(time.Millisecond),
			r(sum.Render), r(sum.Deploy), r(sum.Remediate), r(sum.Probe), r(sum.Control), r(sum.Collider), r(sum.Revert), r(sum.Release))
	}
	var flaky []string
	for id, v := range verdicts {
		if v[report.Fail] > 0 {
			flaky = append(flaky, fmt.Sprintf("%s (%d pass, %d fail)", id, v[report.Pass], v[report.Fail]))
		}
	}
	sort.Strings(flaky)
	fmt.Printf("scenarios with a non-pass verdict in any run: %d\n", len(flaky))
	for _, f := range flaky {
		fmt.Println("  " + f)
	}
	if failedRuns > 0 {
		os.Exit(1)
	}
}

func r(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }

func runOnce(ctx context.Context, tg *local.Local, all []scenarios.Scenario, parallel int, opts runner.Options) ([]runner.Result, time.Duration) {
	start := time.Now()
	results := make([]runner.Result, len(all))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, s := range all {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = runner.Run(ctx, tg, s, opts)
		}()
	}
	wg.Wait()
	return results, time.Since(start)
}
