package main

import (
	"strings"
	"testing"
	"time"

	"github.com/firstbyte/firstbyte/report"
)

func TestWrite(t *testing.T) {
	a := &report.Report{Target: "kind", Istio: "1.28.4", Rows: []report.Row{
		{ID: "mysql-10000-http", Expected: "hangs", Observed: "hung", Verdict: report.Pass},
		{ID: "mysql-10000-tcp", Expected: "connects", Observed: "connected", FirstByte: 3 * time.Millisecond, Verdict: report.Pass},
	}}
	b := &report.Report{Target: "kind", Istio: "1.30.5", Rows: []report.Row{
		{ID: "mysql-10000-http", Expected: "hangs", Observed: "connected", FirstByte: 2 * time.Millisecond, Verdict: report.Fail},
	}}
	var out strings.Builder
	if err := Write(&out, []*report.Report{a, b}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| scenario | expected | kind Istio 1.28.4 | kind Istio 1.30.5 |",
		"| mysql-10000-http | hangs | pass hung | **FAIL** connected 2ms |",
		"| mysql-10000-tcp | connects | pass connected 3ms | not run |",
		"- kind Istio 1.30.5: 0 passed, 1 failed, 0 skipped",
		"summary: 2 scenarios × 2 Istio versions: 2 cells passed, 1 failed, 0 skipped",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
