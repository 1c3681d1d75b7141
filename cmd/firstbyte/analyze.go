package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"time"

	"github.com/firstbyte/firstbyte/analyze"
	"github.com/firstbyte/firstbyte/envoy"
	"github.com/firstbyte/firstbyte/istioline"
	"github.com/spf13/pflag"
)

const analyzeUsage = `firstbyte analyze: find server-first hazards in a mesh before they bite

  firstbyte analyze -f FILE|DIR [-f ...]   mesh YAML (kubectl get svc,serviceentries,sidecars,destinationrules,
                                           peerauthentications,authorizationpolicies,namespaces,deployments -A -o yaml,
                                           plus the istio ConfigMap)
  firstbyte analyze --cluster              the cluster KUBECONFIG points at (read-only)
  firstbyte analyze --config-dump FILE     one sidecar's istioctl proxy-config all -o json or /config_dump
  firstbyte analyze -f NEW --baseline OLD  the change gate: OLD is mesh YAML (file or folder) or an
                                           earlier run's -o json report; findings are new, fixed or unchanged
  firstbyte analyze -f MESH --istio-line 1.30 --istio-line 1.31
                                           the upgrade gate: the same mesh on each Istio line (bin/firstbyte-<line>,
                                           built and cached), findings diffed from each line to the next

Exit codes: 0 no hazard meets a server-first destination, 1 one does, 2 bad input, 3 analyze failed.
With --baseline or --istio-line: 1 only when a new hazard meets a server-first destination.

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
	baseline := fs.String("baseline", "", "the change gate: mesh YAML (file or folder) or an earlier -o json report to compare against")
	lines := fs.StringArray("istio-line", nil, "the upgrade gate: an Istio line (1.30, 1.31, master; repeat, oldest first)")
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
	if len(*lines) > 0 {
		if len(*lines) < 2 || *baseline != "" || *emit != "" || len(*files) == 0 {
			return bad("--istio-line: give two or more lines (oldest first) and the mesh with -f, without --baseline or --emit-scenarios")
		}
		return upgradeGate(*lines, lineArgs(args), *output, stdout, stderr)
	}
	opt := analyze.Options{ServerFirst: *serverFirst, ServerFirstPorts: *ports, DetectionTimeout: *timeout, SkipRemediations: !*checkRem}

	var reports []*analyze.Report
	if len(*dumps) > 0 {
		if *baseline != "" {
			return bad("--baseline needs the mesh's objects (-f or --cluster): a config dump is one sidecar's state")
		}
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
		if code := finish(m, "", stderr); code != 0 {
			return code
		}
		if *baseline != "" {
			if *emit != "" {
				return bad("--emit-scenarios and --baseline: emit scenarios from a plain run (without --baseline)")
			}
			c, code := changeGate(*baseline, m, opt, stderr)
			if code != 0 {
				return code
			}
			c.Head.Notes = append(notes, c.Head.Notes...)
			return writeChange(c, *output, stdout, stderr)
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
		if err := writeReport(r, *output, stdout); err != nil {
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

// finish reports a loaded mesh's invalid objects and completes it; label
// names the input in errors ("" for the mesh under analysis).
func finish(m *analyze.Mesh, label string, stderr io.Writer) int {
	if len(m.Invalid) > 0 {
		for _, e := range m.Invalid {
			fmt.Fprintf(stderr, "%v\n", e)
		}
		fmt.Fprintf(stderr, "firstbyte analyze: %s%d invalid object(s): fix them, or leave them out of the input\n", label, len(m.Invalid))
		return 2
	}
	if err := m.Finish(); err != nil {
		fmt.Fprintf(stderr, "firstbyte analyze: %s%v\n", label, err)
		return 2
	}
	return 0
}

// changeGate runs the change gate of the analysed mesh against the baseline:
// an earlier run's JSON report, or mesh YAML.
func changeGate(baseline string, head *analyze.Mesh, opt analyze.Options, stderr io.Writer) (*analyze.Change, int) {
	r, isReport, err := analyze.ReadReport(baseline)
	if err != nil {
		fmt.Fprintf(stderr, "firstbyte analyze: %v\n", err)
		return nil, 2
	}
	var c *analyze.Change
	if isReport {
		c, err = analyze.GateReport(r, head, opt)
	} else {
		base, lerr := analyze.Load([]string{baseline})
		if lerr != nil {
			fmt.Fprintf(stderr, "firstbyte analyze: --baseline: %v\n", lerr)
			return nil, 2
		}
		if code := finish(base, "--baseline "+baseline+": ", stderr); code != 0 {
			return nil, code
		}
		c, err = analyze.Gate(base, head, opt)
	}
	if code := failed(stderr, err); code != 0 {
		return nil, code
	}
	return c, 0
}

// writeChange writes the change gate's answer; its exit code is 1 when a
// new hazard meets a server-first destination.
func writeChange(c *analyze.Change, output string, stdout, stderr io.Writer) int {
	if err := writeReport(c, output, stdout); err != nil {
		fmt.Fprintf(stderr, "firstbyte analyze: writing the report: %v\n", err)
		return 3
	}
	if c.Fails() {
		return 1
	}
	return 0
}

// lineArgs are the analyze arguments each line's binary gets: the
// user's, without --istio-line and -o (each line writes -o json).
func lineArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--istio-line" || a == "-o" || a == "--output":
			i++
		case strings.HasPrefix(a, "--istio-line=") || strings.HasPrefix(a, "-o=") || strings.HasPrefix(a, "--output=") || (strings.HasPrefix(a, "-o") && len(a) > 2):
		default:
			out = append(out, a)
		}
	}
	return append(out, "-o", "json")
}

// upgradeGate analyses the mesh with each line's firstbyte (built and
// cached by istioline, progress on stderr) and diffs the findings from
// each line to the next as the change gate does: exit 1 when a later
// line adds a hazard that meets a server-first destination.
func upgradeGate(names, args []string, output string, stdout, stderr io.Writer) int {
	ctx := context.Background()
	root, err := istioline.FindRoot(".")
	if err != nil {
		fmt.Fprintf(stderr, "firstbyte analyze: --istio-line: %v\n", err)
		return 2
	}
	var reports []*analyze.Report
	var lines []istioline.Line
	for _, name := range names {
		l, err := istioline.Resolve(root, name)
		if err != nil {
			fmt.Fprintf(stderr, "firstbyte analyze: --istio-line: %v\n", err)
			return 2
		}
		bin, err := l.Binary(ctx, root, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "firstbyte analyze: %v\n", err)
			return 3
		}
		fmt.Fprintf(stderr, "%s: analysing with %s\n", l.Name, l.Build.Version())
		var out, errOut bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, append([]string{"analyze"}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err = cmd.Run()
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
			fmt.Fprintf(stderr, "firstbyte analyze: the %s line (%s analyze %s): %v\n%s", l.Name, bin, strings.Join(args, " "), err, errOut.String())
			if exit != nil && exit.ExitCode() == 2 {
				return 2
			}
			return 3
		}
		r := &analyze.Report{}
		if err := json.Unmarshal(out.Bytes(), r); err != nil {
			fmt.Fprintf(stderr, "firstbyte analyze: reading the %s line's report: %v\n", l.Name, err)
			return 3
		}
		reports, lines = append(reports, r), append(lines, l)
	}
	code := 0
	for i := 1; i < len(reports); i++ {
		c := analyze.Compare(reports[i-1], reports[i], nil)
		c.Method = fmt.Sprintf("Istio line %s (%s) → %s (%s)", lines[i-1].Name, lines[i-1].Build.Version(), lines[i].Name, lines[i].Build.Version())
		if rc := writeChange(c, output, stdout, stderr); rc > code {
			code = rc
		}
	}
	return code
}

// analyzeOutput is what analyze writes: one mesh's report, or a change.
type analyzeOutput interface {
	WriteJSON(io.Writer) error
	WriteMarkdown(io.Writer) error
	WriteTable(io.Writer) error
}

// writeReport writes r in the -o format.
func writeReport(r analyzeOutput, output string, w io.Writer) error {
	switch output {
	case "json":
		return r.WriteJSON(w)
	case "markdown":
		return r.WriteMarkdown(w)
	}
	return r.WriteTable(w)
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
