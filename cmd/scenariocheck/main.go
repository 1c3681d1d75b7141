// Command scenariocheck validates scenario files once, before a target
// starts: it loads each file with the scenario loader. Each problem is
// printed once, as file:line: field: problem, and the exit status is 2.
//
// It does not render: every scenario the loader accepts renders and
// decodes strictly (fixtures' round-trip property test), and leaving the
// Kubernetes and Istio types out keeps this binary small enough to build
// in seconds on every make e2e.
//
// make e2e runs it (hack/check-scenarios.sh) before Ginkgo or go test
// start, so a bad file costs seconds, not one error per parallel process.
//
//	go run ./cmd/scenariocheck my-bug.yaml
package main

import (
	"flag"
	"fmt"
	"os"

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

// check loads a file with the scenario loader.
func check(path string) error {
	list, err := scenarios.LoadFile(path)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d scenarios, all valid\n", path, len(list))
	return nil
}
