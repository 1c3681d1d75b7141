package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/firstbyte/firstbyte/gate"
	"github.com/firstbyte/firstbyte/istioline"
	"github.com/firstbyte/firstbyte/report"
	"github.com/spf13/pflag"
)

const gateUsage = `firstbyte gate: what an Istio upgrade changes for server-first clients (the version gate)

  firstbyte gate --from 1.30 --to 1.31            the catalogue on both lines
  firstbyte gate --from 1.30 --to 1.31 FILE       a scenario file instead
  firstbyte gate --from A.json --to B.json        two predict report.json files, as they are

A line is named as the checkout's Istio lines are (release-1.30 or 1.30, release-1.31
or 1.31 or main, master; see hack/istio): its bin/firstbyte-<line> is built from the
line's go.mod (cached; minutes the first time, with progress on stderr) and predicts
the scenarios with that line's own generator. Prints every row whose outcome differs,
FROM → TO, with the decisive step of each explain trace, as Markdown (appended to
$GITHUB_STEP_SUMMARY when set) or JSON; writes gate.md and gate.json under
--artifacts/gate.
Exit codes: 0 no row that connects on FROM stops connecting on TO, 1 one does,
2 bad input, 3 a build or predict failed.

Flags:
`

// runGate is firstbyte gate: predict on two lines, then package gate.
func runGate(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("gate", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the line upgraded from (1.30, release-1.30, master, main) or a predict report.json")
	to := fs.String("to", "", "the line upgraded to, or a predict report.json")
	labels := fs.StringP("labels", "l", "", "a Ginkgo label filter for the scenarios, as firstbyte predict takes it")
	artifacts := fs.String("artifacts", "artifacts", "reports root: each line's predict reports and gate.md / gate.json go to <artifacts>/gate")
	format := fs.StringP("output", "o", "markdown", "stdout form: markdown or json")
	fs.Usage = func() { fmt.Fprint(stderr, gateUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch {
	case *from == "" || *to == "":
		fmt.Fprintln(stderr, "firstbyte gate: want --from and --to (Istio lines such as 1.30 and 1.31, or report.json files)")
		return 2
	case fs.NArg() > 1:
		fmt.Fprintf(stderr, "firstbyte gate: want at most one scenario file, got %v\n", fs.Args())
		return 2
	case *format != "markdown" && *format != "json":
		fmt.Fprintf(stderr, "firstbyte gate: -o %s: want markdown or json\n", *format)
		return 2
	}
	g := gateRun{artifacts: filepath.Join(*artifacts, "gate"), labels: *labels, progress: stderr}
	if fs.NArg() == 1 {
		abs, err := filepath.Abs(fs.Arg(0))
		if err != nil {
			fmt.Fprintf(stderr, "firstbyte gate: %v\n", err)
			return 2
		}
		g.scenarios = abs
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var sides [2]gate.Side
	for i, name := range []string{*from, *to} {
		s, code, err := g.side(ctx, name)
		if err != nil {
			fmt.Fprintf(stderr, "firstbyte gate: %v\n", err)
			return code
		}
		sides[i] = s
	}
	res := gate.Diff(sides[0], sides[1])
	if err := writeGate(res, g.artifacts); err != nil {
		fmt.Fprintf(stderr, "firstbyte gate: %v\n", err)
		return 3
	}
	write := res.WriteMarkdown
	if *format == "json" {
		write = res.WriteJSON
	}
	if err := write(stdout); err != nil {
		fmt.Fprintf(stderr, "firstbyte gate: %v\n", err)
		return 3
	}
	if err := appendStepSummary(res); err != nil {
		fmt.Fprintf(stderr, "firstbyte gate: %v\n", err)
		return 3
	}
	return res.ExitCode()
}

// gateRun holds what both sides of a gate share.
type gateRun struct {
	artifacts, labels, scenarios string
	progress                     io.Writer
	// root is the checkout, found on the first line name.
	root string
}

// side turns --from / --to into a report: a report.json as it is, or a
// line built and predicted. It returns the exit code for its error.
func (g *gateRun) side(ctx context.Context, name string) (gate.Side, int, error) {
	if strings.HasSuffix(name, ".json") {
		r, err := report.ReadFile(name)
		if err != nil {
			return gate.Side{}, 2, err
		}
		return gate.Side{Line: name, Report: r}, 0, nil
	}
	if g.root == "" {
		root, err := istioline.FindRoot(".")
		if err != nil {
			return gate.Side{}, 2, err
		}
		g.root = root
	}
	l, err := istioline.Resolve(g.root, name)
	if err != nil {
		return gate.Side{}, 2, err
	}
	bin, err := l.Binary(ctx, g.root, g.progress)
	if err != nil {
		return gate.Side{}, 3, err
	}
	r, err := g.predict(ctx, l, bin)
	if err != nil {
		return gate.Side{}, 3, err
	}
	return gate.Side{Line: l.Name, Report: r}, 0, nil
}

// predict runs the line's firstbyte predict into <artifacts>/<line> and
// reads its report. Exit 1 (a row differs from its expect) is no error
// here: the gate compares lines, not expectations.
func (g *gateRun) predict(ctx context.Context, l istioline.Line, bin string) (*report.Report, error) {
	dir, err := filepath.Abs(filepath.Join(g.artifacts, l.Name))
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil { // never read a last run's report
		return nil, fmt.Errorf("clearing %s: %w", dir, err)
	}
	args := []string{"predict", "--artifacts", dir}
	if g.labels != "" {
		args = append(args, "--labels", g.labels)
	}
	if g.scenarios != "" {
		args = append(args, g.scenarios)
	}
	fmt.Fprintf(g.progress, "%s: predicting with %s (%s)\n", l.Name, l.Build.Version(), strings.Join(append([]string{l.BinaryPath()}, args...), " "))
	start := time.Now()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return nil, fmt.Errorf("predicting on the %s line (%s %s): %w\n%s", l.Name, bin, strings.Join(args, " "), err, tail(out.String(), 20))
	}
	if err := os.WriteFile(filepath.Join(dir, "predict.log"), out.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("writing the %s line's predict log: %w", l.Name, err)
	}
	r, err := report.ReadFile(filepath.Join(dir, "predict", report.Files.JSON))
	if err != nil {
		return nil, fmt.Errorf("the %s line's predict wrote no report: %w", l.Name, err)
	}
	fmt.Fprintf(g.progress, "%s: %d rows predicted in %s\n", l.Name, len(r.Rows), time.Since(start).Round(100*time.Millisecond))
	return r, nil
}

// writeGate writes gate.md and gate.json into dir.
func writeGate(res gate.Result, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing the gate's reports: %w", err)
	}
	for name, write := range map[string]func(io.Writer) error{"gate.md": res.WriteMarkdown, "gate.json": res.WriteJSON} {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("writing the gate's reports: %w", err)
		}
	}
	return nil
}

// appendStepSummary adds the Markdown to a GitHub Actions step summary
// when the job has one.
func appendStepSummary(res gate.Result) error {
	path := os.Getenv("GITHUB_STEP_SUMMARY")
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("appending to $GITHUB_STEP_SUMMARY: %w", err)
	}
	if err := res.WriteMarkdown(f); err != nil {
		f.Close()
		return fmt.Errorf("appending to $GITHUB_STEP_SUMMARY: %w", err)
	}
	return f.Close()
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
