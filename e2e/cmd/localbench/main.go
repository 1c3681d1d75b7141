// Command localbench times the local target: the whole catalogue through
// e2e.Runner (the suite's own per-scenario flow), scenarios in parallel,
// repeated -runs times. It prints the wall time and per-phase timings of
// each run and, over all runs, the scenarios whose verdict was not a pass
// every time (flaky or failing). It exits 1 if any run had a failure.
//
//	sudo go run ./e2e/cmd/localbench -runs 20
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/firstbyte/firstbyte/e2e"
	"github.com/firstbyte/firstbyte/report"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/target/local"
)

func main() {
	runs := flag.Int("runs", 1, "how many times to run the whole catalogue")
	parallel := flag.Int("parallel", 24, "scenarios in flight at once")
	budget := flag.Duration("budget", time.Second, "first-byte budget a hang is asserted with")
	artifacts := flag.String("artifacts", os.TempDir()+"/firstbyte-localbench", "failed scenarios' evidence goes to <artifacts>/run-N/local/evidence/<id>/")
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
		rn := &e2e.Runner{Target: tg, Options: e2e.Options{Target: "local", Budget: *budget, Artifacts: fmt.Sprintf("%s/run-%d", *artifacts, i)}}
		var mu sync.Mutex
		phases := map[string]time.Duration{}
		rn.Timed = func(_, phase string, d time.Duration) {
			mu.Lock()
			phases[phase] += d
			mu.Unlock()
		}
		rows, wall := runOnce(ctx, rn, all, *parallel)
		var slowest time.Duration
		pass, fail, skip := 0, 0, 0
		for _, row := range rows {
			slowest = max(slowest, row.Duration)
			if verdicts[row.ID] == nil {
				verdicts[row.ID] = map[report.Verdict]int{}
			}
			verdicts[row.ID][row.Verdict]++
			switch row.Verdict {
			case report.Pass:
				pass++
			case report.Fail:
				fail++
				fmt.Printf("  FAIL %s: %s (first byte %s; %s; evidence %s)\n", row.ID, row.Reason, row.FirstByte, row.Decision, row.Evidence)
			case report.Skip:
				skip++
			}
		}
		if fail > 0 {
			failedRuns++
		}
		var summed []string
		for _, p := range e2e.PhaseNames() {
			summed = append(summed, p+" "+r(phases[p]))
		}
		fmt.Printf("run %2d: wall %6.2fs | %d passed, %d failed, %d skipped | slowest scenario %s | summed phases: %s\n",
			i, wall.Seconds(), pass, fail, skip, slowest.Round(time.Millisecond), strings.Join(summed, ", "))
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

func runOnce(ctx context.Context, rn *e2e.Runner, all []scenarios.Scenario, parallel int) ([]report.Row, time.Duration) {
	start := time.Now()
	results := make([]report.Row, len(all))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, s := range all {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = rn.Run(ctx, s)
		}()
	}
	wg.Wait()
	return results, time.Since(start)
}
