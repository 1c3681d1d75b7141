package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/firstbyte/firstbyte/scenarios"
	"github.com/firstbyte/firstbyte/servers/dnsserver"
	"github.com/firstbyte/firstbyte/servers/httpbackend"
	"github.com/firstbyte/firstbyte/servers/mongoserver"
	"github.com/firstbyte/firstbyte/servers/mysqlserver"
	"github.com/firstbyte/firstbyte/servers/smtpserver"
)

// httpProtocol is served but not probed: it is the collider backend, not a
// scenarios.Protocol.
const httpProtocol = "http"

var servable = []string{string(scenarios.MySQL), string(scenarios.SMTP), string(scenarios.Mongo), string(scenarios.DNS), httpProtocol}

// readyLine is printed once the listeners are bound, so a caller that asked
// for port 0 learns the real addresses.
type readyLine struct {
	Event    string `json:"event"`
	Protocol string `json:"protocol"`
	Listen   string `json:"listen"`
	Status   string `json:"status,omitempty"`
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	proto, args, err := splitProtocol("serve", args, servable)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("serve "+proto, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints the usage once, with our message
	listen := fs.String("listen", defaultListen(proto), "address to serve the protocol on")
	status := fs.String("status", "", "address for the HTTP status endpoint (/healthz, /messages for smtp); empty disables it")
	name := fs.String("name", "firstbyte-http", "service name the http backend reports in its replies")
	if err := fs.Parse(args); err != nil {
		return usagef("serve %s: %v", proto, err)
	}
	if fs.NArg() > 0 {
		return usagef("serve %s: unexpected argument %q: flags only after the protocol", proto, fs.Arg(0))
	}
	if *listen == "" {
		return usagef("serve %s: --listen is empty: pass an address such as --listen :%s", proto, defaultListen(proto)[1:])
	}

	logger := slog.New(slog.NewJSONHandler(stderr, nil)).With("protocol", proto)
	var (
		serve    func(context.Context, net.Listener) error
		messages http.Handler
	)
	switch proto {
	case string(scenarios.MySQL):
		srv, err := mysqlserver.New(mysqlserver.WithLogger(logger))
		if err != nil {
			return err
		}
		serve = srv.Serve
	case string(scenarios.SMTP):
		mb := smtpserver.NewMailbox()
		serve = smtpserver.New(mb, smtpserver.WithLogger(logger)).Serve
		messages = mb
	case string(scenarios.Mongo):
		serve = mongoserver.New(mongoserver.WithLogger(logger)).Serve
	case string(scenarios.DNS):
		serve = dnsserver.New(dnsserver.WithLogger(logger)).Serve
	case httpProtocol:
		serve = httpbackend.Backend{Name: *name}.Serve
	}

	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("serve %s: listen on %s: %w", proto, *listen, err)
	}
	ready := readyLine{Event: "serving", Protocol: proto, Listen: l.Addr().String()}
	var statusL net.Listener
	if *status != "" {
		if statusL, err = net.Listen("tcp", *status); err != nil {
			_ = l.Close()
			return fmt.Errorf("serve %s: listen for status on %s: %w", proto, *status, err)
		}
		ready.Status = statusL.Addr().String()
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	running := 1
	go func() { errc <- serve(ctx, l) }()
	if statusL != nil {
		running++
		go func() { errc <- httpbackend.ServeHandler(ctx, statusL, statusHandler(proto, messages)) }()
	}
	if err := json.NewEncoder(stdout).Encode(ready); err != nil {
		cancel()
	}
	logger.Info("serving", "listen", ready.Listen, "status", ready.Status)

	// The first server to stop (shutdown or failure) stops the other.
	var firstErr error
	for range running {
		if err := <-errc; err != nil && firstErr == nil {
			firstErr = err
		}
		cancel()
	}
	logger.Info("stopped", "err", firstErr)
	return firstErr
}

func defaultListen(proto string) string {
	if proto == httpProtocol {
		return ":8080"
	}
	return fmt.Sprintf(":%d", scenarios.Protocol(proto).WellKnownPort())
}

// statusHandler serves /healthz and, when the protocol has one, /messages.
func statusHandler(proto string, messages http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok", "protocol": proto})
	})
	if messages != nil {
		mux.Handle("/messages", messages)
	}
	return mux
}
