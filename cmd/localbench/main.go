// Command localbench times the local target: the whole catalogue through
// runner.Runner (the suite's own per-scenario flow), scenarios in parallel,
// repeated -runs times. It prints the wall time and per-phase timings of
// each run and, over all runs, the scenarios whose verdict was not a pass
// every time (flaky or failing), and the smallest margin the timing
// thresholds had. It exits 1 if any run had a failure.
//
// -burners and -load-build load the machine while it runs (make soak);
// -latency N instead measures what the emulated sidecars add to the first
// byte, against the direct path to the same server.
//
//	sudo go run ./cmd/localbench -runs 20
//	sudo go run ./cmd/localbench -runs 50 -burners 2 -load-build   # make soak
//	sudo go run ./cmd/localbench -latency 500 -burners 2
package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/firstbyte/firstbyte/report"
	"github.com/firstbyte/firstbyte/runner"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/targets/local"
)

func main() {
	runs := flag.Int("runs", 1, "how many times to run the whole catalogue")
	// Two scenarios per core: more in flight lets their set-up work
	// (Istio's generator, netns and iptables commands, all in this
	// process) starve the probes' clocks under load; 24 gave dozens of
	// late connects per loaded run, 4 gave 0–1 (docs/benchmarks.md).
	parallel := flag.Int("parallel", 2*runtime.NumCPU(), "scenarios in flight at once")
	budget := flag.Duration("budget", time.Second, "first-byte budget a hang is asserted with")
	artifacts := flag.String("artifacts", os.TempDir()+"/firstbyte-localbench", "failed scenarios' evidence goes to <artifacts>/run-N/local/evidence/<id>/")
	burners := flag.Int("burners", 0, "CPU burner processes to run meanwhile (one per core loads the machine)")
	loadBuild := flag.Bool("load-build", false, "meanwhile, compile the module again and again from an empty private build cache")
	nice := flag.Int("nice", -10, "nice value for the harness's own threads (0 leaves it as is); load processes run at 0")
	latency := flag.Int("latency", 0, "instead of the catalogue: N first-byte probes per path, emulated vs direct, for a few scenarios")
	flag.Parse()
	if *runs < 1 || *parallel < 1 || *budget <= 0 || *burners < 0 || *latency < 0 {
		fmt.Fprintln(os.Stderr, "localbench: -runs, -parallel and -budget must be positive, -burners and -latency not negative")
		os.Exit(2)
	}
	if *nice != 0 {
		if err := raisePriority(*nice); err != nil {
			fmt.Fprintln(os.Stderr, "localbench:", err)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tg := local.New()
	if err := tg.Setup(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "localbench:", err)
		os.Exit(2)
	}
	defer tg.Teardown(context.Background())
	ld, err := startLoad(*burners, *loadBuild)
	if err != nil {
		fmt.Fprintln(os.Stderr, "localbench:", err)
		os.Exit(2)
	}
	defer ld.Stop()
	if *latency > 0 {
		fmt.Printf("localbench: emulator latency, %d probes per path, load: %s, harness nice %d, %s, %d CPUs, %s\n",
			*latency, ld, *nice, runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"))
		if err := measureLatency(ctx, tg, *latency, *budget); err != nil {
			fmt.Fprintln(os.Stderr, "localbench:", err)
			ld.Stop()
			tg.Teardown(context.Background())
			os.Exit(1)
		}
		return
	}

	all := scenarios.Catalogue()
	fmt.Printf("localbench: %d scenarios × %d runs, %d in parallel, budget %s, load: %s, harness nice %d, %s, %d CPUs, %s\n",
		len(all), *runs, *parallel, *budget, ld, *nice, runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"))
	verdicts := map[string]map[report.Verdict]int{}
	margins := map[string]margin{}
	failedRuns := 0
	for i := 1; i <= *runs && ctx.Err() == nil; i++ {
		rn := &runner.Runner{Target: tg, Options: runner.Options{Target: "local", Budget: *budget, Artifacts: fmt.Sprintf("%s/run-%d", *artifacts, i)}}
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
			noteMargin(margins, row)
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
		for _, p := range runner.PhaseNames() {
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
	fmt.Println("smallest margin per timing threshold, over all runs (scenarios/thresholds.go):")
	for _, k := range slices.Sorted(maps.Keys(margins)) {
		m := margins[k]
		fmt.Printf("  %-26s %9s  (%s, %d rows)\n", k, report.FormatMargin(m.min), m.id, m.rows)
	}
	if failedRuns > 0 {
		ld.Stop()
		tg.Teardown(context.Background())
		os.Exit(1)
	}
}

// margin is the smallest margin one timing threshold had, and where.
type margin struct {
	min  time.Duration
	id   string
	rows int
}

// noteMargin records a row's margin under its threshold: the prompt
// limit, the connects-after window, or the hang budget (budget minus the
// control probe's first byte).
func noteMargin(ms map[string]margin, row report.Row) {
	var key string
	var m time.Duration
	switch {
	case row.Observed == string(scenarios.Hung) && row.Extra[runner.ColumnControl] != "":
		ctl, err1 := time.ParseDuration(row.Extra[runner.ColumnControl])
		b, err2 := time.ParseDuration(row.Extra[runner.ColumnBudget])
		if err1 != nil || err2 != nil {
			return
		}
		key, m = "hang budget", b-ctl
	default:
		e, err := scenarios.ParseExpectation(row.Expected)
		if err != nil {
			return
		}
		d, threshold, ok := e.Margin(scenarios.Outcome(row.Observed), row.FirstByte)
		if !ok {
			return
		}
		key, m = strings.Fields(threshold)[0], d
	}
	cur, seen := ms[key]
	if !seen || m < cur.min {
		cur.min, cur.id = m, row.ID
	}
	cur.rows++
	ms[key] = cur
}

func r(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }

func runOnce(ctx context.Context, rn *runner.Runner, all []scenarios.Scenario, parallel int) ([]report.Row, time.Duration) {
	start := time.Now()
	rows := rn.Rows(ctx, all, parallel)
	return rows, time.Since(start)
}
