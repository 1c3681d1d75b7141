package runner

import (
	"flag"
	"fmt"
	ginkgotypes "github.com/onsi/ginkgo/v2/types"
	"path/filepath"
	"time"

	"github.com/firstbyte/firstbyte/istioline"
	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/probe"
)

// Options configure a suite run. Flags override the environment.
type Options struct {
	// Target is a registered target: kind, cluster or local (Targets).
	Target string
	// Scenarios is a scenario file run instead of the catalogue
	// (WithCatalogue runs both).
	Scenarios     string
	WithCatalogue bool
	// Artifacts is the reports root: reports go to <Artifacts>/<target>.
	Artifacts string
	// DryRun prints the plan and touches nothing.
	DryRun bool
	// Budget is the base first-byte budget (Expectation.Budget widens it
	// for late connects).
	Budget time.Duration
	// RepoRoot is the repository root (found from the working directory);
	// empty outside a checkout, where relative paths are the working
	// directory's.
	RepoRoot string
	// Servers is embedded (the agent's Go servers, the default) or
	// upstream (real upstream servers: pinned images on kind and cluster,
	// Debian's MariaDB and Exim on local).
	Servers string
}

// OptionsFromEnv reads FIRSTBYTE_TARGET, SCENARIOS, ARTIFACTS, DRY_RUN and
// FIRSTBYTE_BUDGET.
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	// Outside a checkout (an installed firstbyte) paths are the working
	// directory's; the kind and cluster targets, which need hack/, say so.
	root, _ := RepoRoot()
	o := Options{
		Target:    getenv("FIRSTBYTE_TARGET"),
		Scenarios: getenv("SCENARIOS"),
		Artifacts: getenv("ARTIFACTS"),
		DryRun:    getenv("DRY_RUN") == "1" || getenv("DRY_RUN") == "true",
		Budget:    probe.DefaultBudget,
		RepoRoot:  root,
		Servers:   getenv("SERVERS"),
	}
	if o.Servers == "" {
		o.Servers = "embedded"
	}
	if v := getenv("FIRSTBYTE_BUDGET"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return o, fmt.Errorf("FIRSTBYTE_BUDGET=%q: want a positive Go duration such as 1s", v)
		}
		o.Budget = d
	}
	if o.Artifacts == "" {
		o.Artifacts = filepath.Join(root, "artifacts")
	}
	return o, nil
}

// RegisterFlags binds the options to flags of the test binary.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Target, "target", o.Target, "where to run: kind, cluster (env FIRSTBYTE_TARGET); unset skips the suite")
	fs.StringVar(&o.Scenarios, "scenarios", o.Scenarios, "a scenario file to run instead of the catalogue (env SCENARIOS; relative paths are from the repository root)")
	fs.BoolVar(&o.WithCatalogue, "with-catalogue", o.WithCatalogue, "with -scenarios: run the catalogue as well")
	fs.StringVar(&o.Artifacts, "artifacts", o.Artifacts, "reports root: reports go to <artifacts>/<target> (env ARTIFACTS)")
	fs.BoolVar(&o.DryRun, "dry-run", o.DryRun, "print the plan and touch nothing (env DRY_RUN=1)")
	fs.DurationVar(&o.Budget, "budget", o.Budget, "base first-byte budget of a probe (env FIRSTBYTE_BUDGET)")
	fs.StringVar(&o.Servers, "servers", o.Servers, "embedded (the agent's Go servers) or upstream (real upstream servers) (env SERVERS)")
}

// CheckServers rejects a SERVERS value other than embedded or upstream
// (empty means embedded).
func (o Options) CheckServers() error {
	if o.Servers != "" && o.Servers != "embedded" && o.Servers != "upstream" {
		return fmt.Errorf("SERVERS=%q (or -servers): want embedded (the Go servers, the default) or upstream (real upstream servers)", o.Servers)
	}
	return nil
}

// ReportDir is where the run's reports go.
func (o Options) ReportDir() string { return filepath.Join(o.Artifacts, o.Target) }

// EvidenceDir is a failed scenario's evidence folder.
func (o Options) EvidenceDir(id string) string { return filepath.Join(o.ReportDir(), "evidence", id) }

// Selected returns the scenarios to run: the catalogue, the scenario file,
// or both.
func (o Options) Selected() ([]scenarios.Scenario, string, error) {
	if o.Scenarios == "" {
		return scenarios.Catalogue(), scenarios.CatalogueFile, nil
	}
	path := o.Scenarios
	if !filepath.IsAbs(path) {
		path = filepath.Join(o.RepoRoot, path)
	}
	user, err := scenarios.LoadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("-scenarios=%s:\n%w", o.Scenarios, err)
	}
	if !o.WithCatalogue {
		return user, o.Scenarios, nil
	}
	all := append(scenarios.Catalogue(), user...)
	if err := scenarios.CheckUnique(all); err != nil {
		return nil, "", err
	}
	return all, scenarios.CatalogueFile + " + " + o.Scenarios, nil
}

// RepoRoot finds the firstbyte checkout the working directory is in
// (istioline.FindRoot: the nearest go.mod above it that is firstbyte's),
// so an installed firstbyte run inside another Go module is outside a
// checkout, as OptionsFromEnv expects.
func RepoRoot() (string, error) {
	return istioline.FindRoot(".")
}

// FilterByLabels applies a Ginkgo label filter (LABELS) to scenarios, as
// the suite does: the plan and the CLI select with it too.
func FilterByLabels(list []scenarios.Scenario, filter string) ([]scenarios.Scenario, error) {
	if filter == "" {
		return list, nil
	}
	match, err := ginkgotypes.ParseLabelFilter(filter)
	if err != nil {
		return nil, fmt.Errorf("label filter %q: %w", filter, err)
	}
	var out []scenarios.Scenario
	for _, s := range list {
		if match(s.Labels()) {
			out = append(out, s)
		}
	}
	return out, nil
}
