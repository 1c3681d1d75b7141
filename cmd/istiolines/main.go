// Command istiolines lists, resolves and builds the Istio lines of this
// checkout (package istioline) for the scripts of hack/:
//
//	istiolines list            one line per Istio line: name, go.mod, Istio version (main first)
//	istiolines resolve NAME... the line name each user name means (1.30 → release-1.30)
//	istiolines build NAME      build (or reuse) bin/firstbyte-<line>, print its path; progress on stderr
//
// Exit codes: 0 done, 1 the build failed, 2 bad input (an unknown or
// ambiguous line name: the error lists the choices).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/firstbyte/firstbyte/istioline"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	root, err := istioline.FindRoot(".")
	if err != nil {
		fmt.Fprintln(stderr, "istiolines:", err)
		return 2
	}
	if len(args) == 0 {
		fmt.Fprintln(stderr, "istiolines: want list, resolve NAME... or build NAME")
		return 2
	}
	switch cmd, names := args[0], args[1:]; {
	case cmd == "list" && len(names) == 0:
		lines, err := istioline.All(root)
		if err != nil {
			fmt.Fprintln(stderr, "istiolines:", err)
			return 2
		}
		for _, l := range lines {
			fmt.Fprintf(stdout, "%s\t%s\t%s\n", l.Name, l.ModFile, l.Build.Version())
		}
	case cmd == "resolve" && len(names) > 0:
		for _, n := range names {
			l, err := istioline.Resolve(root, n)
			if err != nil {
				fmt.Fprintln(stderr, "istiolines:", err)
				return 2
			}
			fmt.Fprintln(stdout, l.Name)
		}
	case cmd == "build" && len(names) == 1:
		l, err := istioline.Resolve(root, names[0])
		if err != nil {
			fmt.Fprintln(stderr, "istiolines:", err)
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		bin, err := l.Binary(ctx, root, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "istiolines:", err)
			return 1
		}
		fmt.Fprintln(stdout, bin)
	default:
		fmt.Fprintf(stderr, "istiolines: %q: want list, resolve NAME... or build NAME\n", args)
		return 2
	}
	return 0
}
