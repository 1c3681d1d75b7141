package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/firstbyte/firstbyte/report"
	"github.com/firstbyte/firstbyte/scenarios"
)

// Table runs a list of scenarios outside Ginkgo (firstbyte predict, and
// any caller that wants rows without a test binary): the target's set-up,
// every scenario through Run with up to workers at once, and the
// target's tear-down, which runs also when set-up or ctx fails. The
// report holds the rows in the list's order; the caller writes it. The
// Ginkgo suite (e2e/) drives the same Run per table entry instead.
func (r *Runner) Table(ctx context.Context, list []scenarios.Scenario, workers int) (rep *report.Report, err error) {
	start := time.Now()
	rep = &report.Report{Target: r.Target.Name(), Started: start, ExtraColumns: Columns}
	defer func() {
		// Tear-down gets its own deadline: ctx may be the reason we stop.
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Minute)
		defer cancel()
		if terr := r.Target.Teardown(tctx); terr != nil {
			err = errors.Join(err, fmt.Errorf("tear-down of %s: %w", r.Target.Name(), terr))
		}
	}()
	if err := r.Target.Setup(ctx); err != nil {
		return rep, fmt.Errorf("set-up of %s: %w", r.Target.Name(), err)
	}
	rep.Istio = r.Target.IstioVersion()
	rep.Rows = r.Rows(ctx, list, workers)
	rep.Duration = time.Since(start)
	return rep, ctx.Err()
}

// Rows runs every scenario through Run, up to workers at once, on a target
// that is already set up, and returns the rows in the list's order. A
// scenario not started before ctx ended is a skip that says why.
func (r *Runner) Rows(ctx context.Context, list []scenarios.Scenario, workers int) []report.Row {
	rows := make([]report.Row, len(list))
	sem := make(chan struct{}, max(workers, 1))
	var wg sync.WaitGroup
	for i, s := range list {
		if ctx.Err() != nil {
			rows[i] = report.NewRow(s)
			rows[i].Verdict, rows[i].Reason = report.Skip, "not run: "+context.Cause(ctx).Error()
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			rows[i] = r.Run(ctx, s)
		}()
	}
	wg.Wait()
	return rows
}
