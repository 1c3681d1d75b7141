// Command meshgen writes a synthetic mesh for firstbyte analyze:
//
//	go run ./cmd/meshgen -services 2000 -serviceentries 200 -namespaces 50 > mesh.yaml
//	firstbyte analyze -f mesh.yaml --server-first 203.0.113.7:10000
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/firstbyte/firstbyte/analyze/meshgen"
)

func main() {
	var o meshgen.Options
	flag.IntVar(&o.Namespaces, "namespaces", 50, "namespaces")
	flag.IntVar(&o.Services, "services", 2000, "Services (each with a Deployment)")
	flag.IntVar(&o.ServiceEntries, "serviceentries", 200, "ServiceEntries")
	flag.Uint64Var(&o.Seed, "seed", 1, "random seed")
	flag.Parse()
	if o.Namespaces < 1 || o.Services < 8 {
		fmt.Fprintln(os.Stderr, "meshgen: want -namespaces >= 1 and -services >= 8 (service 7 carries the planted collider)")
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	if err := meshgen.Write(w, o); err != nil {
		fmt.Fprintln(os.Stderr, "meshgen:", err)
		os.Exit(1)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "meshgen:", err)
		os.Exit(1)
	}
}
