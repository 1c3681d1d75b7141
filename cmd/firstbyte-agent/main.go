// Command firstbyte-agent is the in-pod agent of the firstbyte suite: it
// serves one protocol (a server-first MySQL or SMTP server, the client-first
// Mongo control, or the collider's HTTP backend) or probes one with a real
// client and prints the verdict.
//
//	firstbyte-agent serve <mysql|smtp|mongo|dns|http> [--listen :PORT] [--status :PORT] [--name NAME]
//	firstbyte-agent probe <mysql|smtp|mongo|dns> --addr HOST:PORT [--budget 1s] [--exchange 5s] [--confirm-url URL]
//
// serve prints one JSON line with the bound addresses once it accepts
// connections, then runs until SIGTERM or SIGINT. The optional status
// endpoint answers /healthz, and for smtp /messages (the delivered messages
// as JSON; ?message-id=<id> filters, 404 when absent).
//
// probe prints the probe.Observation as one JSON line and exits 0 whatever
// the outcome: the outcome is data, not a failure of the agent. Bad flags
// exit 2 with a message naming the flag; a server that cannot start exits 1.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
