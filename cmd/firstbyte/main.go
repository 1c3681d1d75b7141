// Command firstbyte is the suite's command line; it needs no checkout
// (go install github.com/firstbyte/firstbyte/cmd/firstbyte@latest):
//
//	firstbyte predict [FILE] [-l LABELS] [--with-catalogue]   the table, decided by Istio's generator
//	firstbyte explain ID [-f FILE]                            one scenario's decisions, step by step
//	firstbyte analyze -f mesh.yaml [-f more/] [--server-first host:port]... [-o table|markdown|json] [--emit-scenarios FILE]
//	firstbyte analyze --cluster              (KUBECONFIG; read-only: list only)
//	firstbyte analyze --config-dump dump.json
//	firstbyte gate --from 1.30 --to 1.31 [FILE]              what an Istio upgrade changes (gate.go)
//
// predict runs the predict target through the same runner (package
// runner) as make e2e; its table and reports are the other targets'.
// Exit codes: 0 every row as expected (analyze: no hazard meets a
// server-first destination), 1 a row differs (analyze: one does; the CI
// gate), 2 bad input, 3 firstbyte itself failed.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
)

// subcommands maps a subcommand to its function; each gets the
// arguments after its name.
var subcommands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"analyze": runAnalyze,
	"predict": runPredict,
	"explain": runExplain,
	"gate":    runGate,
}

func main() {
	// FIRSTBYTE_CPUPROFILE=file writes a CPU profile (for the benchmark).
	if p := os.Getenv("FIRSTBYTE_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			_ = pprof.StartCPUProfile(f)
			code := run(os.Args[1:], os.Stdout, os.Stderr)
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(code)
		}
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) == 0 {
		fmt.Fprintf(stderr, "firstbyte: want a subcommand: %s (firstbyte SUBCOMMAND --help)\n", strings.Join(names, ", "))
		return 2
	}
	sub, ok := subcommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "firstbyte: unknown subcommand %q: want one of %s (firstbyte SUBCOMMAND --help)\n", args[0], strings.Join(names, ", "))
		return 2
	}
	return sub(args[1:], stdout, stderr)
}
