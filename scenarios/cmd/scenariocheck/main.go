// Command scenariocheck validates scenario files once, before a target
// starts: it loads each file with the scenario loader and renders every
// scenario it accepts into the fixtures every target uses (decoded
// strictly into the real Kubernetes and Istio types). Each problem is
// printed once, as file:line: field: problem, and the exit status is 2.
//
// make e2e runs it (hack/check-scenarios.sh) before Ginkgo or go test
// start, so a bad file costs seconds, not one error per parallel process.
//
//	go run ./scenarios/cmd/scenariocheck my-bug.yaml
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/firstbyte/firstbyte/fixtures"
	"github.com/firstbyte/firstbyte/scenarios"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: scenariocheck FILE...\n\nValidates scenario files (see the README's scenario-file section) and renders every scenario; exit status 2 on any problem.")
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	bad := false
	for _, path := range flag.Args() {
		if err := check(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			bad = true
		}
	}
	if bad {
		os.Exit(2)
	}
}

// check loads a file and renders what it holds for a topology with every
// address known, as the predict and local targets render.
func check(path string) error {
	list, err := scenarios.LoadFile(path)
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range list {
		if _, err := fixtures.Render(s, fixtures.CheckTopology()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: the scenario does not render: %w", s.Source, s.ID, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Printf("%s: %d scenarios, all valid\n", path, len(list))
	return nil
}
