package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/firstbyte/firstbyte/analyze"
	"github.com/firstbyte/firstbyte/envoy"
	"github.com/spf13/pflag"
)

const analyzeUsage = `firstbyte analyze: find server-first hazards in a mesh before they bite

  firstbyte analyze -f FILE|DIR [-f ...]   mesh YAML (kubectl get svc,serviceentries,sidecars,destinationrules,
                                           peerauthentications,authorizationpolicies,namespaces,deployments -A -o yaml,
                                           plus the istio ConfigMap)
  firstbyte analyze --cluster              the cluster KUBECONFIG points at (read-only)
  firstbyte analyze --config-dump FILE     one sidecar's istioctl proxy-config all -o json or /config_dump

Exit codes: 0 no hazard meets a server-first destination, 1 one does, 2 bad input, 3 analyze failed.

Flags:
`

// runAnalyze is firstbyte analyze; args start after the subcommand.
func runAnalyze(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("analyze", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	files := fs.StringArrayP("filename", "f", nil, "mesh YAML file or folder (repeatable)")
	cluster := fs.Bool("cluster", false, "read the mesh from the cluster KUBECONFIG points at (list only)")
	dumps := fs.StringArray("config-dump", nil, "a sidecar's config dump (repeatable)")
	serverFirst := fs.StringArray("server-first", nil, "a server-first destination host:port (IP, Service name.namespace or ServiceEntry host; repeatable)")
	ports := fs.IntSlice("server-first-ports", nil, "ports on which every destination is server-first (comma-separated)")
	output := fs.StringP("output", "o", "table", "table, markdown or json")
	emit := fs.String("emit-scenarios", "", "write a scenario file reproducing each finding (make e2e SCENARIOS=FILE)")
	checkRem := fs.Bool("check-remediations", true, "check each finding's remediations with Istio's generator")
	timeout := fs.Duration("detection-timeout", time.Second, "the protocolDetectionTimeout the remediation check tries")
	fs.Usage = func() { fmt.Fprint(stderr, analyzeUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "firstbyte analyze: "+format+"\n", a...)
		return 2
	}
	if *output != "table" && *output != "markdown" && *output != "json" {
		return bad("-o %q: want table, markdown or json", *output)
	}
	sources := 0
	for _, on := range []bool{len(*files) > 0, *cluster, len(*dumps) > 0} {
		if on {
			sources++
		}
	}
	if sources != 1 {
		return bad("give exactly one input: -f FILE|DIR (repeatable), --cluster, or --config-dump FILE")
	}
	opt := analyze.Options{ServerFirst: *serverFirst, ServerFirstPorts: *ports, DetectionTimeout: *timeout, SkipRemediations: !*checkRem}

	var reports []*analyze.Report
	if len(*dumps) > 0 {
		if *emit != "" {
			return bad("--emit-scenarios needs the mesh's objects (-f or --cluster): a config dump holds no Services to turn into scenarios")
		}
		for _, d := range *dumps {
			cfg, err := envoy.ReadConfigDumpFile(d, envoy.Tolerant)
			if err != nil {
				return bad("%v", err)
			}
			r, err := analyze.AnalyzeDump(cfg, opt)
			if code := failed(stderr, err); code != 0 {
				return code
			}
			reports = append(reports, r)
		}
	} else {
		var m *analyze.Mesh
		var notes []string
		var err error
		if *cluster {
			c, name, cerr := analyze.ClusterClient()
			if cerr != nil {
				return bad("%v", cerr)
			}
			m, notes, err = analyze.LoadCluster(context.Background(), c, name)
			if err != nil {
				fmt.Fprintf(stderr, "firstbyte analyze: %v\n", err)
				return 3
			}
		} else if m, err = analyze.Load(*files); err != nil {
			return bad("%v", err)
		}
		if len(m.Invalid) > 0 {
			for _, e := range m.Invalid {
				fmt.Fprintf(stderr, "%v\n", e)
			}
			return bad("%d invalid object(s): fix them, or leave them out of the input", len(m.Invalid))
		}
		if err := m.Finish(); err != nil {
			return bad("%v", err)
		}
		limitAnalyzeMemory()
		r, err := analyze.Analyze(m, opt)
		if code := failed(stderr, err); code != 0 {
			return code
		}
		r.Notes = append(notes, r.Notes...)
		if *emit != "" {
			em, err := analyze.EmitScenarios(r, *emit)
			if err != nil {
				fmt.Fprintf(stderr, "firstbyte analyze: %v\n", err)
				return 3
			}
			r.Notes = append(r.Notes, fmt.Sprintf("wrote %d scenario(s) to %s, each predicted to reproduce its finding (make e2e TARGET=predict SCENARIOS=%s)", em.Written, *emit, *emit))
			for _, s := range em.Skipped {
				r.Notes = append(r.Notes, "not emitted: "+s)
			}
		}
		reports = append(reports, r)
	}
	code := 0
	for _, r := range reports {
		var err error
		switch *output {
		case "json":
			err = r.WriteJSON(stdout)
		case "markdown":
			err = r.WriteMarkdown(stdout)
		default:
			err = r.WriteTable(stdout)
		}
		if err != nil {
			fmt.Fprintf(stderr, "firstbyte analyze: writing the report: %v\n", err)
			return 3
		}
		if r.HitsServerFirst() {
			code = 1
		}
	}
	return code
}

// failed maps an analysis error to its exit code (0 for none).
func failed(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "firstbyte analyze: %v\n", err)
	var b *analyze.BadInput
	if errors.As(err, &b) {
		return 2
	}
	return 3
}

// analyzeMemoryLimit is the soft heap limit of an analysis. A 10,000-
// Service mesh keeps up to about 700 MiB live while Istio's generator
// builds its widest scopes, and Go's default GOGC lets garbage double
// that; near the limit the collector runs more often instead, measured
// (docs/benchmarks.md) at 0.9 GiB peak RSS instead of 1.6 GiB for about
// 10% more CPU. GOMEMLIMIT in the environment overrides it.
const analyzeMemoryLimit = 800 << 20

func limitAnalyzeMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(analyzeMemoryLimit)
	}
}
