package sidecarsync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/envoy/configdump"
)

// Fetch returns the sidecar's current configuration.
type Fetch func(ctx context.Context) (*configdump.Dump, error)

// Unmet checks the conditions against one dump and returns the ones that do
// not hold, each with what the dump shows instead.
func Unmet(d *configdump.Dump, conds []Condition) []string {
	var out []string
	for _, c := range conds {
		if ok, seen := c.Check(d); !ok {
			out = append(out, c.What+": "+seen)
		}
	}
	return out
}

// Wait fetches the configuration every interval until every condition
// holds. It reports what is still missing to progress every reportEvery,
// and when ctx ends returns an error naming the unmet conditions (or the
// last fetch error).
func Wait(ctx context.Context, fetch Fetch, conds []Condition, interval, reportEvery time.Duration, progress func(string)) error {
	start := time.Now()
	lastReport := start
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var unmet []string
	var fetchErr error
	for {
		d, err := fetch(ctx)
		fetchErr = err
		if err == nil {
			unmet = Unmet(d, conds)
			if len(unmet) == 0 {
				return nil
			}
		}
		if progress != nil && time.Since(lastReport) >= reportEvery {
			lastReport = time.Now()
			if err != nil {
				progress(fmt.Sprintf("waiting for the client sidecar (%s): %v", time.Since(start).Round(time.Second), err))
			} else {
				progress(fmt.Sprintf("waiting for the client sidecar (%s): %s", time.Since(start).Round(time.Second), strings.Join(unmet, "; ")))
			}
		}
		select {
		case <-ctx.Done():
			switch {
			case len(unmet) > 0:
				return fmt.Errorf("the client sidecar's config did not show, after %s: %s (check istiod's logs and `istioctl proxy-status`)",
					time.Since(start).Round(time.Second), strings.Join(unmet, "; "))
			case fetchErr != nil && !errors.Is(fetchErr, ctx.Err()):
				return fmt.Errorf("reading the client sidecar's config_dump: %w", fetchErr)
			default:
				return fmt.Errorf("waiting for the client sidecar: %w", ctx.Err())
			}
		case <-ticker.C:
		}
	}
}
