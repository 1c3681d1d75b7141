package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // a server could not start or stopped with an error
	exitUsage   = 2 // bad command line
)

const usage = `usage:
  firstbyte-agent serve <mysql|smtp|mongo|dns|http> [--listen :PORT] [--status :PORT] [--name NAME]
  firstbyte-agent probe <mysql|smtp|mongo|dns> --addr HOST:PORT [--budget 1s] [--exchange 5s] [--confirm-url URL] [--message-id <ID>]
  firstbyte-agent get --url http://HOST:PORT/PATH [--timeout 5s]
`

// usageError is a bad command line; its message names the flag and the fix.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "firstbyte-agent: missing command\n"+usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "probe":
		err = runProbe(ctx, args[1:], stdout, stderr)
	case "get":
		err = runGet(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		err = usagef("unknown command %q: want serve, probe or get", args[0])
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "firstbyte-agent %s\n%s", err, usage)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "firstbyte-agent: %v\n", err)
		return exitFailure
	}
}

// splitProtocol takes the protocol that must follow the command, before the
// flags.
func splitProtocol(cmd string, args []string, valid []string) (string, []string, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return "", nil, usagef("%s: missing protocol: put one of %s right after %q", cmd, strings.Join(valid, ", "), cmd)
	}
	for _, v := range valid {
		if args[0] == v {
			return v, args[1:], nil
		}
	}
	return "", nil, usagef("%s: unknown protocol %q: want one of %s", cmd, args[0], strings.Join(valid, ", "))
}
