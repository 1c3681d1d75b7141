// Command servercompare compares two runs of the same scenarios with
// different servers (SERVERS=embedded and SERVERS=upstream): it lists every
// scenario whose observed outcome or verdict differs, and prints, per
// protocol and server implementation, the greeting latency the control
// probe saw (the server's first byte on the direct path, no sidecar) and
// the probe's first byte on connected rows.
//
//	go run ./cmd/servercompare artifacts/embedded/local/report.json artifacts/upstream/local/report.json
//
// It exits 1 when a scenario both runs ran has different verdicts.
package main

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/firstbyte/firstbyte/report"
)

// columnControl is the suite's control first-byte column (runner.ColumnControl;
// not imported, to keep this command off the suite's dependencies).
const columnControl = "control first byte"

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: servercompare EMBEDDED/report.json UPSTREAM/report.json")
		os.Exit(2)
	}
	var runs [2]*report.Report
	for i, p := range os.Args[1:] {
		r, err := report.ReadFile(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		runs[i] = r
	}
	byID := map[string]report.Row{}
	for _, row := range runs[1].Rows {
		byID[row.ID] = row
	}
	both, same, diff := 0, 0, 0
	for _, a := range runs[0].Rows {
		b, ok := byID[a.ID]
		if !ok {
			continue
		}
		both++
		if a.Observed == b.Observed && a.Verdict == b.Verdict {
			same++
			continue
		}
		diff++
		fmt.Printf("DIFFERENT %s: %s %s (%s) vs %s %s (%s)\n", a.ID, a.Observed, a.Verdict, a.Server, b.Observed, b.Verdict, b.Server)
	}
	fmt.Printf("scenarios in both runs: %d; same observed outcome and verdict: %d; different: %d\n\n", both, same, diff)

	fmt.Println("| protocol | server | control greeting median | p90 | n | probe first byte median (connected) | n |")
	fmt.Println("|---|---|---|---|---|---|---|")
	type key struct{ proto, server string }
	control, probe := map[key][]time.Duration{}, map[key][]time.Duration{}
	var keys []key
	for _, r := range runs {
		for _, row := range r.Rows {
			if row.Verdict == report.Skip || row.Server == "" {
				continue
			}
			k := key{row.Protocol, row.Server}
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
			if d, err := time.ParseDuration(row.Extra[columnControl]); err == nil && d > 0 {
				control[k] = append(control[k], d)
			}
			if row.Observed == "connected" && row.FirstByte > 0 {
				probe[k] = append(probe[k], row.FirstByte)
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].proto != keys[j].proto {
			return keys[i].proto < keys[j].proto
		}
		return keys[i].server < keys[j].server
	})
	for _, k := range keys {
		c, p := control[k], probe[k]
		fmt.Printf("| %s | %s | %s | %s | %d | %s | %d |\n", k.proto, k.server, report.FormatLatency(quantile(c, 0.5)), report.FormatLatency(quantile(c, 0.9)), len(c), report.FormatLatency(quantile(p, 0.5)), len(p))
	}
	if diff > 0 {
		os.Exit(1)
	}
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}
