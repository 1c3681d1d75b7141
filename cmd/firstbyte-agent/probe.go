package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/probe"
)

func runProbe(ctx context.Context, args []string, stdout, _ io.Writer) error {
	var names []string
	for _, p := range scenarios.Protocols() {
		names = append(names, string(p))
	}
	proto, args, err := splitProtocol("probe", args, names)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("probe "+proto, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "", "server address as host:port (required)")
	budget := fs.Duration("budget", probe.DefaultBudget, "longest wait for the first server byte after the TCP connect")
	exchange := fs.Duration("exchange", probe.DefaultExchange, "limit for the rest of the exchange after the first server byte")
	messageID := fs.String("message-id", "", "smtp only: the Message-ID to send, e.g. <run-1@firstbyte.test>; default a fresh one")
	confirmURL := fs.String("confirm-url", "", "smtp only: the server agent's /messages URL, to confirm delivery on the server")
	user := fs.String("user", "", "mysql, mongo: log in as this user (upstream servers); default the embedded server's")
	// The kind and cluster targets pass the per-run random password by
	// exec: an exec's argv is stored in no cluster object.
	password := fs.String("password", "", "mysql, mongo: --user's password")
	if err := fs.Parse(args); err != nil {
		return usagef("probe %s: %v", proto, err)
	}
	if fs.NArg() > 0 {
		return usagef("probe %s: unexpected argument %q: flags only after the protocol", proto, fs.Arg(0))
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return usagef("probe %s: --addr %q is not host:port: pass the server like --addr 10.0.0.5:%d", proto, *addr, scenarios.Protocol(proto).WellKnownPort())
	}
	if *budget <= 0 {
		return usagef("probe %s: --budget %s must be positive, e.g. --budget 1s", proto, *budget)
	}
	if *exchange <= 0 {
		return usagef("probe %s: --exchange %s must be positive, e.g. --exchange 5s", proto, *exchange)
	}
	cfg := probe.Config{Protocol: scenarios.Protocol(proto), Addr: *addr, Budget: *budget, Exchange: *exchange, MessageID: *messageID}
	if *user != "" {
		if proto == string(scenarios.SMTP) {
			return usagef("probe smtp: --user applies to mysql and mongo only: drop it")
		}
		cfg.User, cfg.Password = *user, *password
	}
	if *messageID != "" && proto != string(scenarios.SMTP) {
		return usagef("probe %s: --message-id applies to smtp only: drop it", proto)
	}
	if *confirmURL != "" {
		if proto != string(scenarios.SMTP) {
			return usagef("probe %s: --confirm-url applies to smtp only: drop it", proto)
		}
		if u, err := url.Parse(*confirmURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("probe smtp: --confirm-url %q is not an http URL: pass the server agent's status endpoint, e.g. --confirm-url http://smtp-server:8081/messages", *confirmURL)
		}
		cfg.ConfirmSMTP = probe.ConfirmSMTPViaHTTP(*confirmURL, &http.Client{Timeout: *exchange})
	}

	obs := probe.Run(ctx, cfg)
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false) // keep Message-IDs' angle brackets readable
	if err := enc.Encode(obs); err != nil {
		return fmt.Errorf("write observation: %w", err)
	}
	return nil
}
